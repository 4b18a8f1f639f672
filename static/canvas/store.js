// @ts-check
/**
 * The canvas document (nodes and edges) with its undo history.
 *
 * Nodes, edges and the arrays holding them are never changed in place: an
 * edit makes new objects for what it changes and shares the rest, so a
 * history entry is only two array references and a change can be found by
 * identity.
 * @module canvas/store
 */
"use strict";

/**
 * @typedef {import("./registry.js").CanvasNode} CanvasNode
 * @typedef {import("./registry.js").CanvasEdge} CanvasEdge
 * @typedef {{nodes: CanvasNode[], edges: CanvasEdge[]}} Doc
 * @typedef {{doc: Doc, label: string}} Entry
 * @typedef {{doc: Doc, previous: Doc, reason: string, label?: string}} Change
 */

const HISTORY_LIMIT = 200;
/** Edits of one field within this time make one undo step. */
const MERGE_WINDOW_MS = 1200;

export class Store {
  /** @param {Doc} doc */
  constructor(doc) {
    /** @type {Doc} */
    this.doc = doc;
    /** @type {Entry[]} */
    this.past = [];
    /** @type {Entry[]} */
    this.future = [];
    /** @type {Set<(change: Change) => void>} */
    this.listeners = new Set();
    this.mergeKey = "";
    this.mergeUntil = 0;
    /** Counts every change, so a save can tell whether edits followed it. */
    this.version = 0;
  }

  /** @param {(change: Change) => void} listener */
  subscribe(listener) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** @param {string} id */
  node(id) {
    return this.doc.nodes.find((node) => node.id === id);
  }

  /** @param {string} id */
  edge(id) {
    return this.doc.edges.find((edge) => edge.id === id);
  }

  /**
   * Record an edit as one undo step.
   * @param {Doc} next
   * @param {string} label what the user did, shown in the undo tooltip
   * @param {string} [mergeKey] consecutive edits with this key merge
   */
  commit(next, label, mergeKey = "") {
    if (next.nodes === this.doc.nodes && next.edges === this.doc.edges) return;
    const now = Date.now();
    const merges = mergeKey && mergeKey === this.mergeKey && now < this.mergeUntil;
    if (!merges) {
      this.past.push({ doc: this.doc, label });
      if (this.past.length > HISTORY_LIMIT) this.past.shift();
    }
    this.mergeKey = mergeKey;
    this.mergeUntil = now + MERGE_WINDOW_MS;
    this.future = [];
    this.set(next, "edit", label);
  }

  /**
   * Replace the document without an undo step (the server's answer).
   * @param {Doc} next
   * @param {string} reason
   */
  replace(next, reason) {
    this.set(next, reason);
  }

  /** Go back one step; return its label, or "" when there is none. */
  undo() {
    const entry = this.past.pop();
    if (!entry) return "";
    this.future.push({ doc: this.doc, label: entry.label });
    this.mergeKey = "";
    this.set(entry.doc, "undo", entry.label);
    return entry.label;
  }

  /** Go forward one step; return its label, or "" when there is none. */
  redo() {
    const entry = this.future.pop();
    if (!entry) return "";
    this.past.push({ doc: this.doc, label: entry.label });
    this.mergeKey = "";
    this.set(entry.doc, "redo", entry.label);
    return entry.label;
  }

  /** Stop merging the next edit into the last one. */
  breakMerge() {
    this.mergeKey = "";
  }

  /**
   * @param {Doc} next
   * @param {string} reason
   * @param {string} [label]
   */
  set(next, reason, label) {
    const previous = this.doc;
    this.doc = next;
    this.version += 1;
    for (const listener of this.listeners) listener({ doc: next, previous, reason, label });
  }
}
