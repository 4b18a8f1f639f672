// @ts-check
/**
 * The version history panel: the workflow's versions newest first, a form
 * to store a manual version, export links, restore (with confirmation) and
 * "compare" of any two versions or a version and the canvas.
 *
 * It talks to the versions API only. It tells the page what happened with
 * custom events on the editor's root element:
 *
 * - `canvas:version-restored` `{version}`: the server loaded a version on
 *   the canvas (the page reloads the canvas and its revision)
 * - `canvas:workflow-state` `{state}`: the workflow moved (to draft, to
 *   restore into it)
 * - `canvas:compare` `{from, to}`: show the compare view ("current" is the
 *   canvas as saved)
 * @module canvas/versions
 */
"use strict";

import { request } from "./api.js";
import { el, emit } from "./dom.js";

/**
 * @typedef {{number: number, name: string, tag: string, description: string,
 *   source: string, restored_from: number|null, created_by: string|null,
 *   created_at: string, node_count: number, edge_count: number}} VersionRow
 * @typedef {{versions: string, edit: string, root: HTMLElement,
 *   state: () => string, revision: () => number,
 *   beforeSnapshot: () => Promise<void>}} VersionsConfig
 */

export const CURRENT = "current";

/**
 * Ask a yes/no question in a modal dialog; resolve with the answer.
 * @param {HTMLElement} container
 * @param {{title: string, text: string, confirm: string, danger?: boolean}} question
 * @returns {Promise<boolean>}
 */
export function confirmDialog(container, question) {
  const dialog = /** @type {HTMLDialogElement} */ (
    el(
      "dialog",
      { class: "vh-confirm", "aria-labelledby": "vh-confirm-title" },
      el("h2", { id: "vh-confirm-title", text: question.title }),
      el("p", { text: question.text }),
      el(
        "form",
        { method: "dialog", class: "actions" },
        el("button", { class: "button", value: "no", text: "Cancel" }),
        el("button", { class: `button ${question.danger ? "danger" : "primary"}`, value: "yes", text: question.confirm })
      )
    )
  );
  container.append(dialog);
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => {
      resolve(dialog.returnValue === "yes");
      dialog.remove();
    });
    dialog.showModal();
    /** @type {HTMLButtonElement} */ (dialog.querySelector("button[value=yes]")).focus();
  });
}

/**
 * Place a side panel under the page header, so the header stays usable.
 * @param {HTMLElement} panel
 */
export function placeBelowHeader(panel) {
  const header = document.querySelector(".editor-bar");
  if (header) panel.style.top = `${Math.round(header.getBoundingClientRect().bottom)}px`;
}

/**
 * Describe where a version came from, in a few words.
 * @param {VersionRow} version
 */
function origin(version) {
  if (version.source === "restore") return `restored from ${version.restored_from}`;
  return version.source;
}

export class VersionHistory {
  /**
   * @param {HTMLElement} panel the (hidden) element the panel fills
   * @param {VersionsConfig} config
   */
  constructor(panel, config) {
    this.panel = panel;
    this.config = config;
    /** @type {VersionRow[]} */
    this.rows = [];
    /** @type {string|null} */
    this.next = null;
    /** Counts page requests; answers to older ones are dropped. */
    this.loadTicket = 0;
    /** @type {HTMLElement|null} */
    this.opener = null;
    this.status = el("p", { class: "vh-status", role: "status", "aria-live": "polite" });
    this.list = el("ol", { class: "vh-list", "aria-label": "Versions, newest first" });
    this.more = /** @type {HTMLButtonElement} */ (
      el("button", { type: "button", class: "button subtle vh-more", text: "Show older versions", hidden: true, onclick: () => this.loadMore() })
    );
    this.from = /** @type {HTMLSelectElement} */ (el("select", { name: "from", "aria-label": "Compare from" }));
    this.to = /** @type {HTMLSelectElement} */ (el("select", { name: "to", "aria-label": "Compare to" }));
    this.build();
  }

  // -- Building ---------------------------------------------------------------

