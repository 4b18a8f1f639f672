// @ts-check
/**
 * The essentials a node card shows, one line per summary field of its kind
 * (the registry's `summaryFields`), computed like the server's summaries.
 * @module canvas/summary
 */
"use strict";

/**
 * @typedef {import("./registry.js").Registry} Registry
 * @typedef {import("./registry.js").CanvasNode} CanvasNode
 */

/** @param {any} list */
const count = (list) => (Array.isArray(list) ? list.length : 0);

/** Summary fields that are derived from the data rather than read from it. */
const DERIVED = {
  /** @param {any} d */ port: (d) => (count(d.ports) ? d.ports[0].port : null),
  /** @param {any} d */ ports: (d) => count(d.ports),
  /** @param {any} d */ claims: (d) => count(d.volumeClaimTemplates),
  /** @param {any} d */ keys: (d) => Object.keys(d.data ?? {}).length,
  /** @param {any} d */ paths: (d) => count(d.paths),
  /** @param {any} d */ tls: (d) => count(d.tls) > 0,
  /** @param {any} d */ cpu: (d) => d.targetCPUUtilization ?? null,
  /** @param {any} d */ rules: (d) => count(d.ingress) + count(d.egress),
};

/** How to show a value, per summary field. */
const SHOW = {
  /** @param {any} v */ replicas: (v) => `${v} replica${v === 1 ? "" : "s"}`,
  /** @param {any} v */ port: (v) => `port ${v}`,
  /** @param {any} v */ ports: (v) => (v > 1 ? `${v} ports` : ""),
  /** @param {any} v */ claims: (v) => (v ? `${v} volume claim${v === 1 ? "" : "s"}` : ""),
  /** @param {any} v */ keys: (v) => `${v} key${v === 1 ? "" : "s"}`,
  /** @param {any} v */ paths: (v) => `${v} path${v === 1 ? "" : "s"}`,
  /** @param {any} v */ tls: (v) => (v ? "TLS" : ""),
  /** @param {any} v */ cpu: (v) => `CPU ${v}%`,
  /** @param {any} v */ minReplicas: (v) => `min ${v}`,
  /** @param {any} v */ maxReplicas: (v) => `max ${v}`,
  /** @param {any} v */ rules: (v) => `${v} rule${v === 1 ? "" : "s"}`,
  /** @param {any} v */ completions: (v) => `${v} completion${v === 1 ? "" : "s"}`,
  /** @param {any} v */ image: (v) => v || "no image yet",
};

/**
 * Return the card's summary as short strings (empty ones dropped).
 * @param {CanvasNode} node
 * @param {Registry} registry
 * @returns {string[]}
 */
export function summarize(node, registry) {
  const kind = registry.kind(node.type);
  if (!kind) return [];
  const lines = [];
  for (const field of kind.summaryFields) {
    const derive = /** @type {Record<string, (d: any) => any>} */ (DERIVED)[field];
    const value = derive ? derive(node.data) : node.data[field];
    if (value === null || value === undefined || value === "") {
      if (field === "image") lines.push(SHOW.image(""));
      continue;
    }
    const show = /** @type {Record<string, (v: any) => string>} */ (SHOW)[field];
    const text = show ? show(value) : Array.isArray(value) ? value.join(", ") : String(value);
    if (text) lines.push(text);
  }
  const link = linkLine(node);
  if (link) lines.push(link);
  return lines;
}

/**
 * Say where a node's link leads, when it has one that matters on the card.
 * @param {CanvasNode} node
 */
function linkLine(node) {
  const workload = node.data._linkedDeployment;
  if (workload) {
    const first = (workload.ports ?? [])[0];
    return `→ ${workload.name}${first ? `:${first.containerPort}` : ""}`;
  }
  const target = node.data._linkedTarget;
  if (target) return `scales ${target.name}`;
  return "";
}
