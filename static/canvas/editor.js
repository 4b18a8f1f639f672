// @ts-check
/**
 * The canvas editor widget: a palette, the canvas, the settings panel and
 * the dialogs, over one document with undo history.
 *
 * It knows nothing of the server's save API. It tells the page what happens
 * through `canvas:*` custom events on its root element and listens for the
 * page's answers there:
 *
 * - emitted: `canvas:ready`, `canvas:changed`, `canvas:node-added`,
 *   `canvas:node-moved`, `canvas:nodes-removed`, `canvas:edge-added`,
 *   `canvas:edge-removed`, `canvas:edge-refused`, `canvas:selection-changed`
 * - listened: `canvas:validation` (the server's errors), `canvas:server-canvas`
 *   (the canvas the server stored), `canvas:load` (replace the canvas, as one
 *   undo step), `canvas:set-read-only`, `canvas:status` (live node status)
 *
 * @module canvas/editor
 */
"use strict";

import { clamp, clone, commandKey, el, emit, isTyping } from "./dom.js";
import { CommandPalette, ShortcutsSheet } from "./dialogs.js";
import { layeredPositions } from "./layout.js";
import { applyLinks } from "./links.js";
import { Minimap } from "./minimap.js";
import { KIND_MIME, Palette } from "./palette.js";
import { Panel } from "./panel.js";
import { Registry, loadRegistry, withArticle } from "./registry.js";
import { Scene } from "./scene.js";
import { Store } from "./store.js";

/**
 * @typedef {import("./registry.js").CanvasNode} CanvasNode
 * @typedef {import("./registry.js").CanvasEdge} CanvasEdge
 * @typedef {import("./store.js").Doc} Doc
 * @typedef {import("./dialogs.js").Command} Command
 * @typedef {{x: number, y: number}} Point
 * @typedef {{
 *   nodes: CanvasNode[], edges: CanvasEdge[], readOnly: boolean,
 *   readOnlyReason: string, registry: Registry|null, kindsUrl: string,
 *   manifestUrl: string, commands: Command[], minimap: boolean,
 *   fitOnLoad: boolean, dragThreshold: number, nudge: number,
 * }} EditorConfig
 */

/**
 * A button of the canvas toolbar.
 * @param {string} label
 * @param {string} text
 * @param {() => void} run
 * @param {string} name
 */
function toolButton(label, text, run, name) {
  return /** @type {HTMLButtonElement} */ (
    el("button", { type: "button", class: "kc-tool", title: label, "aria-label": label, dataset: { tool: name }, text, onclick: run })
  );
}

/** @type {EditorConfig} */
export const DEFAULTS = {
  nodes: [],
  edges: [],
  readOnly: false,
  readOnlyReason: "This workflow is read-only.",
  registry: null,
  kindsUrl: "/v1/api/node-kinds",
  // "{node}" is replaced by the node id.
  manifestUrl: "",
  commands: [],
  minimap: true,
  fitOnLoad: true,
  dragThreshold: 3,
  nudge: 10,
};

/**
 * Create an editor in a root element once the registry is loaded.
 * @param {HTMLElement} root
 * @param {Partial<EditorConfig>} [options]
 * @returns {Promise<Editor>}
 */
export async function createEditor(root, options = {}) {
  const config = { ...DEFAULTS, ...options };
  const registry = config.registry ?? (await loadRegistry(config.kindsUrl));
  return new Editor(root, { ...config, registry }, registry);
}

export class Editor {
  /**
   * @param {HTMLElement} root
   * @param {EditorConfig} config
   * @param {Registry} registry
   */
  constructor(root, config, registry) {
    this.root = root;
    this.config = config;
    this.registry = registry;
    this.readOnly = config.readOnly;
    this.readOnlyReason = config.readOnlyReason;
    /** @type {Set<string>} */
    this.selectedNodes = new Set();
    /** @type {Set<string>} */
    this.selectedEdges = new Set();
    /** @type {{nodes: Record<string, any>, edges: Record<string, any>, canvas: string[]}} */
    this.errors = { nodes: {}, edges: {}, canvas: [] };
    /** @type {Doc|null} */
    this.clipboard = null;
    this.pasteCount = 0;
    const nodes = applyLinks(clone(config.nodes), clone(config.edges), registry);
    this.store = new Store({ nodes, edges: clone(config.edges) });
    root.classList.add("kc-editor");
    this.viewport = el("div", {
      class: "kc-viewport",
      tabindex: "0",
      role: "application",
      "aria-label": "Canvas. Press ? for keyboard shortcuts.",
    });
    this.box = el("div", { class: "kc-box", hidden: true });
    this.toasts = el("div", { class: "kc-toasts", role: "status", "aria-live": "polite" });
    this.undoButton = toolButton("Undo (Ctrl/⌘ Z)", "↶", () => this.undo(), "undo");
    this.redoButton = toolButton("Redo (Ctrl/⌘ Shift Z)", "↷", () => this.redo(), "redo");
    this.layoutButton = toolButton("Auto-layout (L)", "Auto-layout", () => this.autoLayout(), "layout");
    this.toolbar = this.buildToolbar();
    this.viewport.append(this.box);
    const stage = el("div", { class: "kc-stage" }, this.viewport, this.toolbar, this.toasts);
    this.palette = new Palette(this.root, this.registry, (key) => this.addNode(key));
    this.root.append(stage);
    this.scene = new Scene(this.viewport, this.registry);
    this.minimap = this.config.minimap ? new Minimap(stage, this.scene) : null;
    this.panel = new Panel(this.root, {
      registry: this.registry,
      readOnly: () => this.readOnly,
      manifestUrl: (id) => this.config.manifestUrl.replace("{node}", encodeURIComponent(id)),
      doc: () => this.store.doc,
      errors: () => this.errors,
      onNodeData: (id, data, key) => this.updateNodeData(id, data, key),
      onEdgeChange: (id, change, key) => this.updateEdge(id, change, key),
      onConnect: (source, handle, target) => this.connect(source, handle, target),
      onRemoveEdge: (id) => this.removeEdges([id]),
      onSelectEdge: (id) => this.select([], [id], true),
      onClose: () => this.closePanel(),
    });
    this.commandPalette = new CommandPalette(this.root, () => this.commands());
    this.shortcuts = new ShortcutsSheet(this.root);
    this.store.subscribe((change) => this.changed(change));
    this.bindPointer();
    this.bindKeys();
    this.bindEvents();
    this.scene.render(this.store.doc);
    this.setReadOnly(this.readOnly, this.readOnlyReason);
    requestAnimationFrame(() => {
      if (config.fitOnLoad) this.scene.fit();
      this.minimap?.schedule();
      emit(this.root, "canvas:ready", { nodes: nodes.length, edges: this.store.doc.edges.length });
    });
  }

