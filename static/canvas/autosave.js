// @ts-check
/**
 * Autosave: the canvas is saved about a second after the last edit, based on
 * the revision it was loaded at. A 409 never loses the user's edits: the
 * conflict dialog shows what differs and lets them reload or overwrite.
 *
 * It listens to the editor's `canvas:changed` events and answers with
 * `canvas:validation` (the server's errors) and `canvas:server-canvas` (what
 * the server stored), so the widget and the server never call each other.
 * @module canvas/autosave
 */
"use strict";

import { ApiError, request } from "./api.js";
import { el, emit } from "./dom.js";

/**
 * @typedef {import("./registry.js").CanvasNode} CanvasNode
 * @typedef {import("./registry.js").CanvasEdge} CanvasEdge
 * @typedef {{nodes: CanvasNode[], edges: CanvasEdge[], version: number}} Snapshot
 * @typedef {"saved"|"pending"|"saving"|"offline"|"conflict"|"invalid"|"error"|"read-only"} SaveState
 * @typedef {{saveUrl: string, workflowUrl: string, revision: number,
 *   readOnly: boolean, delay: number, indicator: HTMLElement|null,
 *   onProblems: () => void, onReadOnly: (state: string) => void}} AutosaveConfig
 */

/** The words of each state on the indicator. */
const LABELS = {
  saved: "All changes saved",
  pending: "Unsaved changes",
  saving: "Saving…",
  offline: "Offline: not saved, retrying",
  conflict: "Conflict: not saved",
  invalid: "Not saved: fix the problems",
  error: "Not saved",
  "read-only": "Read-only",
};

const RETRY_MS = [2000, 4000, 8000, 15000, 30000];

export class Autosave {
  /**
   * @param {HTMLElement} root the editor's root element
   * @param {Partial<AutosaveConfig>} options
   */
  constructor(root, options) {
    this.root = root;
    /** @type {AutosaveConfig} */
    this.config = {
      saveUrl: "",
      workflowUrl: "",
      revision: 0,
      readOnly: false,
      delay: 1000,
      indicator: null,
      onProblems: () => {},
      onReadOnly: () => {},
      ...options,
    };
    this.revision = this.config.revision;
    this.readOnly = this.config.readOnly;
    /** @type {Snapshot|null} */
    this.latest = null;
    // The editor's store counts changes from 0, the canvas as loaded.
    this.savedVersion = 0;
    /** @type {SaveState} */
    this.state = this.readOnly ? "read-only" : "saved";
    this.message = "";
    this.timer = 0;
    this.retries = 0;
    /** @type {Promise<void>|null} */
    this.inFlight = null;
    this.conflictText = el("p", { class: "kc-conflict-reason" });
    this.conflictDiff = el("div", { class: "kc-conflict-diff" });
    this.conflictActions = el("div", { class: "actions" });
    /** @type {[string, any]|null} the last conflict, to show it again */
    this.lastConflict = null;
    this.dialog = this.buildDialog();
    root.addEventListener("canvas:ready", () => this.show());
    root.addEventListener("canvas:changed", (event) => this.changed(/** @type {CustomEvent} */ (event).detail));
    window.addEventListener("online", () => {
      if (this.state === "offline") this.saveSoon(0);
    });
    window.addEventListener("beforeunload", (event) => {
      if (this.dirty) event.preventDefault();
    });
    this.config.indicator?.addEventListener("click", () => this.indicatorClicked());
    this.show();
  }

  /** Whether there are edits the server does not have. */
  get dirty() {
    return !!this.latest && this.latest.version !== this.savedVersion && !this.readOnly;
  }

  /** @param {{nodes: CanvasNode[], edges: CanvasEdge[], reason: string, version: number}} detail */
  changed(detail) {
    const wasClean = !this.dirty;
    this.latest = { nodes: detail.nodes, edges: detail.edges, version: detail.version };
    if (detail.reason === "server") {
      // The server's own answer replaced the canvas: nothing to send.
      if (wasClean) this.savedVersion = detail.version;
      return;
    }
    if (this.readOnly || this.state === "conflict") return;
    this.saveSoon(this.config.delay);
  }

