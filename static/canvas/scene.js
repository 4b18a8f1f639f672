// @ts-check
/**
 * What the canvas draws: node cards (HTML), edges (SVG) and the pan/zoom
 * transform that holds them, updated incrementally from the document.
 *
 * Pan and zoom change one CSS transform; moving a node changes its own
 * transform and the paths of its edges only, so a frame stays cheap with
 * hundreds of nodes.
 * @module canvas/scene
 */
"use strict";

import { clamp, el, svg } from "./dom.js";
import { summarize } from "./summary.js";

/**
 * @typedef {import("./registry.js").Registry} Registry
 * @typedef {import("./registry.js").CanvasNode} CanvasNode
 * @typedef {import("./registry.js").CanvasEdge} CanvasEdge
 * @typedef {import("./store.js").Doc} Doc
 * @typedef {{x: number, y: number, k: number}} View
 * @typedef {{x: number, y: number}} Point
 * @typedef {{node: CanvasNode, element: HTMLElement, x: number, y: number,
 *   w: number, h: number, ports: import("./registry.js").Port[]}} NodeEntry
 * @typedef {{edge: CanvasEdge, hit: SVGElement, line: SVGElement}} EdgeEntry
 */

export const NODE_WIDTH = 220;
const NODE_HEIGHT = 96;
const PORT_TOP = 40;
const PORT_STEP = 22;
export const MIN_ZOOM = 0.1;
export const MAX_ZOOM = 2.5;

/** Short badges per kind, shown on the card next to the kind's label. */
const BADGES = {
  deployment: "DEP",
  statefulset: "STS",
  daemonset: "DS",
  job: "JOB",
  cronjob: "CRON",
  service: "SVC",
  ingress: "ING",
  configmap: "CM",
  secret: "SEC",
  persistentvolumeclaim: "PVC",
  hpa: "HPA",
  networkpolicy: "NP",
  customresource: "CR",
};

export class Scene {
  /**
   * @param {HTMLElement} viewport the element the canvas fills
   * @param {Registry} registry
   */
  constructor(viewport, registry) {
    this.viewport = viewport;
    this.registry = registry;
    /** @type {View} */
    this.view = { x: 0, y: 0, k: 1 };
    this.world = el("div", { class: "kc-world" });
    this.edgeLayer = /** @type {SVGSVGElement} */ (svg("svg", { class: "kc-edges", width: 1, height: 1 }));
    this.edgeGroup = svg("g");
    this.draft = svg("path", { class: "kc-draft-edge", d: "" });
    this.edgeLayer.append(this.edgeGroup, this.draft);
    this.nodeLayer = el("div", { class: "kc-nodes" });
    this.world.append(this.edgeLayer, this.nodeLayer);
    viewport.append(this.world);
    /** @type {Map<string, NodeEntry>} */
    this.nodes = new Map();
    /** @type {Map<string, EdgeEntry>} */
    this.edges = new Map();
    /** @type {Map<string, Set<string>>} edge ids by node id */
    this.edgesOfNode = new Map();
    /** @type {Set<(view: View) => void>} */
    this.viewListeners = new Set();
    /** @type {Map<string, {state?: string, text?: string, tone?: string, message?: string}>} live status per node */
    this.statuses = new Map();
  }

  // -- Drawing the document ------------------------------------------------

  /**
   * Bring the drawing in line with a document, touching only what changed.
   * @param {Doc} doc
   */
  render(doc) {
    const seen = new Set();
    const fragment = document.createDocumentFragment();
    /** @type {Set<string>} */
    const moved = new Set();
    for (const node of doc.nodes) {
      seen.add(node.id);
      const entry = this.nodes.get(node.id);
      if (!entry) {
        const created = this.createNode(node);
        fragment.append(created.element);
        moved.add(node.id);
      } else if (entry.node !== node) {
        if (entry.node.data !== node.data || entry.node.type !== node.type) this.fillNode(entry, node);
        entry.node = node;
        this.place(entry, node.position.x, node.position.y);
        moved.add(node.id);
      }
    }
    this.nodeLayer.append(fragment);
    for (const [id, entry] of this.nodes) {
      if (!seen.has(id)) {
        entry.element.remove();
        this.nodes.delete(id);
      }
    }
    this.renderEdges(doc.edges, moved);
  }