  // -- Building ---------------------------------------------------------------

  buildToolbar() {
    return el(
      "div",
      { class: "kc-toolbar", role: "toolbar", "aria-label": "Canvas tools" },
      toolButton("Zoom in (+)", "+", () => this.scene.zoomBy(1.2), "zoom-in"),
      toolButton("Zoom out (−)", "−", () => this.scene.zoomBy(1 / 1.2), "zoom-out"),
      toolButton("Fit to view (F)", "Fit", () => this.scene.fit(), "fit"),
      this.layoutButton,
      this.undoButton,
      this.redoButton,
      toolButton("Keyboard shortcuts (?)", "?", () => this.shortcuts.toggle(), "shortcuts")
    );
  }

  /** The commands the command palette offers: kinds first, then actions. */
  commands() {
    /** @type {Command[]} */
    const kinds = this.readOnly
      ? []
      : this.registry.kinds.map((kind) => ({
          id: `add-${kind.key}`,
          label: `Add ${kind.label}`,
          group: kind.group,
          run: () => this.addNode(kind.key),
        }));
    const has = () => this.selectedNodes.size + this.selectedEdges.size > 0;
    /** @type {Command[]} */
    const actions = [
      { id: "fit", label: "Fit to view", hint: "F", group: "View", run: () => this.scene.fit() },
      { id: "zoom-in", label: "Zoom in", hint: "+", group: "View", run: () => this.scene.zoomBy(1.2) },
      { id: "zoom-out", label: "Zoom out", hint: "−", group: "View", run: () => this.scene.zoomBy(1 / 1.2) },
      { id: "layout", label: "Auto-layout", hint: "L", group: "Edit", run: () => this.autoLayout(), enabled: () => !this.readOnly },
      { id: "undo", label: "Undo", hint: "Ctrl/⌘ Z", group: "Edit", run: () => this.undo(), enabled: () => this.store.past.length > 0 },
      { id: "redo", label: "Redo", hint: "Ctrl/⌘ Shift Z", group: "Edit", run: () => this.redo(), enabled: () => this.store.future.length > 0 },
      { id: "select-all", label: "Select all", hint: "Ctrl/⌘ A", group: "Edit", run: () => this.selectAll() },
      { id: "duplicate", label: "Duplicate the selection", hint: "Ctrl/⌘ D", group: "Edit", run: () => this.duplicate(), enabled: () => !this.readOnly && this.selectedNodes.size > 0 },
      { id: "delete", label: "Delete the selection", hint: "Delete", group: "Edit", run: () => this.deleteSelection(), enabled: () => !this.readOnly && has() },
      { id: "first-problem", label: "Go to the first problem", group: "Edit", run: () => this.focusFirstError(), enabled: () => Object.keys(this.errors.nodes).length + Object.keys(this.errors.edges).length > 0 },
      { id: "shortcuts", label: "Keyboard shortcuts", hint: "?", group: "Help", run: () => this.shortcuts.toggle() },
    ];
    return [...kinds, ...actions, ...this.config.commands];
  }

  // -- Reacting to changes ----------------------------------------------------

  /** @param {import("./store.js").Change} change */
  changed(change) {
    this.scene.render(change.doc);
    this.pruneSelection(change.doc);
    this.scene.setSelection(this.selectedNodes, this.selectedEdges);
    this.scene.setErrors(this.errors.nodes, this.errors.edges);
    this.minimap?.schedule();
    this.panel.refresh();
    this.syncHistoryButtons();
    emit(this.root, "canvas:changed", {
      nodes: change.doc.nodes,
      edges: change.doc.edges,
      reason: change.reason,
      label: change.label ?? "",
      version: this.store.version,
    });
  }

  syncHistoryButtons() {
    const past = this.store.past[this.store.past.length - 1];
    const future = this.store.future[this.store.future.length - 1];
    this.undoButton.disabled = this.readOnly || !past;
    this.redoButton.disabled = this.readOnly || !future;
    this.undoButton.title = past ? `Undo ${past.label} (Ctrl/⌘ Z)` : "Nothing to undo";
    this.redoButton.title = future ? `Redo ${future.label} (Ctrl/⌘ Shift Z)` : "Nothing to redo";
  }

  /** @param {Doc} doc */
  pruneSelection(doc) {
    const nodeIds = new Set(doc.nodes.map((node) => node.id));
    const edgeIds = new Set(doc.edges.map((edge) => edge.id));
    for (const id of this.selectedNodes) if (!nodeIds.has(id)) this.selectedNodes.delete(id);
    for (const id of this.selectedEdges) if (!edgeIds.has(id)) this.selectedEdges.delete(id);
  }

  /**
   * Record an edit: recompute linked fields, then one undo step.
   * @param {CanvasNode[]} nodes
   * @param {CanvasEdge[]} edges
   * @param {string} label
   * @param {string} [mergeKey]
   */
  apply(nodes, edges, label, mergeKey) {
    this.store.commit({ nodes: applyLinks(nodes, edges, this.registry), edges }, label, mergeKey);
  }