  build() {
    this.panel.classList.add("vh-panel");
    this.panel.setAttribute("aria-labelledby", "vh-title");
    this.panel.addEventListener("keydown", (event) => {
      if (event.key === "Escape") this.close();
    });
    this.panel.replaceChildren(
      el(
        "header",
        { class: "vh-head" },
        el("h2", { id: "vh-title", text: "Version history" }),
        el("button", { type: "button", class: "side-close", "aria-label": "Close the version history", text: "×", onclick: () => this.close() })
      ),
      this.buildCreateForm(),
      this.buildCompareForm(),
      this.status,
      this.list,
      this.more
    );
  }

  buildCreateForm() {
    const form = el(
      "form",
      { class: "vh-create", onsubmit: (/** @type {SubmitEvent} */ event) => this.submitCreate(event) },
      el("h3", { text: "Save a version" }),
      el("label", {}, "Name", el("input", { name: "name", maxlength: "100", autocomplete: "off" })),
      el("label", {}, "Tag", el("input", { name: "tag", maxlength: "50", autocomplete: "off" })),
      el("label", {}, "Description", el("textarea", { name: "description", rows: "2", maxlength: "5000" })),
      el("button", { type: "submit", class: "button", text: "Save version" })
    );
    return form;
  }

  buildCompareForm() {
    return el(
      "form",
      { class: "vh-compare", onsubmit: (/** @type {SubmitEvent} */ event) => this.submitCompare(event) },
      el("h3", { text: "Compare" }),
      el("div", { class: "vh-compare-row" }, this.from, el("span", { text: "with" }), this.to),
      el("button", { type: "submit", class: "button", text: "Compare" })
    );
  }

  // -- Opening and loading ----------------------------------------------------

  get isOpen() {
    return !this.panel.hidden;
  }

  /** Open the panel, load the newest versions and focus it. */
  async open() {
    this.opener = /** @type {HTMLElement|null} */ (document.activeElement);
    placeBelowHeader(this.panel);
    this.panel.hidden = false;
    for (const button of document.querySelectorAll(`[aria-controls="${this.panel.id}"]`)) button.setAttribute("aria-expanded", "true");
    /** @type {HTMLElement} */ (this.panel.querySelector("input[name=name]")).focus();
    await this.reload();
  }

  close() {
    this.panel.hidden = true;
    for (const button of document.querySelectorAll(`[aria-controls="${this.panel.id}"]`)) button.setAttribute("aria-expanded", "false");
    this.opener?.focus();
  }

  toggle() {
    return this.isOpen ? this.close() : this.open();
  }

  // TODO(versions-live): the list is loaded on opening and after this
  // panel's own actions; a run finishing while it is open adds a version
  // that shows only on the next opening (no versions event on the stream).
  /** Load the first page of versions again. */
  async reload() {
    await this.loadPage(this.config.versions, true);
  }

  async loadMore() {
    if (this.next) await this.loadPage(this.next, false);
  }

  /**
   * Fetch a page of versions; only the latest request's answer is kept, so
   * two reloads close together never list the versions twice.
   * @param {string} url
   * @param {boolean} fresh whether it replaces the list instead of extending it
   */
  async loadPage(url, fresh) {
    this.say("Loading versions…");
    const ticket = ++this.loadTicket;
    let page;
    try {
      page = await request("GET", url);
    } catch (error) {
      if (ticket === this.loadTicket) this.say(error instanceof Error ? error.message : String(error), true);
      return;
    }
    if (ticket !== this.loadTicket) return;
    if (fresh) this.rows = [];
    this.rows.push(...page.results);
    this.next = page.next;
    this.draw();
    this.say(this.rows.length ? `${page.count} version${page.count === 1 ? "" : "s"}` : "No versions yet: a run or “Save version” makes one.");
  }

  /**
   * @param {string} text
   * @param {boolean} [problem]
   */
  say(text, problem = false) {
    this.status.textContent = text;
    this.status.classList.toggle("problem", problem);
  }

  // -- Drawing ----------------------------------------------------------------

  draw() {
    this.list.replaceChildren(...this.rows.map((row) => this.drawRow(row)));
    this.more.hidden = !this.next;
    this.fillCompareChoices();
  }

