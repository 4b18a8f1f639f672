// @ts-check
/**
 * "What's wrong": the section of the node panel for a failing node. It
 * fetches the server's diagnosis (`…/nodes/<id>/diagnosis`) and shows the
 * cause in words, the evidence, the advice and each fix with its diff, applied
 * with one click through `POST …/nodes/<id>/fix`.
 *
 * - emitted: `canvas:fix-applied` (detail: the server's answer: fix_id,
 *   revision, state, run_id), so the page reloads the canvas it changed.
 * @module canvas/diagnosis
 */
"use strict";

import { request } from "./api.js";
import { el, emit } from "./dom.js";

/**
 * @typedef {{workflowId: string, apiBase: string,
 *   beforeFix: () => Promise<void>}} DiagnosisConfig
 */

const DEFAULTS = {
  apiBase: "/v1/api",
  beforeFix: async () => {},
};

export class DiagnosisView {
  /**
   * @param {HTMLElement} root where events are dispatched
   * @param {Partial<DiagnosisConfig> & {workflowId: string}} options
   */
  constructor(root, options) {
    this.root = root;
    /** @type {DiagnosisConfig} */
    this.config = { ...DEFAULTS, ...options };
    this.element = el("section", { class: "kp-diagnosis", "aria-live": "polite", hidden: true });
    /** @type {string|null} */
    this.nodeId = null;
    this.loading = 0;
  }

  /**
   * Show the diagnosis of a node, or hide the section (null, or healthy).
   * @param {string|null} nodeId
   * @param {boolean} failing whether the node's live state is red
   */
  async show(nodeId, failing) {
    const changed = nodeId !== this.nodeId;
    this.nodeId = nodeId;
    if (!nodeId || !failing) {
      this.element.hidden = true;
      this.element.replaceChildren();
      return;
    }
    if (changed || this.element.hidden) this.element.replaceChildren(el("p", { class: "muted small", text: "Finding out what is wrong…" }));
    this.element.hidden = false;
    const ticket = ++this.loading;
    try {
      const answer = await request("GET", `${this.nodeUrl(nodeId)}/diagnosis`);
      if (ticket !== this.loading) return;
      this.draw(answer);
    } catch (error) {
      if (ticket !== this.loading) return;
      this.element.replaceChildren(this.heading(), problem(`The diagnosis could not be loaded: ${messageOf(error)}`));
    }
  }

  /** @param {string} nodeId */
  nodeUrl(nodeId) {
    return `${this.config.apiBase}/workflows/${this.config.workflowId}/nodes/${encodeURIComponent(nodeId)}`;
  }

  heading() {
    return el("h3", { class: "kp-diagnosis-title", text: "What's wrong" });
  }

  /** @param {any} answer the diagnosis endpoint's body */
  draw(answer) {
    // Live updates redraw the section; what the user typed must survive.
    const typed = this.typedValues();
    this.drawAnswer(answer);
    for (const input of this.fixInputs()) {
      const value = typed.get(inputKey(input));
      if (value !== undefined) input.value = value;
    }
  }

  /** @returns {HTMLInputElement[]} */
  fixInputs() {
    return Array.from(this.element.querySelectorAll("input[data-fix-input]"));
  }

  /** @returns {Map<string, string>} the values typed into the fix inputs */
  typedValues() {
    return new Map(this.fixInputs().map((input) => [inputKey(input), input.value]));
  }

  /** @param {any} answer the diagnosis endpoint's body */
  drawAnswer(answer) {
    const diagnosis = answer.diagnosis;
    if (!diagnosis) {
      this.element.replaceChildren(this.heading(), el("p", { class: "kp-cause", text: answer.message || `The node is ${answer.state}.` }));
      return;
    }
    const parts = [
      this.heading(),
      el("p", { class: "kp-cause", text: sentence(diagnosis.cause) }),
      diagnosis.advice?.length ? el("ul", { class: "kp-advice" }, ...diagnosis.advice.map((/** @type {string} */ text) => el("li", { text }))) : null,
      evidenceView(diagnosis.evidence ?? {}),
      ...(diagnosis.fixes ?? []).map((/** @type {any} */ fix) => this.fixView(fix)),
      diagnosis.fixes?.length ? null : el("p", { class: "muted small", text: "No automatic fix: change the workflow by hand." }),
    ];
    this.element.replaceChildren(...parts.filter((part) => part !== null));
  }

  /** @param {any} fix */
  fixView(fix) {
    const result = el("p", { class: "kp-fix-result small", role: "status" });
    const inputs = (fix.inputs ?? []).map((/** @type {any} */ input) =>
      el("label", { class: "kp-fix-input" }, `${input.label} `,
        el("input", { name: input.name, value: input.default, type: input.sensitive ? "password" : "text", "data-fix-input": input.name }))
    );
    const diff = el("div", { class: "kp-fix-diff" },
      fix.diff ? diffView(fix.diff) : el("p", { class: "muted small", text: "This fix no longer applies to the current canvas." }));
    const box = el("form", { class: "kp-fix", dataset: { fixId: fix.id }, onsubmit: (/** @type {Event} */ e) => e.preventDefault() },
      el("h4", { text: fix.title }),
      fix.explanation ? el("p", { class: "muted small", text: fix.explanation }) : null,
      ...inputs,
      diff,
    );
    box.addEventListener("change", () => this.preview(box, fix.id, diff));
    const apply = el("button", { type: "button", class: "button small", text: "Apply fix", disabled: !fix.diff });
    const applyAndRun = el("button", { type: "button", class: "button small primary", text: "Apply and run", disabled: !fix.diff });
    apply.addEventListener("click", () => this.applyFix(box, fix.id, false, result));
    applyAndRun.addEventListener("click", () => this.applyFix(box, fix.id, true, result));
    box.append(el("div", { class: "kp-fix-actions" }, apply, applyAndRun), result);
    return box;
  }