  /** Say no to an edit of a read-only canvas; true when refused. */
  refuseReadOnly() {
    if (!this.readOnly) return false;
    this.toast(this.readOnlyReason, "error");
    return true;
  }

  // -- Editing ------------------------------------------------------------------

  /**
   * Add a node of a kind, centred on a point (the view's centre by default).
   * @param {string} key
   * @param {Point} [at]
   * @returns {string|null} the new node's id
   */
  addNode(key, at) {
    if (this.refuseReadOnly()) return null;
    const kind = this.registry.kind(key);
    if (!kind) return null;
    const doc = this.store.doc;
    const id = this.registry.newNodeId(key, new Set(doc.nodes.map((node) => node.id)));
    const centre = at ?? this.freeSpotNear(this.scene.centre());
    /** @type {CanvasNode} */
    const node = {
      id,
      type: key,
      position: { x: Math.round(centre.x - 110), y: Math.round(centre.y - 48) },
      data: this.registry.newNodeData(key, this.uniqueName(key, id)),
    };
    this.apply([...doc.nodes, node], doc.edges, `add ${kind.label}`);
    emit(this.root, "canvas:node-added", { node });
    this.select([id], [], true);
    // Keyboard users go on typing the new node's name.
    /** @type {HTMLElement|null} */ (this.panel.element.querySelector('[data-path="name"]'))?.focus();
    this.toast(`${kind.label} ${id} added.`);
    return id;
  }

  /**
   * Move a point down until no node's top-left corner sits there, so nodes
   * added one after another at the centre do not hide each other.
   * @param {Point} point
   */
  freeSpotNear(point) {
    const spot = { ...point };
    const taken = (/** @type {Point} */ p) =>
      this.store.doc.nodes.some((n) => Math.abs(n.position.x - (p.x - 110)) < 30 && Math.abs(n.position.y - (p.y - 48)) < 30);
    for (let tries = 0; tries < 50 && taken(spot); tries += 1) {
      spot.x += 30;
      spot.y += 30;
    }
    return spot;
  }

  /**
   * Return a name no node of the kind uses yet.
   * @param {string} key
   * @param {string} wanted
   */
  uniqueName(key, wanted) {
    const used = new Set(this.store.doc.nodes.filter((n) => n.type === key).map((n) => n.data.name));
    if (!used.has(wanted)) return wanted;
    for (let n = 2; ; n += 1) if (!used.has(`${wanted}-${n}`)) return `${wanted}-${n}`;
  }

  /**
   * Replace a node's data (an edit in the settings panel).
   * @param {string} id
   * @param {any} data
   * @param {string} key the edited field, for merging keystrokes
   */
  updateNodeData(id, data, key) {
    if (this.refuseReadOnly()) return;
    const doc = this.store.doc;
    const nodes = doc.nodes.map((node) => (node.id === id ? { ...node, data } : node));
    this.apply(nodes, doc.edges, `edit ${key}`, `${id}:${key}`);
  }

  /**
   * Change an edge: its target, its source port or its data.
   * @param {string} id
   * @param {Partial<CanvasEdge>} change
   * @param {string} key
   */
  updateEdge(id, change, key) {
    if (this.refuseReadOnly()) return;
    const doc = this.store.doc;
    const edge = doc.edges.find((e) => e.id === id);
    if (!edge) return;
    const next = { ...edge, ...change };
    if (change.target || change.sourceHandle) {
      const others = doc.edges.filter((e) => e.id !== id);
      const refusal = this.linkRefusal(next.source, next.sourceHandle, next.target, others);
      if (refusal) {
        this.refuse(next.source, next.target, refusal);
        this.panel.open({ type: "edge", id });
        return;
      }
    }
    const edges = doc.edges.map((e) => (e.id === id ? next : e));
    this.apply(doc.nodes, edges, change.target ? "re-target link" : `edit link ${key}`, `${id}:${key}`);
    if (change.target) this.panel.open({ type: "edge", id });
  }

  /**
   * Say why a link cannot be drawn, or "" when it can.
   * @param {string} sourceId
   * @param {string} handle
   * @param {string} targetId
   * @param {CanvasEdge[]} edges the other edges
   */
  linkRefusal(sourceId, handle, targetId, edges) {
    const doc = this.store.doc;
    const source = doc.nodes.find((n) => n.id === sourceId);
    const target = doc.nodes.find((n) => n.id === targetId);
    if (!source || !target) return "Both ends of a link must be nodes on the canvas.";
    if (source.id === target.id) return "An edge cannot link a node to itself.";
    const rule = this.registry.ruleFor(source.type, target.type);
    if (!rule) return this.registry.refusal(source.type, target.type);
    if (edges.some((e) => e.source === sourceId && e.sourceHandle === handle && e.target === targetId)) {
      return "These two nodes are already linked.";
    }
    const sameRule = (/** @type {CanvasEdge} */ e) => {
      const s = doc.nodes.find((n) => n.id === e.source);
      const t = doc.nodes.find((n) => n.id === e.target);
      return !!s && !!t && this.registry.ruleFor(s.type, t.type) === rule;
    };
    if (rule.maxPerSourceHandle) {
      const taken = edges.filter((e) => e.source === sourceId && e.sourceHandle === handle && sameRule(e));
      if (taken.length >= rule.maxPerSourceHandle) {
        const first = taken[0].target;
        return handle.startsWith("path-")
          ? `Path port '${handle}' of '${sourceId}' already leads to '${first}'; a path has one backend.`
          : `${withArticle(this.registry.label(source.type)).replace(/^a/, "A")} links to one workload; '${sourceId}' already links to '${first}'. Drag the end of that link to re-target it.`;
      }
    }
    if (rule.maxPerTarget) {
      const taken = edges.filter((e) => e.target === targetId && sameRule(e));
      if (taken.length >= rule.maxPerTarget) {
        return `'${targetId}' is already scaled by '${taken[0].source}'; a workload takes one HPA.`;
      }
    }
    const sourceNs = source.data.namespace || "";
    const targetNs = target.data.namespace || "";
    if (sourceNs !== targetNs) {
      return `'${source.id}' and '${target.id}' are in different namespaces: a link works only within one namespace.`;
    }
    return "";
  }