  /** @param {number} delay */
  saveSoon(delay) {
    clearTimeout(this.timer);
    if (this.state !== "saving") this.setState("pending");
    this.timer = window.setTimeout(() => this.save(), delay);
  }

  /**
   * Send the latest canvas; one save at a time, the newest wins.
   * @returns {Promise<void>}
   */
  async save() {
    clearTimeout(this.timer);
    if (this.inFlight) {
      await this.inFlight;
      if (this.dirty) return this.save();
      return;
    }
    if (!this.latest || !this.dirty || this.state === "conflict") return;
    this.inFlight = this.send(this.latest);
    try {
      await this.inFlight;
    } finally {
      this.inFlight = null;
    }
    if (this.dirty && this.state === "pending") this.saveSoon(this.config.delay);
  }

  /** @param {Snapshot} snapshot */
  async send(snapshot) {
    this.setState("saving");
    try {
      const answer = await request("POST", this.config.saveUrl, {
        nodes: snapshot.nodes,
        edges: snapshot.edges,
        revision: this.revision,
      });
      this.revision = answer.revision;
      this.savedVersion = snapshot.version;
      this.retries = 0;
      emit(this.root, "canvas:validation", { nodes: {}, edges: {}, canvas: [] });
      emit(this.root, "canvas:server-canvas", { nodes: answer.nodes, edges: answer.edges, version: snapshot.version });
      this.setState(this.dirty ? "pending" : "saved");
    } catch (error) {
      await this.failed(error);
    }
  }

  /** @param {unknown} error */
  async failed(error) {
    if (!(error instanceof ApiError)) {
      this.setState("error", String(error));
      return;
    }
    if (error.offline) {
      const wait = RETRY_MS[Math.min(this.retries, RETRY_MS.length - 1)];
      this.retries += 1;
      this.setState("offline", `${error.message} Retrying in ${Math.round(wait / 1000)} s.`);
      this.timer = window.setTimeout(() => this.save(), wait);
      return;
    }
    if (error.status === 400 && error.body && ("nodes" in error.body || "edges" in error.body || "canvas" in error.body)) {
      this.invalid(error.body);
      return;
    }
    if (error.status === 409) {
      await this.conflict(error.message);
      return;
    }
    this.setState("error", error.message);
  }

  /** @param {any} body the 400 answer: errors per node, edge and canvas */
  invalid(body) {
    const errors = {
      nodes: isMap(body.nodes) ? body.nodes : {},
      edges: isMap(body.edges) ? body.edges : {},
      canvas: Array.isArray(body.canvas) ? body.canvas : [],
    };
    // A DRF shape error ({"nodes": ["Expected a list"]}) is about the canvas.
    if (Array.isArray(body.nodes)) errors.canvas.push(...body.nodes.map(String));
    if (Array.isArray(body.edges)) errors.canvas.push(...body.edges.map(String));
    emit(this.root, "canvas:validation", errors);
    const count = countProblems(errors);
    const first = firstProblem(errors);
    this.setState("invalid", `${count} problem${count === 1 ? "" : "s"}: ${first}`);
  }

  /** @param {string} message the server's reason */
  async conflict(message) {
    this.setState("conflict", message);
    let theirs;
    try {
      theirs = await request("GET", this.config.workflowUrl);
    } catch (error) {
      this.setState("conflict", `${message} (${error instanceof Error ? error.message : error})`);
      return;
    }
    this.openConflict(message, theirs);
  }