  /**
   * Show the diff the fix would make with the values typed in.
   * @param {HTMLElement} box
   * @param {string} fixId
   * @param {HTMLElement} diff
   */
  async preview(box, fixId, diff) {
    const nodeId = this.nodeId;
    if (!nodeId) return;
    try {
      const answer = await request("POST", `${this.nodeUrl(nodeId)}/fix`, { fix_id: fixId, preview: true, inputs: inputsOf(box) });
      diff.replaceChildren(diffView(answer.diff));
    } catch (error) {
      diff.replaceChildren(problem(`No preview: ${messageOf(error)}`));
    }
  }

  /**
   * Apply a fix on the server, then tell the page.
   * @param {HTMLElement} box
   * @param {string} fixId
   * @param {boolean} run
   * @param {HTMLElement} result
   */
  async applyFix(box, fixId, run, result) {
    const nodeId = this.nodeId;
    if (!nodeId) return;
    const inputs = inputsOf(box);
    const buttons = [...box.querySelectorAll("button")].map((b) => /** @type {HTMLButtonElement} */ (b));
    for (const button of buttons) button.disabled = true;
    result.className = "kp-fix-result small";
    result.textContent = run ? "Applying the fix and starting a run…" : "Applying the fix…";
    try {
      await this.config.beforeFix();
      const answer = await request("POST", `${this.nodeUrl(nodeId)}/fix`, { fix_id: fixId, run, inputs });
      result.textContent = answer.run_id
        ? `Applied (revision ${answer.revision}); run ${String(answer.run_id).slice(0, 8)} started.`
        : `Applied (revision ${answer.revision}); the workflow is a ${answer.state}.`;
      emit(this.root, "canvas:fix-applied", { ...answer, node_id: nodeId });
    } catch (error) {
      result.className = "kp-fix-result small kf-error";
      result.setAttribute("role", "alert");
      result.textContent = `The fix was not applied: ${messageOf(error)}`;
      result.scrollIntoView?.({ block: "nearest" });
      for (const button of buttons) button.disabled = false;
    }
  }
}

/**
 * The evidence the server found: events, exit code, previous logs...
 * @param {Record<string, any>} evidence
 */
function evidenceView(evidence) {
  const entries = Object.entries(evidence).filter(([, value]) => value !== null && value !== "" && !(Array.isArray(value) && !value.length));
  if (!entries.length) return null;
  return el("details", { class: "kp-evidence", open: true },
    el("summary", { text: "Evidence" }),
    el("dl", {}, ...entries.flatMap(([key, value]) => [
      el("dt", { text: key.replaceAll("_", " ") }),
      el("dd", {}, typeof value === "string" || typeof value === "number"
        ? String(value)
        : el("pre", { text: JSON.stringify(value, null, 2) })),
    ]))
  );
}

/**
 * A fix's diff as a list of changes, before → after.
 * @param {any} diff compare_canvases' JSON
 */
function diffView(diff) {
  const list = el("ul", { class: "kp-diff" });
  for (const node of diff.nodes?.modified ?? []) {
    for (const change of node.changes ?? []) {
      list.append(el("li", {}, `${node.id} ${change.path}: `,
        el("del", { class: "before", text: JSON.stringify(change.before) }), " → ",
        el("ins", { class: "after", text: JSON.stringify(change.after) })));
    }
  }
  for (const node of diff.nodes?.added ?? []) list.append(el("li", {}, el("ins", { class: "after", text: `+ node ${node.id} (${node.type})` })));
  for (const node of diff.nodes?.removed ?? []) list.append(el("li", {}, el("del", { class: "before", text: `- node ${node.id} (${node.type})` })));
  for (const edge of diff.edges?.added ?? []) list.append(el("li", {}, el("ins", { class: "after", text: `+ link ${edge.source} → ${edge.target}` })));
  for (const edge of diff.edges?.removed ?? []) list.append(el("li", {}, el("del", { class: "before", text: `- link ${edge.source} → ${edge.target}` })));
  if (!list.children.length) list.append(el("li", { class: "muted", text: "No change to the canvas." }));
  return list;
}

/**
 * Return where an input sits: its fix's id and its name.
 * @param {HTMLInputElement} input
 */
function inputKey(input) {
  const box = /** @type {HTMLElement|null} */ (input.closest(".kp-fix"));
  return `${box?.dataset.fixId ?? ""}/${input.name}`;
}

/**
 * Return the values typed into a fix's inputs, by name.
 * @param {HTMLElement} box
 */
function inputsOf(box) {
  /** @type {Record<string, string>} */
  const inputs = {};
  for (const field of box.querySelectorAll("input[data-fix-input]")) {
    const input = /** @type {HTMLInputElement} */ (field);
    inputs[input.name] = input.value;
  }
  return inputs;
}

/** @param {string} message */
function problem(message) {
  return el("p", { class: "kf-error", role: "alert", text: message });
}

/** @param {string} text */
function sentence(text) {
  if (!text) return "";
  const capital = text[0].toUpperCase() + text.slice(1);
  return /[.!?]$/.test(capital) ? capital : `${capital}.`;
}

/** @param {unknown} error */
function messageOf(error) {
  return error instanceof Error ? error.message : String(error);
}