  /**
   * Link two nodes from a source port, or say why not.
   * @param {string} sourceId
   * @param {string} handle
   * @param {string} targetId
   * @returns {boolean}
   */
  connect(sourceId, handle, targetId) {
    if (this.refuseReadOnly()) return false;
    const doc = this.store.doc;
    const refusal = this.linkRefusal(sourceId, handle, targetId, doc.edges);
    if (refusal) {
      this.refuse(sourceId, targetId, refusal);
      return false;
    }
    const source = /** @type {CanvasNode} */ (doc.nodes.find((n) => n.id === sourceId));
    const target = /** @type {CanvasNode} */ (doc.nodes.find((n) => n.id === targetId));
    const rule = /** @type {import("./registry.js").EdgeRule} */ (this.registry.ruleFor(source.type, target.type));
    const edge = {
      id: this.newEdgeId(sourceId, handle, targetId),
      source: sourceId,
      target: targetId,
      sourceHandle: handle,
      targetHandle: rule.targetHandle,
      data: this.registry.newEdgeData(rule),
    };
    this.apply(doc.nodes, [...doc.edges, edge], `link ${source.data.name || sourceId} → ${target.data.name || targetId}`);
    emit(this.root, "canvas:edge-added", { edge });
    this.toast(`Linked ${source.data.name || sourceId} → ${target.data.name || targetId}.`);
    return true;
  }

  /**
   * @param {string} sourceId
   * @param {string} targetId
   * @param {string} reason
   */
  refuse(sourceId, targetId, reason) {
    emit(this.root, "canvas:edge-refused", { source: sourceId, target: targetId, reason });
    this.toast(reason, "error");
  }

  /**
   * @param {string} source
   * @param {string} handle
   * @param {string} target
   */
  newEdgeId(source, handle, target) {
    const taken = new Set(this.store.doc.edges.map((e) => e.id));
    const base = `e-${source}-${handle}-${target}`;
    if (!taken.has(base)) return base;
    for (let n = 2; ; n += 1) if (!taken.has(`${base}-${n}`)) return `${base}-${n}`;
  }

  /**
   * Pick the output port of a node that may link to a target: for an
   * Ingress, its first path without a backend.
   * @param {CanvasNode} source
   * @param {CanvasNode} target
   */
  portFor(source, target) {
    const rule = this.registry.ruleFor(source.type, target.type);
    const outs = this.registry.portsOf(source).filter((port) => port.direction === "out");
    if (!rule || !outs.length) return outs[0]?.handle ?? "out";
    const used = new Set(this.store.doc.edges.filter((e) => e.source === source.id).map((e) => e.sourceHandle));
    return (outs.find((port) => !used.has(port.handle)) ?? outs[0]).handle;
  }

  /** @param {string[]} ids */
  removeEdges(ids) {
    if (this.refuseReadOnly() || !ids.length) return;
    const doc = this.store.doc;
    const gone = new Set(ids);
    this.apply(doc.nodes, doc.edges.filter((e) => !gone.has(e.id)), ids.length > 1 ? `delete ${ids.length} links` : "delete link");
    emit(this.root, "canvas:edge-removed", { ids });
  }

  deleteSelection() {
    if (this.refuseReadOnly()) return;
    const nodeIds = new Set(this.selectedNodes);
    const edgeIds = new Set(this.selectedEdges);
    if (!nodeIds.size && !edgeIds.size) return;
    const doc = this.store.doc;
    const nodes = doc.nodes.filter((n) => !nodeIds.has(n.id));
    const edges = doc.edges.filter((e) => !edgeIds.has(e.id) && !nodeIds.has(e.source) && !nodeIds.has(e.target));
    const what = nodeIds.size ? `${nodeIds.size} node${nodeIds.size > 1 ? "s" : ""}` : `${edgeIds.size} link${edgeIds.size > 1 ? "s" : ""}`;
    this.apply(nodes, edges, `delete ${what}`);
    this.closePanel();
    if (nodeIds.size) emit(this.root, "canvas:nodes-removed", { ids: [...nodeIds] });
    this.toast(`Deleted ${what}. Ctrl/⌘ Z brings it back.`);
  }

  /**
   * Move nodes to new positions as one undo step.
   * @param {Map<string, Point>} positions
   * @param {string} label
   * @param {string} [mergeKey]
   */
  moveNodes(positions, label, mergeKey) {
    const doc = this.store.doc;
    const nodes = doc.nodes.map((node) => {
      const to = positions.get(node.id);
      return to ? { ...node, position: { x: Math.round(to.x), y: Math.round(to.y) } } : node;
    });
    this.store.commit({ nodes, edges: doc.edges }, label, mergeKey);
    emit(this.root, "canvas:node-moved", { ids: [...positions.keys()] });
  }

  /**
   * @param {number} dx
   * @param {number} dy
   */
  nudge(dx, dy) {
    if (this.refuseReadOnly() || !this.selectedNodes.size) return;
    /** @type {Map<string, Point>} */
    const positions = new Map();
    for (const node of this.store.doc.nodes) {
      if (this.selectedNodes.has(node.id)) positions.set(node.id, { x: node.position.x + dx, y: node.position.y + dy });
    }
    this.moveNodes(positions, "move", "nudge");
  }

  copy() {
    if (!this.selectedNodes.size) return;
    const doc = this.store.doc;
    const nodes = doc.nodes.filter((n) => this.selectedNodes.has(n.id));
    const edges = doc.edges.filter((e) => this.selectedNodes.has(e.source) && this.selectedNodes.has(e.target));
    this.clipboard = clone({ nodes, edges });
    this.pasteCount = 0;
    const text = JSON.stringify(this.clipboard);
    navigator.clipboard?.writeText(text).catch(() => {
      // The page may not be allowed to write the system clipboard; the
      // editor's own clipboard still works.
    });
    this.toast(`Copied ${nodes.length} node${nodes.length > 1 ? "s" : ""}.`);
  }

