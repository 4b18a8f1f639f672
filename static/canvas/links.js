// @ts-check
/**
 * The `_linked*` fields of every node, computed from the edges the same way
 * the server does (workflows/kinds: workload_links, service_links,
 * ingress_links, mounted_by, network_policy_links, hpa_links), so the canvas
 * shows them the moment an edge is drawn. The server recomputes them on
 * every save and its answer replaces these.
 * @module canvas/links
 */
"use strict";

import { sameJson } from "./dom.js";

/**
 * @typedef {import("./registry.js").Registry} Registry
 * @typedef {import("./registry.js").CanvasNode} CanvasNode
 * @typedef {import("./registry.js").CanvasEdge} CanvasEdge
 * @typedef {[CanvasEdge, CanvasNode]} Pair
 */

class Graph {
  /**
   * @param {CanvasNode[]} nodes
   * @param {CanvasEdge[]} edges
   */
  constructor(nodes, edges) {
    /** @type {Map<string, CanvasNode>} */
    this.nodes = new Map(nodes.map((node) => [node.id, node]));
    /** @type {Map<string, CanvasEdge[]>} */
    this.outgoing = new Map();
    /** @type {Map<string, CanvasEdge[]>} */
    this.incoming = new Map();
    for (const edge of edges) {
      if (!this.nodes.has(edge.source) || !this.nodes.has(edge.target)) continue;
      push(this.outgoing, edge.source, edge);
      push(this.incoming, edge.target, edge);
    }
  }

  /**
   * Return (edge, source node) pairs into a node, of the given types.
   * @param {string} id
   * @param {string[]} types
   * @returns {Pair[]}
   */
  sources(id, types) {
    const pairs = (this.incoming.get(id) ?? []).map(
      (edge) => /** @type {Pair} */ ([edge, this.nodes.get(edge.source)])
    );
    return sorted(pairs, types);
  }

  /**
   * Return (edge, target node) pairs out of a node, of the given types.
   * @param {string} id
   * @param {string[]} types
   * @returns {Pair[]}
   */
  targets(id, types) {
    const pairs = (this.outgoing.get(id) ?? []).map(
      (edge) => /** @type {Pair} */ ([edge, this.nodes.get(edge.target)])
    );
    return sorted(pairs, types);
  }
}

/**
 * @param {Map<string, CanvasEdge[]>} map
 * @param {string} key
 * @param {CanvasEdge} edge
 */
function push(map, key, edge) {
  const list = map.get(key);
  if (list) list.push(edge);
  else map.set(key, [edge]);
}

/**
 * Keep the pairs whose node has one of the types, ordered by node id then
 * edge id, as the server orders them.
 * @param {Pair[]} pairs
 * @param {string[]} types
 */
function sorted(pairs, types) {
  const chosen = pairs.filter(([, node]) => !types.length || types.includes(node.type));
  return chosen.sort(([ea, na], [eb, nb]) => compare(na.id, nb.id) || compare(ea.id, eb.id));
}

/** @param {string} a @param {string} b */
function compare(a, b) {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** @param {CanvasNode} node */
function linkRef(node) {
  return { id: node.id, kind: node.type, name: node.data.name ?? "" };
}

/** @param {CanvasEdge} edge @param {CanvasNode} source */
function mountRef(edge, source) {
  const data = edge.data ?? {};
  /** @type {Record<string, any>} */
  const ref = { ...linkRef(source), edge: edge.id, mode: "mode" in data ? data.mode : "volume" };
  if (ref.mode === "volume") ref.mountPath = "mountPath" in data ? data.mountPath : "";
  return ref;
}

/**
 * The kinds each rule links to, read from the edge table.
 * @param {Registry} registry
 */
function linkTargets(registry) {
  /** @param {string} source */
  const of = (source) => registry.targetsOf(source);
  return { service: of("service"), workloads: of("configmap"), scalable: of("hpa") };
}

/**
 * Return the computed fields of one node.
 * @param {CanvasNode} node
 * @param {Graph} graph
 * @param {ReturnType<typeof linkTargets>} kinds
 * @param {Registry} registry
 * @returns {Record<string, any>|null}
 */
function linksOf(node, graph, kinds, registry) {
  const fields = registry.kind(node.type)?.linkedFields ?? {};
  const id = node.id;
  if ("_linkedServices" in fields) {
    const autoscalers = graph.sources(id, ["hpa"]);
    return {
      _linkedServices: graph.sources(id, ["service"]).map(([, src]) => linkRef(src)),
      _linkedConfigMaps: graph.sources(id, ["configmap"]).map(([e, src]) => mountRef(e, src)),
      _linkedSecrets: graph.sources(id, ["secret"]).map(([e, src]) => mountRef(e, src)),
      _linkedVolumes: graph
        .sources(id, ["persistentvolumeclaim"])
        .map(([e, src]) => mountRef(e, src)),
      _linkedPolicies: graph.sources(id, ["networkpolicy"]).map(([, src]) => linkRef(src)),
      _linkedAutoscaler: autoscalers.length ? linkRef(autoscalers[0][1]) : null,
    };
  }
  if ("_linkedDeployment" in fields) {
    const [pair] = graph.targets(id, kinds.service);
    if (!pair) return { _linkedDeployment: null };
    const workload = pair[1];
    return {
      _linkedDeployment: { ...linkRef(workload), ports: [...(workload.data.containerPorts ?? [])] },
    };
  }
  if ("paths[]._linkedService" in fields) return ingressLinks(node, graph);
  if ("_linkedTarget" in fields) {
    const [pair] = graph.targets(id, kinds.scalable);
    return { _linkedTarget: pair ? linkRef(pair[1]) : null };
  }
  if ("_linkedWorkloads" in fields) {
    const pairs = graph.targets(id, kinds.workloads);
    const mounts = node.type !== "networkpolicy";
    return {
      _linkedWorkloads: pairs.map(([edge, target]) => (mounts ? mountRef(edge, target) : linkRef(target))),
    };
  }
  return null;
}

/**
 * @param {CanvasNode} node
 * @param {Graph} graph
 */
function ingressLinks(node, graph) {
  const backends = graph.targets(node.id, ["service"]);
  const paths = (node.data.paths ?? []).map((/** @type {any} */ item, /** @type {number} */ index) => {
    const found = backends.find(([edge]) => edge.sourceHandle === `path-${index}`);
    if (!found) return { ...item, _linkedService: null };
    const [edge, service] = found;
    let port = edge.data?.port ?? null;
    if (port === null || port === undefined || port === "") {
      const ports = service.data.ports ?? [];
      port = ports.length ? ports[0].port : null;
    }
    return { ...item, _linkedService: { ...linkRef(service), port } };
  });
  return { paths };
}

/**
 * Return the nodes with their linked fields recomputed; a node whose links
 * did not change is returned as the same object.
 * @param {CanvasNode[]} nodes
 * @param {CanvasEdge[]} edges
 * @param {Registry} registry
 * @returns {CanvasNode[]}
 */
export function applyLinks(nodes, edges, registry) {
  const graph = new Graph(nodes, edges);
  const kinds = linkTargets(registry);
  let changed = false;
  const result = nodes.map((node) => {
    const links = linksOf(node, graph, kinds, registry);
    if (!links) return node;
    const differs = Object.entries(links).some(([key, value]) => !sameJson(node.data[key], value));
    if (!differs) return node;
    changed = true;
    return { ...node, data: { ...node.data, ...links } };
  });
  return changed ? result : nodes;
}
