// @ts-check
/**
 * The dry run panel: asks the server what a run would change on the live
 * cluster and lists, per node, create, change (with a field diff),
 * unchanged, prune, blocked or error. Nothing is applied.
 * @module canvas/dryrun
 */
"use strict";

import { request } from "./api.js";
import { el } from "./dom.js";
import { placeBelowHeader } from "./versions.js";

/**
 * @typedef {{path: string, before: any, after: any}} FieldChange
 * @typedef {{api_version: string, kind: string, namespace: string,
 *   name: string, action: string, changes: FieldChange[], message: string}} ObjectPreview
 * @typedef {{node_id: string, kind: string, action: string,
 *   objects: ObjectPreview[]}} NodePreview
 * @typedef {{url: string, beforeRun: () => Promise<void>,
 *   nodeName: (id: string) => string}} DryRunConfig
 */

/** What each verdict means, in the order the summary lists them. */
const VERDICTS = {
  create: "would be created",
  change: "would change",
  unchanged: "unchanged",
  prune: "would be removed",
  blocked: "blocked",
  error: "cannot be previewed",
};

/**
 * Show a field value in one short line.
 * @param {any} value
 */
function shown(value) {
  if (value === undefined || value === null) return "(none)";
  return typeof value === "string" ? value : JSON.stringify(value);
}

export class DryRunPanel {
  /**
   * @param {HTMLElement} panel the (hidden) element the panel fills
   * @param {DryRunConfig} config
   */
  constructor(panel, config) {
    this.panel = panel;
    this.config = config;
    /** @type {HTMLElement|null} */
    this.opener = null;
    this.running = false;
    this.status = el("p", { class: "dr-status", role: "status", "aria-live": "polite" });
    this.list = el("ul", { class: "dr-list", "aria-label": "What a run would do, per node" });
    this.again = /** @type {HTMLButtonElement} */ (el("button", { type: "button", class: "button dr-again", text: "Dry run again", onclick: () => this.run() }));
    panel.classList.add("dr-panel");
    panel.setAttribute("aria-labelledby", "dr-title");
    panel.addEventListener("keydown", (event) => {
      if (event.key === "Escape") this.close();
    });
    panel.replaceChildren(
      el(
        "header",
        { class: "vh-head" },
        el("h2", { id: "dr-title", text: "Dry run" }),
        el("button", { type: "button", class: "side-close dr-close", "aria-label": "Close the dry run", text: "×", onclick: () => this.close() })
      ),
      el("p", { class: "muted small", text: "What a run would change on the cluster now. Nothing is applied." }),
      this.again,
      this.status,
      this.list
    );
  }

  get isOpen() {
    return !this.panel.hidden;
  }

  /** Open the panel and run a dry run. */
  async open() {
    this.opener = /** @type {HTMLElement|null} */ (document.activeElement);
    placeBelowHeader(this.panel);
    this.panel.hidden = false;
    this.again.focus();
    await this.run();
  }

  close() {
    this.panel.hidden = true;
    for (const button of document.querySelectorAll(`[aria-controls="${this.panel.id}"]`)) button.setAttribute("aria-expanded", "false");
    this.opener?.focus();
  }

  /** Save what is pending, ask the server for a preview and show it. */
  async run() {
    // Not disabled while busy: a disabled button would lose the focus.
    if (this.running) return;
    this.running = true;
    this.again.setAttribute("aria-busy", "true");
    this.list.replaceChildren();
    this.status.textContent = "Asking the cluster…";
    this.status.classList.remove("problem");
    try {
      await this.config.beforeRun();
      const preview = await request("POST", this.config.url, {});
      this.show(preview);
    } catch (error) {
      this.status.textContent = error instanceof Error ? error.message : String(error);
      this.status.classList.add("problem");
    } finally {
      this.running = false;
      this.again.removeAttribute("aria-busy");
    }
  }

  /** @param {{nodes: NodePreview[], summary: Record<string, number>, duration_ms: number, namespaces_to_create: string[]}} preview */
  show(preview) {
    const counts = Object.keys(VERDICTS)
      .filter((verdict) => preview.summary[verdict])
      .map((verdict) => `${preview.summary[verdict]} ${/** @type {any} */ (VERDICTS)[verdict]}`);
    const namespaces = preview.namespaces_to_create.length ? ` Namespaces to create: ${preview.namespaces_to_create.join(", ")}.` : "";
    this.status.textContent = `${counts.join(", ") || "Nothing to do"} (${preview.duration_ms} ms).${namespaces}`;
    this.list.replaceChildren(...preview.nodes.map((node) => this.nodeItem(node)));
  }

  /** @param {NodePreview} node */
  nodeItem(node) {
    const objects = node.objects.filter((item) => item.action !== "unchanged" || node.action !== "unchanged");
    return el(
      "li",
      { class: `dr-node dr-${node.action}`, dataset: { node: node.node_id, action: node.action } },
      el(
        "div",
        { class: "dr-node-head" },
        el("strong", { text: this.config.nodeName(node.node_id) }),
        el("span", { class: "muted small", text: ` ${node.kind}` }),
        el("span", { class: "dr-verdict", text: /** @type {any} */ (VERDICTS)[node.action] ?? node.action })
      ),
      objects.length ? el("ul", { class: "dr-objects" }, ...objects.map((item) => this.objectItem(item))) : null
    );
  }

  /** @param {ObjectPreview} item */
  objectItem(item) {
    const changes = item.changes.map((change) =>
      el(
        "li",
        { class: "dr-field", dataset: { path: change.path } },
        el("code", { text: change.path }),
        ": ",
        el("del", { text: shown(change.before) }),
        " → ",
        el("ins", { text: shown(change.after) })
      )
    );
    return el(
      "li",
      { class: "dr-object", dataset: { action: item.action } },
      `${item.kind} ${item.name}: ${item.action}${item.message ? ` (${item.message})` : ""}`,
      changes.length ? el("ul", { class: "dr-fields" }, ...changes) : null
    );
  }
}