  paste() {
    if (this.refuseReadOnly() || !this.clipboard) return;
    this.pasteCount += 1;
    this.insertCopies(this.clipboard, 40 * this.pasteCount, "paste");
  }

  duplicate() {
    if (this.refuseReadOnly() || !this.selectedNodes.size) return;
    const doc = this.store.doc;
    const nodes = doc.nodes.filter((n) => this.selectedNodes.has(n.id));
    const edges = doc.edges.filter((e) => this.selectedNodes.has(e.source) && this.selectedNodes.has(e.target));
    this.insertCopies(clone({ nodes, edges }), 40, "duplicate");
  }

  /**
   * Add copies of nodes (new ids and names) and of the edges among them.
   * @param {Doc} copied
   * @param {number} offset
   * @param {string} label
   */
  insertCopies(copied, offset, label) {
    const doc = this.store.doc;
    const taken = new Set(doc.nodes.map((n) => n.id));
    /** @type {Map<string, string>} */
    const ids = new Map();
    /** @type {CanvasNode[]} */
    const added = [];
    for (const node of copied.nodes) {
      const id = this.registry.newNodeId(node.type, taken);
      taken.add(id);
      ids.set(node.id, id);
      const data = Object.fromEntries(Object.entries(clone(node.data)).filter(([key]) => !key.startsWith("_linked")));
      if (typeof data.name === "string") data.name = this.uniqueCopyName(node.type, data.name, added);
      added.push({ id, type: node.type, position: { x: node.position.x + offset, y: node.position.y + offset }, data });
    }
    const edges = copied.edges.map((edge) => {
      const source = /** @type {string} */ (ids.get(edge.source));
      const target = /** @type {string} */ (ids.get(edge.target));
      return { ...clone(edge), id: `e-${source}-${edge.sourceHandle}-${target}`, source, target };
    });
    this.apply([...doc.nodes, ...added], [...doc.edges, ...edges], `${label} ${added.length} node${added.length > 1 ? "s" : ""}`);
    this.select(added.map((n) => n.id), [], false);
  }

  /**
   * @param {string} type
   * @param {string} name
   * @param {CanvasNode[]} added
   */
  uniqueCopyName(type, name, added) {
    const used = new Set([...this.store.doc.nodes, ...added].filter((n) => n.type === type).map((n) => n.data.name));
    const stem = name.replace(/-copy(-\d+)?$/, "");
    for (let n = 1; ; n += 1) {
      const candidate = n === 1 ? `${stem}-copy` : `${stem}-copy-${n}`;
      if (!used.has(candidate)) return candidate;
    }
  }

  undo() {
    if (this.refuseReadOnly()) return;
    const label = this.store.undo();
    this.toast(label ? `Undid ${label}.` : "Nothing to undo.");
  }

  redo() {
    if (this.refuseReadOnly()) return;
    const label = this.store.redo();
    this.toast(label ? `Redid ${label}.` : "Nothing to redo.");
  }

  async autoLayout() {
    if (this.refuseReadOnly() || !this.store.doc.nodes.length) return;
    try {
      const positions = await layeredPositions(this.store.doc, (id) => {
        const entry = this.scene.nodes.get(id);
        return { w: entry?.w ?? 220, h: entry?.h ?? 96 };
      });
      this.moveNodes(positions, "auto-layout");
      this.scene.fit();
    } catch (error) {
      this.toast(`Auto-layout failed: ${error instanceof Error ? error.message : error}`, "error");
    }
  }

  // -- Selection and the panel ------------------------------------------------

  /**
   * @param {string[]} nodeIds
   * @param {string[]} edgeIds
   * @param {boolean} openPanel open the panel on a single node or edge
   */
  select(nodeIds, edgeIds, openPanel) {
    this.selectedNodes = new Set(nodeIds);
    this.selectedEdges = new Set(edgeIds);
    this.scene.setSelection(this.selectedNodes, this.selectedEdges);
    if (openPanel && nodeIds.length === 1 && !edgeIds.length) this.panel.open({ type: "node", id: nodeIds[0] });
    else if (openPanel && edgeIds.length === 1 && !nodeIds.length) this.panel.open({ type: "edge", id: edgeIds[0] });
    emit(this.root, "canvas:selection-changed", { nodes: nodeIds, edges: edgeIds });
  }

  selectAll() {
    this.select(this.store.doc.nodes.map((n) => n.id), [], false);
  }

  closePanel() {
    this.panel.open(null);
  }

  /** Select the first node or edge with a server error and open it. */
  focusFirstError() {
    const nodeId = Object.keys(this.errors.nodes)[0];
    if (nodeId && this.store.node(nodeId)) {
      this.select([nodeId], [], true);
      this.scene.nodeElement(nodeId)?.scrollIntoView?.({ block: "nearest" });
      this.centreOn(nodeId);
      return;
    }
    const edgeId = Object.keys(this.errors.edges)[0];
    if (edgeId) this.select([], [edgeId], true);
  }

  /** @param {string} nodeId */
  centreOn(nodeId) {
    const entry = this.scene.nodes.get(nodeId);
    if (!entry) return;
    const rect = this.viewport.getBoundingClientRect();
    const k = this.scene.view.k;
    this.scene.setView({ x: rect.width / 2 - (entry.x + entry.w / 2) * k, y: rect.height / 2 - (entry.y + entry.h / 2) * k, k });
  }

  /**
   * @param {boolean} readOnly
   * @param {string} [reason]
   */
  setReadOnly(readOnly, reason) {
    this.readOnly = readOnly;
    if (reason) this.readOnlyReason = reason;
    this.root.classList.toggle("kc-read-only", readOnly);
    this.palette.setReadOnly(readOnly);
    this.layoutButton.disabled = readOnly;
    this.syncHistoryButtons();
    const subject = this.panel.subject;
    this.panel.open(subject);
  }

