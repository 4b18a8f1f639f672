// @ts-check
/**
 * The editor page: creates the canvas widget and autosave, and wires the
 * page's own buttons (Publish, Run, Edit) to the same API integrators use.
 * @module canvas/editor-page
 */
"use strict";

import { ApiError, request } from "./api.js";
import { Autosave } from "./autosave.js";
import { createEditor } from "./editor.js";
import { el, emit } from "./dom.js";

/**
 * @typedef {{workflowId: string, name: string, state: string, revision: number,
 *   readOnly: boolean, nodes: any[], edges: any[],
 *   urls: Record<string, string>}} PageConfig
 */

const RUN_POLL_MS = 1000;

class EditorPage {
  /** @param {PageConfig} config */
  constructor(config) {
    this.config = config;
    this.state = config.state;
    this.root = /** @type {HTMLElement} */ (document.getElementById("canvas-root"));
    this.alert = /** @type {HTMLElement} */ (document.getElementById("page-alert"));
    this.runBar = /** @type {HTMLElement} */ (document.getElementById("run-bar"));
    this.badge = /** @type {HTMLElement} */ (document.getElementById("state-badge"));
    this.buttons = {
      publish: /** @type {HTMLButtonElement} */ (document.getElementById("publish-button")),
      run: /** @type {HTMLButtonElement} */ (document.getElementById("run-button")),
      edit: /** @type {HTMLButtonElement} */ (document.getElementById("edit-button")),
    };
    this.buttons.publish.addEventListener("click", () => this.publish());
    this.buttons.run.addEventListener("click", () => this.run());
    this.buttons.edit.addEventListener("click", () => this.edit());
  }

  async start() {
    const { urls } = this.config;
    this.autosave = new Autosave(this.root, {
      saveUrl: urls.save,
      workflowUrl: urls.workflow,
      revision: this.config.revision,
      readOnly: this.config.readOnly,
      indicator: document.getElementById("save-state"),
      onProblems: () => this.editor?.focusFirstError(),
      onReadOnly: (state) => this.showState(state),
    });
    try {
      this.editor = await createEditor(this.root, {
        nodes: this.config.nodes,
        edges: this.config.edges,
        readOnly: this.config.readOnly,
        readOnlyReason: this.readOnlyReason(this.state),
        kindsUrl: urls.kinds,
        manifestUrl: urls.manifest,
        commands: this.commands(),
      });
    } catch (error) {
      this.say(error instanceof Error ? error.message : String(error));
      return;
    }
    this.showState(this.state);
  }

  /** Page actions offered in the command palette too. */
  commands() {
    return [
      { id: "publish", label: "Publish", group: "Workflow", run: () => this.publish(), enabled: () => this.state === "draft" },
      { id: "run", label: "Run (a draft is published first)", group: "Workflow", run: () => this.run(), enabled: () => this.state !== "archived" },
      { id: "edit", label: "Edit (back to draft)", group: "Workflow", run: () => this.edit(), enabled: () => this.state !== "draft" },
    ];
  }

  /** @param {string} state */
  readOnlyReason(state) {
    return `This workflow is ${state}: press "${state === "archived" ? "Restore to draft" : "Edit"}" to change it.`;
  }

  /**
   * Show the workflow's state in the header, the buttons and the canvas.
   * @param {string} state
   */
  showState(state) {
    this.state = state;
    const draft = state === "draft";
    this.badge.textContent = state;
    this.badge.className = `badge state-${state}`;
    this.buttons.publish.hidden = !draft;
    this.buttons.edit.hidden = draft;
    this.buttons.edit.textContent = state === "archived" ? "Restore to draft" : "Edit";
    this.buttons.run.hidden = state === "archived";
    this.buttons.run.textContent = draft ? "Publish and run" : "Run";
    emit(this.root, "canvas:set-read-only", { readOnly: !draft, reason: this.readOnlyReason(state) });
    this.autosave?.setReadOnly(!draft);
  }

  /**
   * Show an error (or clear it with "").
   * @param {string} message
   */
  say(message) {
    this.alert.hidden = !message;
    this.alert.replaceChildren(message ? el("span", { text: message }) : "", message ? el("button", { type: "button", class: "button subtle small", text: "Dismiss", onclick: () => this.say("") }) : "");
  }

  /**
   * Run one page action with its buttons disabled; show what went wrong.
   * @param {() => Promise<void>} action
   */
  async busy(action) {
    const buttons = Object.values(this.buttons);
    for (const button of buttons) button.disabled = true;
    this.say("");
    try {
      await action();
    } catch (error) {
      this.say(error instanceof Error ? error.message : String(error));
    } finally {
      for (const button of buttons) button.disabled = false;
    }
  }

  /** Save what is pending, then freeze the workflow for running. */
  async publishNow() {
    try {
      await this.autosave?.flush();
    } catch (error) {
      throw new Error(`Cannot publish yet. ${error instanceof Error ? error.message : error}`);
    }
    const workflow = await request("POST", this.config.urls.publish);
    this.showState(workflow.state);
  }

  publish() {
    return this.busy(() => this.publishNow());
  }

  edit() {
    return this.busy(async () => {
      const workflow = await request("POST", this.config.urls.edit);
      this.showState(workflow.state);
    });
  }

  run() {
    return this.busy(async () => {
      if (this.state === "draft") await this.publishNow();
      const started = await request("POST", this.config.urls.run, { trigger_data: {} });
      this.showRun(started.run_id, `Run started: version ${started.version}, ${started.status}…`, "running");
      this.followRun(started.run_id);
    });
  }

  /**
   * @param {string} runId
   * @param {string} text
   * @param {string} status
   */
  showRun(runId, text, status) {
    this.runBar.hidden = false;
    this.runBar.dataset.status = status;
    this.runBar.dataset.runId = runId;
    this.runBar.replaceChildren(el("strong", { text: "Run " }), el("code", { text: runId.slice(0, 8) }), ` ${text}`);
  }

  /**
   * Poll a run until it finishes and show how it went.
   * @param {string} runId
   */
  async followRun(runId) {
    const url = this.config.urls.run_detail.replace("{run}", runId);
    for (;;) {
      await new Promise((resolve) => setTimeout(resolve, RUN_POLL_MS));
      let run;
      try {
        run = await request("GET", url);
      } catch (error) {
        if (error instanceof ApiError && error.offline) continue;
        this.showRun(runId, `status unknown: ${error instanceof Error ? error.message : error}`, "unknown");
        return;
      }
      const states = run.node_states ?? [];
      const healthy = states.filter((/** @type {any} */ s) => s.state === "healthy").length;
      emit(this.root, "canvas:status", {
        nodes: Object.fromEntries(states.map((/** @type {any} */ s) => [s.node_id, { state: s.state, text: s.state }])),
      });
      if (run.status === "running") {
        this.showRun(runId, `running: ${healthy}/${states.length} nodes healthy…`, "running");
        continue;
      }
      const took = run.duration ? ` in ${(run.duration / 1000).toFixed(1)} s` : "";
      this.showRun(runId, `${run.status}${took}. ${run.summary ?? ""}`, run.status);
      return;
    }
  }
}

const configElement = document.getElementById("editor-config");
if (configElement) {
  const page = new EditorPage(JSON.parse(configElement.textContent ?? "{}"));
  /** @type {any} */ (window).kubeorchEditor = page;
  page.start();
}
