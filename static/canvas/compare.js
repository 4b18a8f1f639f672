// @ts-check
/**
 * The compare view: two versions drawn as one read-only canvas, nodes added
 * in green, removed in red, changed in amber, with each changed field
 * listed beside it (secret values arrive masked from the server).
 *
 * It opens on `canvas:compare` `{from, to}` (a version number or
 * "current") on the editor's root element, and draws with its own Scene,
 * so the editor's canvas and undo history are never touched.
 * @module canvas/compare
 */
"use strict";

import { request } from "./api.js";
import { el } from "./dom.js";
import { Scene } from "./scene.js";

/**
 * @typedef {import("./registry.js").Registry} Registry
 * @typedef {import("./registry.js").CanvasNode} CanvasNode
 * @typedef {import("./registry.js").CanvasEdge} CanvasEdge
 * @typedef {{path: string, before: any, after: any}} FieldChange
 * @typedef {{id: string, type: string, name: string|null, changes?: FieldChange[]}} NodeSummary
 * @typedef {{nodes: {added: NodeSummary[], removed: NodeSummary[],
 *   modified: NodeSummary[], moved: string[]}, edges: {added: any[],
 *   removed: any[], modified: any[]}, summary: Record<string, number>}} Comparison
 * @typedef {{versions: string, workflow: string, root: HTMLElement,
 *   registry: () => Registry}} CompareConfig
 */

/** The word and class of each kind of node change. */
const MARKS = {
  added: { word: "added", className: "vc-added" },
  removed: { word: "removed", className: "vc-removed" },
  modified: { word: "changed", className: "vc-changed" },
};

/**
 * Name a version reference for people.
 * @param {string} ref
 */
function refLabel(ref) {
  return ref === "current" ? "the canvas" : `version ${ref}`;
}

/**
 * Show a field value in one short line.
 * @param {any} value
 */
function shown(value) {
  if (value === undefined || value === null) return "(none)";
  return typeof value === "string" ? value : JSON.stringify(value);
}

export class CompareView {
  /** @param {CompareConfig} config */
  constructor(config) {
    this.config = config;
    this.title = el("h2", { id: "vc-title", text: "Compare" });
    this.summary = el("p", { class: "vc-summary", role: "status" });
    this.changes = el("div", { class: "vc-changes", tabindex: "0", "aria-label": "Changes" });
    this.viewport = el("div", { class: "vc-viewport", role: "img", "aria-label": "Both versions drawn together" });
    this.dialog = /** @type {HTMLDialogElement} */ (
      el(
        "dialog",
        { class: "vc-dialog", "aria-labelledby": "vc-title" },
        el(
          "header",
          { class: "vc-head" },
          this.title,
          el("ul", { class: "vc-legend", "aria-label": "Legend" }, el("li", { class: "vc-added", text: "added" }), el("li", { class: "vc-removed", text: "removed" }), el("li", { class: "vc-changed", text: "changed" })),
          el("form", { method: "dialog" }, el("button", { class: "button vc-close", text: "Close" }))
        ),
        this.summary,
        el("div", { class: "vc-body" }, this.viewport, this.changes)
      )
    );
    config.root.append(this.dialog);
    // Cards of the same ids as the editor's must not outlive the view.
    this.dialog.addEventListener("close", () => {
      this.viewport.replaceChildren();
      this.scene = null;
    });
    /** @type {Scene|null} */
    this.scene = null;
    config.root.addEventListener("canvas:compare", (event) => {
      const { from, to } = /** @type {CustomEvent} */ (event).detail;
      this.open(String(from), String(to));
    });
  }

  /**
   * Load both canvases and their comparison, then draw them.
   * @param {string} from
   * @param {string} to
   */
  async open(from, to) {
    this.title.textContent = `Compare ${refLabel(from)} with ${refLabel(to)}`;
    this.summary.textContent = "Loading…";
    this.changes.replaceChildren();
    if (!this.dialog.open) this.dialog.showModal();
    try {
      const query = new URLSearchParams({ from, to });
      const [comparison, before, after] = await Promise.all([
        request("GET", `${this.config.versions}/compare?${query}`),
        this.canvasOf(from),
        this.canvasOf(to),
      ]);
      this.draw(comparison, before, after);
    } catch (error) {
      this.summary.textContent = error instanceof Error ? error.message : String(error);
    }
  }

  /**
   * @param {string} ref
   * @returns {Promise<{nodes: CanvasNode[], edges: CanvasEdge[]}>}
   */
  canvasOf(ref) {
    return request("GET", ref === "current" ? this.config.workflow : `${this.config.versions}/${ref}`);
  }

  // -- Drawing ----------------------------------------------------------------