  /**
   * Show a short message over the canvas.
   * @param {string} message
   * @param {"info"|"error"} [level]
   */
  toast(message, level = "info") {
    const note = el("p", { class: `kc-toast ${level}`, role: level === "error" ? "alert" : null, text: message });
    this.toasts.append(note);
    while (this.toasts.children.length > 4) this.toasts.firstElementChild?.remove();
    setTimeout(() => note.remove(), level === "error" ? 8000 : 3500);
  }

  /** Return the canvas as the API takes it. */
  canvas() {
    return clone(this.store.doc);
  }

  // -- Pointer: pan, zoom, select, drag, link -----------------------------------

  bindPointer() {
    const viewport = this.viewport;
    viewport.addEventListener("pointerdown", (event) => this.pointerDown(event));
    viewport.addEventListener("wheel", (event) => {
      event.preventDefault();
      const factor = Math.exp(-clamp(event.deltaY, -100, 100) / 300);
      this.scene.zoomBy(factor, event.clientX, event.clientY);
    }, { passive: false });
    viewport.addEventListener("dragover", (event) => {
      if (this.readOnly || !event.dataTransfer?.types.includes(KIND_MIME)) return;
      event.preventDefault();
      event.dataTransfer.dropEffect = "copy";
    });
    viewport.addEventListener("drop", (event) => {
      const key = event.dataTransfer?.getData(KIND_MIME);
      if (!key) return;
      event.preventDefault();
      this.addNode(key, this.scene.toWorld(event.clientX, event.clientY));
    });
    viewport.addEventListener("focusin", (event) => {
      const card = /** @type {HTMLElement} */ (event.target).closest?.(".kc-node");
      const id = /** @type {HTMLElement|null} */ (card)?.dataset.id;
      if (id && !this.selectedNodes.has(id)) this.select([id], [], false);
    });
  }

  /** @param {PointerEvent} event */
  pointerDown(event) {
    if (event.button !== 0 && event.button !== 1) return;
    const target = /** @type {Element} */ (event.target);
    const port = /** @type {HTMLElement|null} */ (target.closest(".kc-port"));
    const card = /** @type {HTMLElement|null} */ (target.closest(".kc-node"));
    const edgeHit = target.closest(".kc-edge-hit");
    if (event.button === 1) return this.drag(event, this.panGesture());
    if (port && card && !this.readOnly) return this.drag(event, this.linkGesture(card.dataset.id ?? "", port));
    if (card) return this.drag(event, this.nodeGesture(card.dataset.id ?? "", event.shiftKey));
    if (edgeHit) return this.drag(event, this.edgeGesture(edgeHit.getAttribute("data-id") ?? "", event));
    if (event.shiftKey) return this.drag(event, this.boxGesture(event));
    this.viewport.focus({ preventScroll: true });
    return this.drag(event, this.panGesture(true));
  }

  /**
   * Follow one pointer gesture, handling at most one move per frame.
   * @param {PointerEvent} down
   * @param {{move: (e: PointerEvent, moved: boolean) => void, up: (e: PointerEvent, moved: boolean) => void}} gesture
   */
  drag(down, gesture) {
    down.preventDefault();
    const viewport = this.viewport;
    viewport.setPointerCapture(down.pointerId);
    let moved = false;
    /** @type {PointerEvent|null} */
    let pending = null;
    let frame = 0;
    const flush = () => {
      frame = 0;
      if (pending) gesture.move(pending, moved);
      pending = null;
    };
    /** @param {PointerEvent} event */
    const onMove = (event) => {
      if (!moved && Math.hypot(event.clientX - down.clientX, event.clientY - down.clientY) < this.config.dragThreshold) return;
      moved = true;
      pending = event;
      if (!frame) frame = requestAnimationFrame(flush);
    };
    /** @param {PointerEvent} event */
    const onUp = (event) => {
      viewport.removeEventListener("pointermove", onMove);
      viewport.removeEventListener("pointerup", onUp);
      viewport.removeEventListener("pointercancel", onUp);
      if (frame) cancelAnimationFrame(frame);
      if (pending) gesture.move(pending, moved);
      if (viewport.hasPointerCapture(event.pointerId)) viewport.releasePointerCapture(event.pointerId);
      gesture.up(event, moved);
    };
    viewport.addEventListener("pointermove", onMove);
    viewport.addEventListener("pointerup", onUp);
    viewport.addEventListener("pointercancel", onUp);
  }

  /** @param {boolean} [clearOnClick] */
  panGesture(clearOnClick = false) {
    let last = /** @type {{x: number, y: number}|null} */ (null);
    return {
      move: (/** @type {PointerEvent} */ e) => {
        if (last) this.scene.panBy(e.clientX - last.x, e.clientY - last.y);
        last = { x: e.clientX, y: e.clientY };
        this.viewport.classList.add("kc-panning");
      },
      up: (/** @type {PointerEvent} */ _e, /** @type {boolean} */ moved) => {
        this.viewport.classList.remove("kc-panning");
        if (!moved && clearOnClick) {
          this.select([], [], false);
          this.closePanel();
        }
      },
    };
  }

