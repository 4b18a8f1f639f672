// @ts-check
/**
 * Auto-layout: a layered left-to-right layout of the whole canvas, computed
 * by dagre (vendored under static/vendor/dagre/), loaded on first use.
 * @module canvas/layout
 */
"use strict";

/**
 * @typedef {import("./store.js").Doc} Doc
 * @typedef {{x: number, y: number}} Point
 */

const DAGRE_URL = new URL("../vendor/dagre/3.1.3/dagre.esm.js", import.meta.url).href;

/** @type {Promise<any>|null} */
let loading = null;

/** Load dagre once. */
function loadDagre() {
  loading ??= import(DAGRE_URL).then((module) => module.default ?? module);
  return loading;
}

/**
 * Return new positions for every node, sources on the left.
 * @param {Doc} doc
 * @param {(id: string) => {w: number, h: number}} sizeOf
 * @returns {Promise<Map<string, Point>>}
 */
export async function layeredPositions(doc, sizeOf) {
  const dagre = await loadDagre();
  const graph = new dagre.graphlib.Graph({ multigraph: true });
  graph.setGraph({ rankdir: "LR", nodesep: 36, ranksep: 110, edgesep: 20, marginx: 40, marginy: 40 });
  graph.setDefaultEdgeLabel(() => ({}));
  for (const node of doc.nodes) {
    const { w, h } = sizeOf(node.id);
    graph.setNode(node.id, { width: w, height: h });
  }
  for (const edge of doc.edges) graph.setEdge(edge.source, edge.target, {}, edge.id);
  dagre.layout(graph);
  /** @type {Map<string, Point>} */
  const positions = new Map();
  for (const node of doc.nodes) {
    const placed = graph.node(node.id);
    const { w, h } = sizeOf(node.id);
    positions.set(node.id, { x: Math.round(placed.x - w / 2), y: Math.round(placed.y - h / 2) });
  }
  return positions;
}