  /**
   * @param {CanvasEdge[]} edges
   * @param {Set<string>} moved nodes whose edges need new paths
   */
  renderEdges(edges, moved) {
    const seen = new Set();
    const fragment = document.createDocumentFragment();
    for (const edge of edges) {
      seen.add(edge.id);
      let entry = this.edges.get(edge.id);
      if (!entry) {
        entry = this.createEdge(edge);
        fragment.append(entry.hit, entry.line);
        this.path(entry);
      } else if (entry.edge !== edge || moved.has(edge.source) || moved.has(edge.target)) {
        if (entry.edge !== edge) this.unindexEdge(entry.edge);
        entry.edge = edge;
        this.indexEdge(edge);
        this.path(entry);
      }
    }
    this.edgeGroup.append(fragment);
    for (const [id, entry] of this.edges) {
      if (!seen.has(id)) {
        entry.hit.remove();
        entry.line.remove();
        this.unindexEdge(entry.edge);
        this.edges.delete(id);
      }
    }
  }

  /** @param {CanvasNode} node */
  createNode(node) {
    const element = el("div", {
      class: "kc-node",
      tabindex: "0",
      role: "button",
      dataset: { id: node.id },
    });
    /** @type {NodeEntry} */
    const entry = { node, element, x: 0, y: 0, w: NODE_WIDTH, h: NODE_HEIGHT, ports: [] };
    this.nodes.set(node.id, entry);
    this.fillNode(entry, node);
    this.place(entry, node.position.x, node.position.y);
    return entry;
  }

  /**
   * Draw a card's contents: kind, name, essentials, status slot and ports.
   * @param {NodeEntry} entry
   * @param {CanvasNode} node
   */
  fillNode(entry, node) {
    const kind = this.registry.kind(node.type);
    const label = kind?.label ?? node.type;
    const name = node.data.name || node.id;
    const ports = this.registry.portsOf(node);
    const outs = ports.filter((port) => port.direction === "out");
    entry.ports = ports;
    entry.h = Math.max(NODE_HEIGHT, outs.length > 1 ? PORT_TOP + outs.length * PORT_STEP : 0);
    const element = entry.element;
    element.className = `kc-node kind-${node.type} group-${slug(kind?.group ?? "")}`;
    element.style.height = `${entry.h}px`;
    element.setAttribute("aria-label", `${label} ${name}`);
    const lines = summarize(node, this.registry).slice(0, 3);
    element.replaceChildren(
      el(
        "div",
        { class: "kc-node-head" },
        el("span", { class: "kc-badge", text: /** @type {any} */ (BADGES)[node.type] ?? "•" }),
        el("span", { class: "kc-kind", text: label }),
        el("span", { class: "kc-node-errors", hidden: true })
      ),
      el("div", { class: "kc-node-name", text: name, title: name }),
      el("ul", { class: "kc-node-summary" }, ...lines.map((line) => el("li", { text: line, title: line }))),
      el("div", { class: "kc-node-status", dataset: { statusSlot: "" } }),
      ...ports.map((port) => this.portElement(port, outs))
    );
    this.drawStatus(entry);
  }

  /**
   * Show a node's live status in its card's status slot.
   * @param {string} id
   * @param {{state?: string, text?: string, tone?: string, message?: string}} status
   */
  setStatus(id, status) {
    this.statuses.set(id, status);
    const entry = this.nodes.get(id);
    if (entry) this.drawStatus(entry);
  }

  /** @param {NodeEntry} entry */
  drawStatus(entry) {
    const slot = /** @type {HTMLElement|null} */ (entry.element.querySelector(".kc-node-status"));
    const status = this.statuses.get(entry.node.id);
    if (!slot) return;
    slot.textContent = status?.text ?? "";
    slot.dataset.state = status?.state ?? "";
    entry.element.dataset.live = status?.tone ?? "";
    slot.title = status?.message ?? "";
  }

  /**
   * @param {import("./registry.js").Port} port
   * @param {import("./registry.js").Port[]} outs
   */
  portElement(port, outs) {
    const element = el("span", {
      class: `kc-port ${port.direction}`,
      dataset: { handle: port.handle, direction: port.direction },
      title: port.direction === "out" ? `Drag to link (${port.label})` : "Drop a link here",
    });
    if (port.direction === "out" && outs.length > 1) {
      element.style.top = `${PORT_TOP + outs.indexOf(port) * PORT_STEP + PORT_STEP / 2}px`;
      element.append(el("span", { class: "kc-port-label", text: port.label }));
    }
    return element;
  }

  /**
   * @param {NodeEntry} entry
   * @param {number} x
   * @param {number} y
   */
  place(entry, x, y) {
    entry.x = x;
    entry.y = y;
    entry.element.style.transform = `translate(${x}px, ${y}px)`;
  }

  /** @param {CanvasEdge} edge */
  createEdge(edge) {
    const hit = svg("path", { class: "kc-edge-hit", "data-id": edge.id });
    const line = svg("path", { class: "kc-edge", "data-id": edge.id });
    /** @type {EdgeEntry} */
    const entry = { edge, hit, line };
    this.edges.set(edge.id, entry);
    this.indexEdge(edge);
    return entry;
  }