  /**
   * Click selects (and opens the panel); dragging moves the selection.
   * @param {string} id
   * @param {boolean} additive
   */
  nodeGesture(id, additive) {
    const start = { x: 0, y: 0 };
    /** @type {Map<string, Point>} */
    const origins = new Map();
    /** @type {Map<string, Point>} */
    const positions = new Map();
    let began = false;
    const begin = (/** @type {PointerEvent} */ e) => {
      began = true;
      if (!this.selectedNodes.has(id)) this.select(additive ? [...this.selectedNodes, id] : [id], [], false);
      for (const node of this.store.doc.nodes) if (this.selectedNodes.has(node.id)) origins.set(node.id, { ...node.position });
      Object.assign(start, this.scene.toWorld(e.clientX, e.clientY));
    };
    return {
      move: (/** @type {PointerEvent} */ e) => {
        if (this.readOnly) return;
        if (!began) begin(e);
        const at = this.scene.toWorld(e.clientX, e.clientY);
        for (const [nodeId, origin] of origins) positions.set(nodeId, { x: origin.x + at.x - start.x, y: origin.y + at.y - start.y });
        this.scene.preview(positions);
      },
      up: (/** @type {PointerEvent} */ _e, /** @type {boolean} */ moved) => {
        if (moved && positions.size && !this.readOnly) {
          this.moveNodes(positions, positions.size > 1 ? `move ${positions.size} nodes` : "move node");
          return;
        }
        if (additive) {
          const next = new Set(this.selectedNodes);
          if (next.has(id)) next.delete(id);
          else next.add(id);
          this.select([...next], [...this.selectedEdges], false);
        } else {
          this.select([id], [], true);
          this.scene.nodeElement(id)?.focus({ preventScroll: true });
        }
      },
    };
  }

  /**
   * Click selects an edge; dragging near its target end re-targets it.
   * @param {string} id
   * @param {PointerEvent} down
   */
  edgeGesture(id, down) {
    const edge = this.store.edge(id);
    const end = edge ? this.scene.portPoint(edge.target, edge.targetHandle) : null;
    const at = this.scene.toWorld(down.clientX, down.clientY);
    const nearEnd = !!end && Math.hypot(end.x - at.x, end.y - at.y) < 40 / this.scene.view.k;
    return {
      move: (/** @type {PointerEvent} */ e) => {
        if (!edge || !nearEnd || this.readOnly) return;
        const from = this.scene.portPoint(edge.source, edge.sourceHandle);
        this.scene.drawDraft(from, this.scene.toWorld(e.clientX, e.clientY));
        this.viewport.classList.add("kc-linking");
      },
      up: (/** @type {PointerEvent} */ e, /** @type {boolean} */ moved) => {
        this.scene.drawDraft(null);
        this.viewport.classList.remove("kc-linking");
        if (!edge) return;
        if (!moved || !nearEnd || this.readOnly) {
          this.select([], [id], true);
          return;
        }
        const dropped = this.nodeAt(e.clientX, e.clientY);
        if (dropped && dropped !== edge.target) this.updateEdge(id, { target: dropped }, "target");
      },
    };
  }

  /**
   * Draw a link from a port; refused drops say why.
   * @param {string} nodeId
   * @param {HTMLElement} port
   */
  linkGesture(nodeId, port) {
    const handle = port.dataset.handle ?? "out";
    const reverse = port.dataset.direction === "in";
    const node = this.store.node(nodeId);
    const from = this.scene.portPoint(nodeId, handle);
    const accepts = (/** @type {CanvasNode} */ other) =>
      !!node && other.id !== node.id && !!(reverse ? this.registry.ruleFor(other.type, node.type) : this.registry.ruleFor(node.type, other.type));
    return {
      move: (/** @type {PointerEvent} */ e) => {
        if (!this.viewport.classList.contains("kc-linking")) {
          this.viewport.classList.add("kc-linking");
          this.scene.markTargets(accepts);
        }
        this.scene.drawDraft(from, this.scene.toWorld(e.clientX, e.clientY), reverse);
      },
      up: (/** @type {PointerEvent} */ e, /** @type {boolean} */ moved) => {
        this.scene.drawDraft(null);
        this.scene.markTargets(null);
        this.viewport.classList.remove("kc-linking");
        if (!moved || !node) return;
        const dropped = this.nodeAt(e.clientX, e.clientY);
        if (!dropped) return;
        const other = /** @type {CanvasNode} */ (this.store.node(dropped));
        if (!reverse) {
          this.connect(nodeId, handle, dropped);
        } else if (this.registry.ruleFor(other.type, node.type)) {
          this.connect(dropped, this.portFor(other, node), nodeId);
        } else {
          this.refuse(dropped, nodeId, this.registry.refusal(other.type, node.type));
        }
      },
    };
  }

  /** @param {PointerEvent} down */
  boxGesture(down) {
    const rect = this.viewport.getBoundingClientRect();
    const box = this.box;
    const start = this.scene.toWorld(down.clientX, down.clientY);
    const before = [...this.selectedNodes];
    return {
      move: (/** @type {PointerEvent} */ e) => {
        const x = Math.min(down.clientX, e.clientX) - rect.left;
        const y = Math.min(down.clientY, e.clientY) - rect.top;
        box.hidden = false;
        box.style.transform = `translate(${x}px, ${y}px)`;
        box.style.width = `${Math.abs(e.clientX - down.clientX)}px`;
        box.style.height = `${Math.abs(e.clientY - down.clientY)}px`;
      },
      up: (/** @type {PointerEvent} */ e) => {
        box.hidden = true;
        const end = this.scene.toWorld(e.clientX, e.clientY);
        const inside = this.scene.nodesIn({
          x: Math.min(start.x, end.x),
          y: Math.min(start.y, end.y),
          w: Math.abs(end.x - start.x),
          h: Math.abs(end.y - start.y),
        });
        this.select([...new Set([...before, ...inside])], [], false);
        if (inside.length) this.toast(`${this.selectedNodes.size} node${this.selectedNodes.size > 1 ? "s" : ""} selected.`);
      },
    };
  }

  /**
   * Return the id of the node under a client point.
   * @param {number} clientX
   * @param {number} clientY
   */
  nodeAt(clientX, clientY) {
    for (const element of document.elementsFromPoint(clientX, clientY)) {
      const card = /** @type {HTMLElement|null} */ (element.closest(".kc-node"));
      if (card?.dataset.id) return card.dataset.id;
    }
    return null;
  }

  // -- Keyboard -------------------------------------------------------------------

  bindKeys() {
    document.addEventListener("keydown", (event) => this.key(event));
  }