  /**
   * @param {Comparison} comparison
   * @param {{nodes: CanvasNode[], edges: CanvasEdge[]}} before
   * @param {{nodes: CanvasNode[], edges: CanvasEdge[]}} after
   */
  draw(comparison, before, after) {
    this.viewport.replaceChildren();
    this.scene = new Scene(this.viewport, this.config.registry());
    this.scene.render(this.merged(comparison, before, after));
    this.tint(comparison);
    this.summary.textContent = this.describe(comparison);
    this.listChanges(comparison);
    requestAnimationFrame(() => this.scene?.fit());
  }

  /**
   * Return one document: the newer canvas plus what the older one had.
   * @param {Comparison} comparison
   * @param {{nodes: CanvasNode[], edges: CanvasEdge[]}} before
   * @param {{nodes: CanvasNode[], edges: CanvasEdge[]}} after
   */
  merged(comparison, before, after) {
    const removedNodes = new Set(comparison.nodes.removed.map((node) => node.id));
    const removedEdges = new Set(comparison.edges.removed.map((edge) => edge.id));
    const nodes = [...after.nodes, ...before.nodes.filter((node) => removedNodes.has(node.id))];
    const edges = [...after.edges, ...before.edges.filter((edge) => removedEdges.has(edge.id))];
    return { nodes, edges };
  }

  /** @param {Comparison} comparison */
  tint(comparison) {
    const scene = /** @type {Scene} */ (this.scene);
    for (const [kind, mark] of Object.entries(MARKS)) {
      for (const node of /** @type {any} */ (comparison.nodes)[kind]) {
        const card = scene.nodeElement(node.id);
        if (!card) continue;
        card.classList.add(mark.className);
        card.dataset.diff = kind;
        card.setAttribute("aria-label", `${card.getAttribute("aria-label")} (${mark.word})`);
        card.tabIndex = -1;
      }
    }
    for (const [kind, className] of [["added", "vc-added"], ["removed", "vc-removed"], ["modified", "vc-changed"]]) {
      for (const edge of /** @type {any} */ (comparison.edges)[kind]) {
        const entry = scene.edges.get(edge.id);
        entry?.line.classList.add(className);
        entry?.line.setAttribute("data-diff", kind);
      }
    }
    for (const entry of scene.nodes.values()) entry.element.tabIndex = -1;
  }

  /** @param {Comparison} comparison */
  describe(comparison) {
    const s = comparison.summary;
    const parts = [
      `${s.nodes_added} added`,
      `${s.nodes_removed} removed`,
      `${s.nodes_modified} changed`,
      `${s.edges_added} link${s.edges_added === 1 ? "" : "s"} added`,
      `${s.edges_removed} removed`,
    ];
    return `Nodes: ${parts.slice(0, 3).join(", ")}. Links: ${parts.slice(3).join(", ")}.`;
  }

  /** @param {Comparison} comparison */
  listChanges(comparison) {
    const items = [];
    for (const [kind, mark] of Object.entries(MARKS)) {
      for (const node of /** @type {any} */ (comparison.nodes)[kind]) {
        items.push(this.nodeItem(node, kind, mark.word));
      }
    }
    for (const edge of comparison.edges.added) items.push(this.edgeItem(edge, "added"));
    for (const edge of comparison.edges.removed) items.push(this.edgeItem(edge, "removed"));
    if (!items.length) items.push(el("p", { class: "vc-none", text: "No differences." }));
    this.changes.replaceChildren(el("h3", { text: "Changes" }), el("ul", { class: "vc-list" }, ...items));
  }

  /**
   * @param {NodeSummary} node
   * @param {string} kind
   * @param {string} word
   */
  nodeItem(node, kind, word) {
    const fields = (node.changes ?? []).map((change) =>
      el(
        "li",
        { class: "vc-field", dataset: { path: change.path } },
        el("code", { text: change.path }),
        ": ",
        el("del", { text: shown(change.before) }),
        " → ",
        el("ins", { text: shown(change.after) })
      )
    );
    return el(
      "li",
      { class: `vc-item ${MARKS[/** @type {"added"} */ (kind)].className}`, dataset: { node: node.id, diff: kind } },
      el("strong", { text: node.name || node.id }),
      ` ${node.type} · ${word}`,
      fields.length ? el("ul", { class: "vc-fields" }, ...fields) : null
    );
  }

  /**
   * @param {any} edge
   * @param {string} kind
   */
  edgeItem(edge, kind) {
    return el("li", { class: `vc-item vc-edge-item vc-${kind}`, dataset: { edge: edge.id, diff: kind } }, `Link ${edge.source} → ${edge.target} · ${kind}`);
  }
}