  /**
   * Wait until the canvas is saved; reject with the reason it is not.
   * @returns {Promise<void>}
   */
  async flush() {
    if (this.readOnly) return;
    await this.save();
    if (this.inFlight) await this.inFlight;
    if (this.dirty || ["invalid", "conflict", "offline", "error"].includes(this.state)) {
      throw new Error(`${LABELS[this.state]}${this.message ? `: ${this.message}` : ""}`);
    }
  }

  /** @param {boolean} readOnly */
  setReadOnly(readOnly) {
    this.readOnly = readOnly;
    if (readOnly) clearTimeout(this.timer);
    this.setState(readOnly ? "read-only" : this.dirty ? "pending" : "saved");
    if (!readOnly && this.dirty) this.saveSoon(this.config.delay);
  }

  /**
   * @param {SaveState} state
   * @param {string} [message]
   */
  setState(state, message = "") {
    this.state = state;
    this.message = message;
    this.show();
    emit(this.root, "canvas:save-state", { state, message });
  }

  show() {
    const indicator = this.config.indicator;
    if (!indicator) return;
    indicator.dataset.state = this.state;
    indicator.textContent = LABELS[this.state];
    indicator.title = this.message || LABELS[this.state];
    const actionable = this.state === "conflict" || this.state === "invalid";
    indicator.toggleAttribute("disabled", !actionable);
    const detail = document.getElementById(indicator.getAttribute("aria-describedby") ?? "");
    if (detail) detail.textContent = this.message;
  }

  indicatorClicked() {
    if (this.state === "invalid") this.config.onProblems();
    else if (this.state === "conflict" && this.lastConflict) this.openConflict(...this.lastConflict);
  }

  // -- The conflict dialog ----------------------------------------------------

  buildDialog() {
    const dialog = /** @type {HTMLDialogElement} */ (
      el(
        "dialog",
        { class: "kc-conflict", "aria-labelledby": "kc-conflict-title" },
        el("h2", { id: "kc-conflict-title", text: "Your edits were not saved" }),
        this.conflictText,
        this.conflictDiff,
        this.conflictActions
      )
    );
    document.body.append(dialog);
    return dialog;
  }

  /**
   * @param {string} message
   * @param {any} theirs the workflow as the server has it now
   */
  openConflict(message, theirs) {
    this.lastConflict = [message, theirs];
    const mine = this.latest ?? { nodes: [], edges: [] };
    const frozen = theirs.state !== "draft";
    this.conflictText.textContent = frozen
      ? `This workflow is ${theirs.state} now (changed elsewhere); only a draft can be saved. Your edits are still on the canvas.`
      : `${message} Your edits are still on the canvas; compare them with the saved version (revision ${theirs.revision}):`;
    this.conflictDiff.replaceChildren(diffList(mine, theirs));
    /**
     * @param {string} text
     * @param {string} kind
     * @param {() => void} run
     */
    const button = (text, kind, run) => el("button", { type: "button", class: `button ${kind}`, text, onclick: run });
    this.conflictActions.replaceChildren(
      frozen
        ? button("Move it back to draft and save mine", "primary", () => this.reopenAndOverwrite(theirs))
        : button("Overwrite with mine", "primary", () => this.overwrite(theirs)),
      button("Discard mine and load the saved version", "danger", () => this.reload(theirs)),
      button("Decide later", "subtle", () => this.dialog.close())
    );
    if (!this.dialog.open) this.dialog.showModal();
  }

  /** @param {any} theirs */
  overwrite(theirs) {
    this.dialog.close();
    this.revision = theirs.revision;
    this.setState("pending");
    this.save();
  }

  /** @param {any} theirs */
  async reopenAndOverwrite(theirs) {
    try {
      await request("POST", `${this.config.workflowUrl}/edit`);
    } catch (error) {
      this.conflictText.textContent = error instanceof Error ? error.message : String(error);
      return;
    }
    this.config.onReadOnly("draft");
    this.overwrite(theirs);
  }