  /** @param {VersionRow} row */
  drawRow(row) {
    const title = row.name || `Version ${row.number}`;
    const when = new Date(row.created_at).toLocaleString();
    return el(
      "li",
      { class: "vh-row", dataset: { number: String(row.number) } },
      el(
        "div",
        { class: "vh-row-head" },
        el("strong", { class: "vh-number", text: `v${row.number}` }),
        el("span", { class: "vh-name", text: title }),
        row.tag ? el("span", { class: "vh-tag", text: row.tag }) : null
      ),
      el("p", { class: "vh-meta", text: `${origin(row)} · ${when}${row.created_by ? ` · ${row.created_by}` : ""} · ${row.node_count} nodes` }),
      row.description ? el("p", { class: "vh-description", text: row.description }) : null,
      el(
        "div",
        { class: "vh-row-actions" },
        el("button", { type: "button", class: "button small vh-restore", text: "Restore", "aria-label": `Restore version ${row.number}`, onclick: () => this.restore(row) }),
        el("button", { type: "button", class: "button small subtle vh-compare-current", text: "Compare with canvas", "aria-label": `Compare version ${row.number} with the canvas`, onclick: () => this.compare(String(row.number), CURRENT) }),
        el("a", { class: "button small subtle vh-export", href: `${this.config.versions}/${row.number}/export`, download: "", text: "Export YAML", "aria-label": `Export version ${row.number} as YAML` })
      )
    );
  }

  fillCompareChoices() {
    const choices = [[CURRENT, "the canvas (as saved)"], ...this.rows.map((row) => [String(row.number), `v${row.number}${row.name ? ` ${row.name}` : ""}`])];
    const keepFrom = this.from.value;
    const keepTo = this.to.value;
    for (const select of [this.from, this.to]) {
      select.replaceChildren(...choices.map(([value, label]) => el("option", { value, text: label })));
    }
    // By default: the previous version against the newest.
    this.from.value = keepFrom || String(this.rows[1]?.number ?? this.rows[0]?.number ?? CURRENT);
    this.to.value = keepTo || String(this.rows[0]?.number ?? CURRENT);
  }

  // -- Actions ----------------------------------------------------------------

  /** @param {SubmitEvent} event */
  async submitCreate(event) {
    event.preventDefault();
    const form = /** @type {HTMLFormElement} */ (event.target);
    const data = Object.fromEntries(new FormData(form));
    try {
      await this.config.beforeSnapshot();
      const version = await request("POST", this.config.versions, data);
      form.reset();
      await this.reload();
      this.say(`Saved as version ${version.number}.`);
    } catch (error) {
      this.say(error instanceof Error ? error.message : String(error), true);
    }
  }

  /** @param {SubmitEvent} event */
  submitCompare(event) {
    event.preventDefault();
    if (this.from.value === this.to.value) {
      this.say("Choose two different versions to compare.", true);
      return;
    }
    this.compare(this.from.value, this.to.value);
  }

  /**
   * @param {string} from
   * @param {string} to
   */
  async compare(from, to) {
    // "current" is the canvas as stored: send pending edits first.
    if (from === CURRENT || to === CURRENT) await this.config.beforeSnapshot().catch(() => {});
    emit(this.config.root, "canvas:compare", { from, to });
  }

  /**
   * Restore a version after asking; move the workflow to draft first if the
   * user agrees.
   * @param {VersionRow} row
   */
  async restore(row) {
    const state = this.config.state();
    const draft = state === "draft";
    const agreed = await confirmDialog(this.panel, {
      title: `Restore version ${row.number}?`,
      text: `${draft ? "" : `This workflow is ${state}: it is moved back to draft first. `}The canvas is replaced by version ${row.number}, stored as a new version; no version is deleted.`,
      confirm: draft ? "Restore" : "Move to draft and restore",
    });
    if (!agreed) return;
    try {
      // Pending edits go first, so the restore is based on what is stored;
      // an edit that cannot be saved is replaced by the restore anyway.
      await this.config.beforeSnapshot().catch(() => {});
      if (!draft) {
        const workflow = await request("POST", this.config.edit);
        emit(this.config.root, "canvas:workflow-state", { state: workflow.state });
      }
      const version = await request("POST", `${this.config.versions}/${row.number}/restore`, { revision: this.config.revision() });
      emit(this.config.root, "canvas:version-restored", { version });
      await this.reload();
      this.say(`Version ${row.number} restored as version ${version.number}.`);
    } catch (error) {
      this.say(error instanceof Error ? error.message : String(error), true);
    }
  }
}
