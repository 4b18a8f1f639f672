// @ts-check
/**
 * The node-kind registry as the server describes it (GET /v1/api/node-kinds):
 * kinds with their JSON Schema, ports and summary fields, and the edge table.
 * Everything the canvas knows about kinds comes from here.
 * @module canvas/registry
 */
"use strict";

import { clone } from "./dom.js";

/**
 * @typedef {{handle: string, direction: "in"|"out", repeat?: string}} PortDoc
 * @typedef {{key: string, label: string, group: string, icon: string,
 *   description: string, ports: PortDoc[], targets: string[],
 *   summaryFields: string[], linkedFields: Record<string,string>,
 *   schema: any}} Kind
 * @typedef {{source: string, targets: string[], sourceHandle: string,
 *   targetHandle: string, effect: string, maxPerSourceHandle: number|null,
 *   maxPerTarget: number|null, dataSchema: any}} EdgeRule
 * @typedef {{handle: string, direction: "in"|"out", label: string}} Port
 * @typedef {{id: string, type: string, position: {x: number, y: number},
 *   data: Record<string, any>}} CanvasNode
 * @typedef {{id: string, source: string, target: string, sourceHandle: string,
 *   targetHandle: string, data?: Record<string, any>}} CanvasEdge
 */

/** Short id prefixes for new nodes, so ids and names read well. */
const ID_PREFIXES = {
  deployment: "deploy",
  statefulset: "sts",
  daemonset: "ds",
  cronjob: "cron",
  service: "svc",
  configmap: "config",
  persistentvolumeclaim: "pvc",
  networkpolicy: "netpol",
  customresource: "custom",
};

export class Registry {
  /** @param {{groups: string[], kinds: Kind[], edges: EdgeRule[]}} described */
  constructor(described) {
    this.groups = described.groups;
    /** @type {Kind[]} */
    this.kinds = described.kinds;
    /** @type {EdgeRule[]} */
    this.edges = described.edges;
    /** @type {Map<string, Kind>} */
    this.byKey = new Map(this.kinds.map((kind) => [kind.key, kind]));
  }

  /**
   * Return the kind registered under key.
   * @param {string} key
   * @returns {Kind|undefined}
   */
  kind(key) {
    return this.byKey.get(key);
  }

  /** @param {string} key */
  label(key) {
    return this.kind(key)?.label ?? key;
  }

  /**
   * Return the rule allowing source → target, or null.
   * @param {string} sourceType
   * @param {string} targetType
   * @returns {EdgeRule|null}
   */
  ruleFor(sourceType, targetType) {
    return (
      this.edges.find((rule) => rule.source === sourceType && rule.targets.includes(targetType)) ??
      null
    );
  }

  /**
   * Return the kinds a source kind may link to.
   * @param {string} sourceType
   * @returns {string[]}
   */
  targetsOf(sourceType) {
    return this.edges.filter((rule) => rule.source === sourceType).flatMap((rule) => rule.targets);
  }

  /**
   * Say why source → target is refused, in the server's words.
   * @param {string} sourceType
   * @param {string} targetType
   */
  refusal(sourceType, targetType) {
    const source = this.label(sourceType);
    const allowed = [...new Set(this.targetsOf(sourceType).map((key) => this.label(key)))];
    const subject = capitalized(withArticle(source));
    let message = allowed.length
      ? `${subject} cannot link to ${withArticle(this.label(targetType))}; it can link to: ${allowed.join(", ")}.`
      : `${subject} has no outgoing links.`;
    if (this.ruleFor(targetType, sourceType)) {
      message += ` Draw it from the ${this.label(targetType)} instead.`;
    }
    return message;
  }

  /**
   * Return the ports of a node, expanding repeated ports (one per path).
   * @param {CanvasNode} node
   * @returns {Port[]}
   */
  portsOf(node) {
    const kind = this.kind(node.type);
    if (!kind) return [];
    /** @type {Port[]} */
    const ports = [];
    for (const doc of kind.ports) {
      if (doc.repeat) {
        const items = Array.isArray(node.data[doc.repeat]) ? node.data[doc.repeat] : [];
        items.forEach((/** @type {any} */ item, /** @type {number} */ index) => {
          const label = typeof item?.path === "string" ? item.path : `${doc.repeat} ${index + 1}`;
          ports.push({ handle: doc.handle.replace("{index}", String(index)), direction: doc.direction, label });
        });
      } else {
        ports.push({ handle: doc.handle, direction: doc.direction, label: doc.handle });
      }
    }
    return ports;
  }

  /**
   * Return the data of a new node of a kind: schema defaults and a name.
   * @param {string} key
   * @param {string} name
   */
  newNodeData(key, name) {
    const kind = this.kind(key);
    const data = kind ? defaultsFor(kind.schema) : {};
    if (kind?.schema?.properties?.name) data.name = name;
    return data;
  }

  /**
   * Return the default data of an edge under a rule.
   * @param {EdgeRule} rule
   */
  newEdgeData(rule) {
    return defaultsFor(rule.dataSchema);
  }

  /**
   * Return a fresh node id for a kind, not used by any of `taken`.
   * @param {string} key
   * @param {Set<string>} taken
   */
  newNodeId(key, taken) {
    const prefix = /** @type {Record<string,string>} */ (ID_PREFIXES)[key] ?? key;
    for (let n = 1; ; n += 1) {
      const id = `${prefix}-${n}`;
      if (!taken.has(id)) return id;
    }
  }
}

/**
 * Return the defaults a JSON Schema object gives, recursively for plain
 * objects; computed (read-only) properties are left out.
 * @param {any} schema
 * @returns {Record<string, any>}
 */
export function defaultsFor(schema) {
  /** @type {Record<string, any>} */
  const data = {};
  for (const [key, prop] of Object.entries(schema?.properties ?? {})) {
    if (prop.readOnly) continue;
    if ("default" in prop) data[key] = clone(prop.default);
    else if (prop.type === "object" && prop.properties) data[key] = defaultsFor(prop);
  }
  return data;
}

/**
 * Fetch the registry from the server.
 * @param {string} url
 * @returns {Promise<Registry>}
 */
export async function loadRegistry(url) {
  const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
  if (!response.ok) throw new Error(`The node kinds could not be loaded (${response.status}).`);
  return new Registry(await response.json());
}

/**
 * Return a label with its indefinite article ("an Ingress").
 * @param {string} label
 */
export function withArticle(label) {
  return `${"aeiou".includes(label.charAt(0).toLowerCase()) ? "an" : "a"} ${label}`;
}

/** @param {string} text */
function capitalized(text) {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