  /** @param {any} theirs */
  reload(theirs) {
    this.dialog.close();
    this.revision = theirs.revision;
    this.setState("saved");
    emit(this.root, "canvas:load", { nodes: theirs.nodes, edges: theirs.edges, label: "load the saved version" });
    // The load is an edit of the canvas, but it is what the server has.
    if (this.latest) this.savedVersion = this.latest.version;
    clearTimeout(this.timer);
    this.setState("saved");
    if (theirs.state !== "draft") this.config.onReadOnly(theirs.state);
  }
}

/** @param {any} value */
function isMap(value) {
  return !!value && typeof value === "object" && !Array.isArray(value);
}

/** @param {{nodes: any, edges: any, canvas: string[]}} errors */
function countProblems(errors) {
  /** @param {any} byId */
  const count = (byId) => Object.values(byId).reduce((sum, fields) => sum + Object.values(/** @type {any} */ (fields)).flat().length, 0);
  return count(errors.nodes) + count(errors.edges) + errors.canvas.length;
}

/** @param {{nodes: any, edges: any, canvas: string[]}} errors */
function firstProblem(errors) {
  if (errors.canvas.length) return errors.canvas[0];
  for (const [id, fields] of [...Object.entries(errors.nodes), ...Object.entries(errors.edges)]) {
    for (const [field, messages] of Object.entries(/** @type {Record<string, string[]>} */ (fields))) {
      return `${id} ${field}: ${messages[0]}`;
    }
  }
  return "";
}

/**
 * What differs between my canvas and the saved one, as a list.
 * @param {{nodes: CanvasNode[], edges: CanvasEdge[]}} mine
 * @param {{nodes: CanvasNode[], edges: CanvasEdge[]}} theirs
 */
export function diffList(mine, theirs) {
  const lines = [...diffNodes(mine.nodes, theirs.nodes), ...diffEdges(mine.edges, theirs.edges)];
  if (!lines.length) return el("p", { text: "The two canvases hold the same nodes and links." });
  return el("ul", {}, ...lines.map((line) => el("li", { text: line })));
}

/**
 * @param {CanvasNode[]} mine
 * @param {CanvasNode[]} theirs
 */
function diffNodes(mine, theirs) {
  const theirsById = new Map(theirs.map((n) => [n.id, n]));
  const mineById = new Map(mine.map((n) => [n.id, n]));
  const lines = [];
  for (const node of mine) {
    const other = theirsById.get(node.id);
    const name = `${node.type} ${node.data.name || node.id}`;
    if (!other) {
      lines.push(`Only in yours: ${name}`);
      continue;
    }
    const fields = changedFields(node.data, other.data);
    if (fields.length) lines.push(`Changed: ${name} (${fields.join(", ")})`);
    else if (node.position.x !== other.position.x || node.position.y !== other.position.y) lines.push(`Moved: ${name}`);
  }
  for (const node of theirs) {
    if (!mineById.has(node.id)) lines.push(`Only in the saved version: ${node.type} ${node.data.name || node.id}`);
  }
  return lines;
}

/**
 * @param {Record<string, any>} a
 * @param {Record<string, any>} b
 */
function changedFields(a, b) {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  return [...keys].filter((key) => !key.startsWith("_") && JSON.stringify(a[key] ?? null) !== JSON.stringify(b[key] ?? null)).sort();
}

/**
 * @param {CanvasEdge[]} mine
 * @param {CanvasEdge[]} theirs
 */
function diffEdges(mine, theirs) {
  const key = (/** @type {CanvasEdge} */ e) => `${e.source} → ${e.target}`;
  const theirKeys = new Set(theirs.map(key));
  const myKeys = new Set(mine.map(key));
  return [
    ...[...myKeys].filter((k) => !theirKeys.has(k)).map((k) => `Link only in yours: ${k}`),
    ...[...theirKeys].filter((k) => !myKeys.has(k)).map((k) => `Link only in the saved version: ${k}`),
  ];
}