  /** @param {CanvasEdge} edge */
  indexEdge(edge) {
    for (const id of [edge.source, edge.target]) {
      let set = this.edgesOfNode.get(id);
      if (!set) this.edgesOfNode.set(id, (set = new Set()));
      set.add(edge.id);
    }
  }

  /** @param {CanvasEdge} edge */
  unindexEdge(edge) {
    this.edgesOfNode.get(edge.source)?.delete(edge.id);
    this.edgesOfNode.get(edge.target)?.delete(edge.id);
  }

  /** @param {EdgeEntry} entry */
  path(entry) {
    const from = this.portPoint(entry.edge.source, entry.edge.sourceHandle);
    const to = this.portPoint(entry.edge.target, entry.edge.targetHandle);
    if (!from || !to) return;
    const d = curve(from, to);
    entry.hit.setAttribute("d", d);
    entry.line.setAttribute("d", d);
  }

  /**
   * Return where a port sits, in world coordinates.
   * @param {string} nodeId
   * @param {string} handle
   * @returns {Point|null}
   */
  portPoint(nodeId, handle) {
    const entry = this.nodes.get(nodeId);
    if (!entry) return null;
    const port = entry.ports.find((p) => p.handle === handle);
    if (!port || port.direction === "in") return { x: entry.x, y: entry.y + entry.h / 2 };
    const outs = entry.ports.filter((p) => p.direction === "out");
    const y = outs.length > 1 ? PORT_TOP + outs.indexOf(port) * PORT_STEP + PORT_STEP / 2 : entry.h / 2;
    return { x: entry.x + entry.w, y: entry.y + y };
  }

  /**
   * Move nodes on screen only (while dragging), re-pathing their edges.
   * @param {Map<string, Point>} positions
   */
  preview(positions) {
    /** @type {Set<string>} */
    const touched = new Set();
    for (const [id, point] of positions) {
      const entry = this.nodes.get(id);
      if (!entry) continue;
      this.place(entry, point.x, point.y);
      for (const edgeId of this.edgesOfNode.get(id) ?? []) touched.add(edgeId);
    }
    for (const edgeId of touched) {
      const entry = this.edges.get(edgeId);
      if (entry) this.path(entry);
    }
  }

  /**
   * Draw (or clear) the edge being dragged out of a port.
   * @param {Point|null} from
   * @param {Point} [to]
   * @param {boolean} [reverse] the drag started on an input port
   */
  drawDraft(from, to, reverse = false) {
    if (!from || !to) {
      this.draft.setAttribute("d", "");
      return;
    }
    this.draft.setAttribute("d", reverse ? curve(to, from) : curve(from, to));
  }

  // -- Marks on nodes and edges ----------------------------------------------

  /**
   * @param {Set<string>} nodeIds
   * @param {Set<string>} edgeIds
   */
  setSelection(nodeIds, edgeIds) {
    for (const [id, entry] of this.nodes) {
      const selected = nodeIds.has(id);
      entry.element.classList.toggle("selected", selected);
      entry.element.setAttribute("aria-pressed", String(selected));
    }
    for (const [id, entry] of this.edges) {
      entry.line.classList.toggle("selected", edgeIds.has(id));
    }
  }

  /**
   * Mark nodes and edges the server found problems in.
   * @param {Record<string, Record<string, string[]>>} nodeErrors
   * @param {Record<string, Record<string, string[]>>} edgeErrors
   */
  setErrors(nodeErrors, edgeErrors) {
    for (const [id, entry] of this.nodes) {
      const problems = Object.values(nodeErrors[id] ?? {}).flat();
      entry.element.classList.toggle("has-errors", problems.length > 0);
      const badge = /** @type {HTMLElement|null} */ (entry.element.querySelector(".kc-node-errors"));
      if (badge) {
        badge.hidden = problems.length === 0;
        badge.textContent = problems.length ? `${problems.length} !` : "";
        badge.title = problems.join("\n");
      }
    }
    for (const [id, entry] of this.edges) entry.line.classList.toggle("has-errors", id in edgeErrors);
  }

  /**
   * Mark which nodes would accept the link being drawn.
   * @param {((node: CanvasNode) => boolean)|null} accepts
   */
  markTargets(accepts) {
    for (const entry of this.nodes.values()) {
      entry.element.classList.toggle("kc-accepts", !!accepts && accepts(entry.node));
      entry.element.classList.toggle("kc-refuses", !!accepts && !accepts(entry.node));
    }
  }

  // -- The view: pan and zoom ------------------------------------------------

  /** @param {(view: View) => void} listener */
  onView(listener) {
    this.viewListeners.add(listener);
  }