  /** @param {KeyboardEvent} event */
  key(event) {
    const mod = commandKey(event);
    const key = event.key.toLowerCase();
    if (mod && key === "k") {
      event.preventDefault();
      if (this.commandPalette.isOpen) this.commandPalette.close();
      else this.commandPalette.open();
      return;
    }
    if (this.commandPalette.isOpen || this.shortcuts.dialog.open || event.defaultPrevented) return;
    if (isTyping(event.target)) {
      if (event.key === "Escape" && this.panel.element.contains(/** @type {Node} */ (event.target))) this.viewport.focus();
      return;
    }
    if (!this.inScope(event.target)) return;
    if (!mod && event.key !== "?" && !this.onCanvas(event.target)) return;
    const handled = mod ? this.commandShortcut(key, event.shiftKey) : this.plainShortcut(event);
    if (handled) event.preventDefault();
  }

  /**
   * Whether a key press belongs to the editor (not to another page widget).
   * @param {EventTarget|null} target
   */
  inScope(target) {
    return target === document.body || target === document.documentElement || (target instanceof Node && this.root.contains(target));
  }

  /**
   * Whether the focus is on the canvas itself (or nowhere), where plain keys
   * are shortcuts; on a button or link they keep their usual meaning.
   * @param {EventTarget|null} target
   */
  onCanvas(target) {
    if (target === document.body || target === document.documentElement) return true;
    return target instanceof HTMLElement && (target === this.viewport || target.classList.contains("kc-node"));
  }

  /**
   * @param {string} key
   * @param {boolean} shift
   */
  commandShortcut(key, shift) {
    if (key === "z" && shift) this.redo();
    else if (key === "z" || (key === "y" && !shift)) (key === "y" ? this.redo() : this.undo());
    else if (key === "a") this.selectAll();
    else if (key === "c") this.copy();
    else if (key === "v") this.paste();
    else if (key === "d") this.duplicate();
    else return false;
    return true;
  }

  /** @param {KeyboardEvent} event */
  plainShortcut(event) {
    const step = event.shiftKey ? this.config.nudge * 5 : this.config.nudge;
    const target = /** @type {HTMLElement} */ (event.target);
    switch (event.key) {
      case "?":
        this.shortcuts.toggle();
        return true;
      case "Delete":
      case "Backspace":
        this.deleteSelection();
        return true;
      case "Escape":
        if (this.panel.subject) this.closePanel();
        else this.select([], [], false);
        return true;
      case "Enter": {
        const card = /** @type {HTMLElement|null} */ (target.closest?.(".kc-node"));
        const id = card?.dataset.id ?? (this.selectedNodes.size === 1 ? [...this.selectedNodes][0] : "");
        if (!id) return false;
        this.select([id], [], true);
        /** @type {HTMLElement|null} */ (this.panel.element.querySelector("input,select,textarea"))?.focus();
        return true;
      }
      case "ArrowLeft":
        return this.selectedNodes.size > 0 && (this.nudge(-step, 0), true);
      case "ArrowRight":
        return this.selectedNodes.size > 0 && (this.nudge(step, 0), true);
      case "ArrowUp":
        return this.selectedNodes.size > 0 && (this.nudge(0, -step), true);
      case "ArrowDown":
        return this.selectedNodes.size > 0 && (this.nudge(0, step), true);
      case "f":
      case "F":
        this.scene.fit();
        return true;
      case "l":
      case "L":
        this.autoLayout();
        return true;
      case "+":
      case "=":
        this.scene.zoomBy(1.2);
        return true;
      case "-":
        this.scene.zoomBy(1 / 1.2);
        return true;
      default:
        return false;
    }
  }

  // -- Events from the page ---------------------------------------------------

  bindEvents() {
    this.root.addEventListener("canvas:validation", (event) => {
      const errors = /** @type {CustomEvent} */ (event).detail ?? {};
      this.errors = { nodes: errors.nodes ?? {}, edges: errors.edges ?? {}, canvas: errors.canvas ?? [] };
      this.scene.setErrors(this.errors.nodes, this.errors.edges);
      this.panel.showErrors();
    });
    this.root.addEventListener("canvas:server-canvas", (event) => this.takeServerCanvas(/** @type {CustomEvent} */ (event).detail));
    this.root.addEventListener("canvas:load", (event) => {
      const { nodes, edges, label } = /** @type {CustomEvent} */ (event).detail;
      this.apply(clone(nodes), clone(edges), label ?? "reload");
    });
    this.root.addEventListener("canvas:set-read-only", (event) => {
      const { readOnly, reason } = /** @type {CustomEvent} */ (event).detail;
      this.setReadOnly(readOnly, reason);
    });
    this.root.addEventListener("canvas:status", (event) => {
      const statuses = /** @type {CustomEvent} */ (event).detail?.nodes ?? {};
      for (const [id, status] of Object.entries(statuses)) this.scene.setStatus(id, status);
    });
  }

  /**
   * Take the canvas the server stored, if nothing was edited since it was
   * sent: the server's linked fields and defaults win.
   * @param {{nodes: CanvasNode[], edges: CanvasEdge[], version: number}} detail
   */
  takeServerCanvas(detail) {
    if (detail.version !== this.store.version) return;
    const current = new Map(this.store.doc.nodes.map((n) => [n.id, n]));
    const nodes = detail.nodes.map((node) => {
      const mine = current.get(node.id);
      // Keep my objects where nothing differs, so nothing is redrawn.
      if (mine && JSON.stringify(mine.data) === JSON.stringify(node.data) && mine.type === node.type) {
        return mine.position.x === node.position.x && mine.position.y === node.position.y ? mine : { ...mine, position: node.position };
      }
      return node;
    });
    const edgesSame = JSON.stringify(this.store.doc.edges) === JSON.stringify(detail.edges);
    const edges = edgesSame ? this.store.doc.edges : detail.edges;
    const changed = nodes.some((n, i) => n !== this.store.doc.nodes[i]) || nodes.length !== this.store.doc.nodes.length || !edgesSame;
    if (changed) this.store.replace({ nodes, edges }, "server");
  }
}
