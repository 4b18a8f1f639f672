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
import { CompareView } from "./compare.js";
import { DryRunPanel } from "./dryrun.js";
import { VersionHistory, confirmDialog } from "./versions.js";
import { DiagnosisView } from "./diagnosis.js";
import { connectLive } from "./live.js";
import { mountLogs } from "../runs/logs.js";

/**
 * @typedef {{workflowId: string, name: string, state: string, revision: number,
 *   readOnly: boolean, nodes: any[], edges: any[],
 *   urls: Record<string, string>}} PageConfig
 */

const RUN_POLL_MS = 1000;
// Kinds that run pods, so have logs and a terminal.
const WORKLOAD_KINDS = new Set(["deployment", "statefulset", "daemonset", "job", "cronjob"]);

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
      archive: /** @type {HTMLButtonElement} */ (document.getElementById("archive-button")),
    };
    this.historyButton = /** @type {HTMLButtonElement} */ (document.getElementById("history-button"));
    this.dryRunButton = /** @type {HTMLButtonElement} */ (document.getElementById("dry-run-button"));
    this.buttons.publish.addEventListener("click", () => this.publish());
    this.buttons.run.addEventListener("click", () => this.run());
    this.buttons.edit.addEventListener("click", () => this.edit());
    this.buttons.archive.addEventListener("click", () => this.archive());
    this.historyButton.addEventListener("click", () => this.toggleHistory());
    this.dryRunButton.addEventListener("click", () => this.dryRun());
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
    this.startVersions();
    this.showState(this.state);
    this.startLive();
  }

  // -- Live status, diagnosis and the mini-logs --------------------------------

  /** Colour the cards from the live stream and follow the selected node. */
  startLive() {
    const root = this.root;
    this.diagnosis = new DiagnosisView(root, {
      workflowId: this.config.workflowId,
      beforeFix: async () => { await this.autosave?.flush(); },
    });
    root.querySelector(".kc-panel .kp-live-host")?.append(this.diagnosis.element);
    /** @type {string|null} */
    this.selectedNode = null;
    /** @type {string|null} the node the mini-logs follow */
    this.miniLogsNode = null;
    this.miniLogsClosed = false;
    root.addEventListener("canvas:node-status", (event) => this.takeNodeStatus(/** @type {CustomEvent} */ (event).detail));
    root.addEventListener("canvas:run-status", (event) => this.takeRunStatus(/** @type {CustomEvent} */ (event).detail));
    root.addEventListener("canvas:selection-changed", (event) => {
      const { nodes, edges } = /** @type {CustomEvent} */ (event).detail;
      if (nodes.length === 1 && !edges.length) this.selectNode(nodes[0]);
    });
    root.addEventListener("canvas:fix-applied", (event) => this.fixApplied(/** @type {CustomEvent} */ (event).detail));
    document.getElementById("mini-logs-close")?.addEventListener("click", () => this.closeMiniLogs());
    this.live = connectLive(root, {
      workflowId: this.config.workflowId,
      nodeIds: () => this.editor?.store.doc.nodes.map((n) => n.id) ?? [],
    });
  }

  /** @param {{nodes: Record<string, import("./live.js").LiveStatus>}} detail */
  takeNodeStatus(detail) {
    emit(this.root, "canvas:status", { nodes: detail.nodes });
    const selected = this.selectedNode;
    if (!selected || !(selected in detail.nodes)) return;
    this.showDiagnosis(selected);
    // A node deployed while selected gets its logs without a new click.
    if (this.miniLogsNode !== selected && !this.miniLogsClosed) this.openMiniLogs(selected);
  }

  /** @param {any} run a run.status payload */
  takeRunStatus(run) {
    if (run.status === "running") {
      this.showRun(run.run_id, `running: version ${run.version}…`, "running");
      return;
    }
    const took = run.duration_ms ? ` in ${(run.duration_ms / 1000).toFixed(1)} s` : "";
    this.showRun(run.run_id, `${run.status}${took}. ${run.summary ?? ""}`, run.status);
  }

  /** @param {string} nodeId */
  selectNode(nodeId) {
    if (nodeId === this.selectedNode) return;
    this.selectedNode = nodeId;
    this.miniLogsClosed = false;
    this.showDiagnosis(nodeId);
    this.openMiniLogs(nodeId);
  }

  /** @param {string} nodeId */
  showDiagnosis(nodeId) {
    const status = this.live?.statusOf(nodeId);
    this.diagnosis?.show(nodeId, status?.tone === "red");
  }

  /**
   * Follow the pods of a workload node under the canvas.
   * @param {string} nodeId
   */
  openMiniLogs(nodeId) {
    const section = /** @type {HTMLElement|null} */ (document.getElementById("mini-logs"));
    const template = /** @type {HTMLTemplateElement|null} */ (document.getElementById("mini-logs-template"));
    const body = document.getElementById("mini-logs-body");
    if (!section || !template || !body) return;
    this.miniLogs?.stop();
    this.miniLogs = null;
    this.miniLogsNode = null;
    const type = this.editor?.store.node(nodeId)?.type ?? "";
    section.hidden = !WORKLOAD_KINDS.has(type) || this.live?.statusOf(nodeId).state === "not-deployed";
    if (section.hidden) return;
    const name = /** @type {HTMLElement} */ (document.getElementById("mini-logs-node"));
    name.textContent = nodeId;
    const resource = /** @type {HTMLAnchorElement} */ (document.getElementById("mini-logs-resource"));
    resource.href = (section.dataset.resourceUrl ?? "").replace("/NODE/", `/${encodeURIComponent(nodeId)}/`);
    const terminal = /** @type {HTMLAnchorElement} */ (document.getElementById("mini-logs-terminal"));
    terminal.hidden = true;
    body.replaceChildren(template.content.cloneNode(true));
    body.addEventListener("logs:pods", (event) => {
      const pods = /** @type {CustomEvent} */ (event).detail.pods ?? [];
      const pod = pods.find((/** @type {any} */ p) => p.phase === "Running") ?? pods[0];
      terminal.hidden = !pod;
      if (pod) {
        terminal.href = (section.dataset.terminalUrl ?? "")
          .replace("/NODE/", `/${encodeURIComponent(nodeId)}/`)
          .replace("/POD/", `/${encodeURIComponent(pod.name)}/`);
      }
    }, { once: true });
    this.miniLogs = mountLogs(body, { workflowId: this.config.workflowId, nodeId });
    this.miniLogsNode = nodeId;
  }

  closeMiniLogs() {
    this.miniLogs?.stop();
    this.miniLogs = null;
    this.miniLogsNode = null;
    this.miniLogsClosed = true;
    const section = document.getElementById("mini-logs");
    if (section) section.hidden = true;
  }

  /**
   * Load the canvas a fix changed; the run it started is followed live.
   * @param {{revision: number, state: string, run_id: string|null}} detail
   */
  async fixApplied(detail) {
    try {
      const workflow = await request("GET", this.config.urls.workflow);
      this.autosave?.reload(workflow);
      this.showState(workflow.state);
    } catch (error) {
      this.say(`The fix was applied, but the canvas could not be reloaded: ${error instanceof Error ? error.message : error}`);
    }
    if (detail.run_id) this.showRun(detail.run_id, "Run started after the fix…", "running");
  }

  // -- Versions, compare and dry run -------------------------------------------

  /** Create the version history, compare view and dry run panels. */
  startVersions() {
    const { urls } = this.config;
    const versions = urls.versions ?? `${urls.workflow}/versions`;
    const flush = async () => {
      await this.autosave?.flush();
    };
    this.history = new VersionHistory(/** @type {HTMLElement} */ (document.getElementById("versions-panel")), {
      versions,
      edit: urls.edit,
      root: this.root,
      state: () => this.state,
      revision: () => this.autosave?.revision ?? this.config.revision,
      beforeSnapshot: flush,
    });
    this.compare = new CompareView({ versions, workflow: urls.workflow, root: this.root, registry: () => /** @type {any} */ (this.editor).registry });
    this.dryRunPanel = new DryRunPanel(/** @type {HTMLElement} */ (document.getElementById("dry-run-panel")), {
      url: urls.dry_run ?? `${urls.workflow}/dry-run`,
      beforeRun: flush,
      nodeName: (id) => this.editor?.store.doc.nodes.find((node) => node.id === id)?.data.name || id,
    });
    this.root.addEventListener("canvas:workflow-state", (event) => this.showState(/** @type {CustomEvent} */ (event).detail.state));
    this.root.addEventListener("canvas:version-restored", () => this.reloadCanvas());
  }

  /** Load the stored canvas and its revision (after a restore). */
  async reloadCanvas() {
    try {
      const workflow = await request("GET", this.config.urls.workflow);
      this.autosave?.reload(workflow);
      this.showState(workflow.state);
    } catch (error) {
      this.say(error instanceof Error ? error.message : String(error));
    }
  }

  toggleHistory() {
    if (!this.history) return;
    if (this.dryRunPanel?.isOpen) this.dryRunPanel.close();
    this.history.toggle();
    this.historyButton.setAttribute("aria-expanded", String(this.history.isOpen));
  }

  dryRun() {
    if (!this.dryRunPanel) return;
    if (this.history?.isOpen) this.toggleHistory();
    this.dryRunButton.setAttribute("aria-expanded", "true");
    this.dryRunPanel.open();
  }

  /** Archive after asking: the workflow's cluster objects are removed. */
  async archive() {
    const agreed = await confirmDialog(document.body, {
      title: "Archive this workflow?",
      text: "Every object it deployed is removed from the cluster and its schedule is paused. Restore it to draft to use it again.",
      confirm: "Archive",
      danger: true,
    });
    if (!agreed) return;
    await this.busy(async () => {
      const workflow = await request("POST", this.config.urls.archive ?? `${this.config.urls.workflow}/archive`);
      this.showState(workflow.state);
    });
  }

  /** Page actions offered in the command palette too. */
  commands() {
    return [
      { id: "publish", label: "Publish", group: "Workflow", run: () => this.publish(), enabled: () => this.state === "draft" },
      { id: "run", label: "Run (a draft is published first)", group: "Workflow", run: () => this.run(), enabled: () => this.state !== "archived" },
      { id: "edit", label: "Edit (back to draft)", group: "Workflow", run: () => this.edit(), enabled: () => this.state !== "draft" },
      { id: "history", label: "Version history", group: "Workflow", run: () => this.toggleHistory(), enabled: () => true },
      { id: "dry-run", label: "Dry run (what a run would change)", group: "Workflow", run: () => this.dryRun(), enabled: () => this.state !== "archived" },
      { id: "archive", label: "Archive (removes its cluster objects)", group: "Workflow", run: () => this.archive(), enabled: () => this.state !== "archived" },
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
    this.buttons.archive.hidden = state === "archived";
    this.dryRunButton.hidden = state === "archived";
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
      // The live stream reports the run; polling is the fallback without it.
      if (this.live?.connected) return;
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