  /** @param {View} view */
  setView(view) {
    this.view = { x: view.x, y: view.y, k: clamp(view.k, MIN_ZOOM, MAX_ZOOM) };
    const { x, y, k } = this.view;
    this.world.style.transform = `translate(${x}px, ${y}px) scale(${k})`;
    const grid = 20 * k;
    this.viewport.style.backgroundSize = `${grid}px ${grid}px`;
    this.viewport.style.backgroundPosition = `${x}px ${y}px`;
    this.viewport.classList.toggle("kc-grid-faint", k < 0.5);
    for (const listener of this.viewListeners) listener(this.view);
  }

  /**
   * Zoom by a factor around a point of the viewport (in client pixels).
   * @param {number} factor
   * @param {number} [clientX]
   * @param {number} [clientY]
   */
  zoomBy(factor, clientX, clientY) {
    const rect = this.viewport.getBoundingClientRect();
    const cx = (clientX ?? rect.left + rect.width / 2) - rect.left;
    const cy = (clientY ?? rect.top + rect.height / 2) - rect.top;
    const { x, y, k } = this.view;
    const next = clamp(k * factor, MIN_ZOOM, MAX_ZOOM);
    this.setView({ x: cx - ((cx - x) * next) / k, y: cy - ((cy - y) * next) / k, k: next });
  }

  /**
   * @param {number} dx
   * @param {number} dy
   */
  panBy(dx, dy) {
    this.setView({ ...this.view, x: this.view.x + dx, y: this.view.y + dy });
  }

  /** Fit every node into the viewport (or reset when there is none). */
  fit() {
    const bounds = this.bounds();
    const rect = this.viewport.getBoundingClientRect();
    if (!bounds || !rect.width) {
      this.setView({ x: rect.width / 2, y: rect.height / 3, k: 1 });
      return;
    }
    const pad = 60;
    const k = clamp(
      Math.min((rect.width - pad * 2) / bounds.w, (rect.height - pad * 2) / bounds.h),
      MIN_ZOOM,
      1.2
    );
    this.setView({
      x: (rect.width - bounds.w * k) / 2 - bounds.x * k,
      y: (rect.height - bounds.h * k) / 2 - bounds.y * k,
      k,
    });
  }

  /** Return the box around every node, in world coordinates. */
  bounds() {
    if (!this.nodes.size) return null;
    let x1 = Infinity;
    let y1 = Infinity;
    let x2 = -Infinity;
    let y2 = -Infinity;
    for (const entry of this.nodes.values()) {
      x1 = Math.min(x1, entry.x);
      y1 = Math.min(y1, entry.y);
      x2 = Math.max(x2, entry.x + entry.w);
      y2 = Math.max(y2, entry.y + entry.h);
    }
    return { x: x1, y: y1, w: x2 - x1, h: y2 - y1 };
  }

  /**
   * Turn client (screen) coordinates into world coordinates.
   * @param {number} clientX
   * @param {number} clientY
   * @returns {Point}
   */
  toWorld(clientX, clientY) {
    const rect = this.viewport.getBoundingClientRect();
    const { x, y, k } = this.view;
    return { x: (clientX - rect.left - x) / k, y: (clientY - rect.top - y) / k };
  }

  /** Return the centre of the viewport in world coordinates. */
  centre() {
    const rect = this.viewport.getBoundingClientRect();
    return this.toWorld(rect.left + rect.width / 2, rect.top + rect.height / 2);
  }

  /**
   * Return the ids of the nodes inside a world rectangle.
   * @param {{x: number, y: number, w: number, h: number}} box
   */
  nodesIn(box) {
    const ids = [];
    for (const [id, entry] of this.nodes) {
      const inside =
        entry.x < box.x + box.w && entry.x + entry.w > box.x && entry.y < box.y + box.h && entry.y + entry.h > box.y;
      if (inside) ids.push(id);
    }
    return ids;
  }

  /** @param {string} id */
  nodeElement(id) {
    return this.nodes.get(id)?.element ?? null;
  }
}

/**
 * The path of an edge: a curve leaving the source to the right and
 * entering the target from the left; a backward edge swings below both.
 * @param {Point} from
 * @param {Point} to
 */
function curve(from, to) {
  const dx = to.x - from.x;
  if (dx >= 40) {
    const bend = Math.max(50, dx / 2);
    return `M${from.x},${from.y} C${from.x + bend},${from.y} ${to.x - bend},${to.y} ${to.x},${to.y}`;
  }
  const bend = Math.min(220, 80 - dx / 4);
  const drop = Math.abs(to.y - from.y) < 80 ? 110 : 0;
  return `M${from.x},${from.y} C${from.x + bend},${from.y + drop} ${to.x - bend},${to.y + drop} ${to.x},${to.y}`;
}

/** @param {string} text */
function slug(text) {
  return text.toLowerCase().replace(/[^a-z0-9]+/g, "-");
}
