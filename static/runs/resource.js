// The resource page of a node: its health and diagnosis with fixes, and logs.
//
// Fixes are shown with their diff and applied with one click ("Apply" keeps
// the workflow a draft; "Apply and run" publishes it again and starts a run).

import { mountLogs } from "./logs.js";

const root = /** @type {HTMLElement} */ (document.getElementById("resource"));
const { workflowId, nodeId, csrfToken, terminalUrl } = /** @type {any} */ (root.dataset);
const nodeUrl = `/v1/api/workflows/${workflowId}/nodes/${encodeURIComponent(nodeId)}`;

/** @param {string} tag @param {string} [text] @param {string} [className] */
function element(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (className) node.className = className;
  return node;
}

async function loadDiagnosis() {
  const badge = /** @type {HTMLElement} */ (document.getElementById("health-badge"));
  const response = await fetch(`${nodeUrl}/diagnosis`, { credentials: "same-origin" });
  if (!response.ok) {
    badge.textContent = `unknown (${response.status})`;
    return;
  }
  const body = await response.json();
  badge.dataset.state = body.state;
  badge.textContent = body.message ? `${body.state}: ${body.message}` : body.state;
  showDiagnosis(body.diagnosis);
}

/** @param {any} diagnosis */
function showDiagnosis(diagnosis) {
  const section = /** @type {HTMLElement} */ (document.getElementById("diagnosis"));
  section.hidden = !diagnosis;
  if (!diagnosis) return;
  /** @type {HTMLElement} */ (document.getElementById("diagnosis-cause")).textContent = diagnosis.cause;
  const advice = /** @type {HTMLElement} */ (document.getElementById("diagnosis-advice"));
  advice.replaceChildren(...diagnosis.advice.map((/** @type {string} */ a) => element("li", a)));
  const evidence = /** @type {HTMLElement} */ (document.querySelector("#diagnosis-evidence div"));
  evidence.replaceChildren(element("pre", JSON.stringify(diagnosis.evidence, null, 2)));
  const fixes = /** @type {HTMLElement} */ (document.getElementById("diagnosis-fixes"));
  fixes.replaceChildren(...diagnosis.fixes.map(fixView));
  if (!diagnosis.fixes.length) fixes.append(element("p", "No automatic fix: change the workflow by hand.", "muted"));
}

/** @param {any} fix */
function fixView(fix) {
  const box = element("form", undefined, "fix");
  box.dataset.fixId = fix.id;
  box.append(element("h3", fix.title), element("p", fix.explanation, "muted small"));
  for (const input of fix.inputs) {
    const label = element("label", `${input.label} `);
    const field = /** @type {HTMLInputElement} */ (element("input"));
    field.name = input.name;
    field.value = input.default;
    if (input.sensitive) field.type = "password";
    label.append(field);
    box.append(label);
  }
  box.append(diffView(fix.diff));
  const actions = element("div", undefined, "actions");
  const apply = element("button", "Apply", "button");
  const applyAndRun = element("button", "Apply and run", "button primary");
  const result = element("span", "", "small");
  result.setAttribute("role", "status");
  apply.addEventListener("click", (event) => { event.preventDefault(); submitFix(box, fix.id, false, result); });
  applyAndRun.addEventListener("click", (event) => { event.preventDefault(); submitFix(box, fix.id, true, result); });
  actions.append(apply, applyAndRun, result);
  box.append(actions);
  return box;
}

/** @param {any} diff */
function diffView(diff) {
  const list = element("ul", undefined, "diff");
  for (const node of diff.nodes.modified) {
    for (const change of node.changes) {
      const item = element("li", `${node.id} ${change.path}: `);
      item.append(element("span", JSON.stringify(change.before), "before"), " → ",
        element("span", JSON.stringify(change.after), "after"));
      list.append(item);
    }
  }
  for (const node of diff.nodes.added) list.append(element("li", `+ node ${node.id} (${node.type})`, "after"));
  for (const edge of diff.edges.added) list.append(element("li", `+ edge ${edge.source} → ${edge.target}`, "after"));
  for (const edge of diff.edges.removed) list.append(element("li", `- edge ${edge.source} → ${edge.target}`, "before"));
  return list;
}

/**
 * @param {HTMLElement} box @param {string} fixId @param {boolean} run @param {HTMLElement} result
 */
async function submitFix(box, fixId, run, result) {
  /** @type {Record<string, string>} */
  const inputs = {};
  for (const field of box.querySelectorAll("input")) inputs[field.name] = field.value;
  result.textContent = "applying…";
  const response = await fetch(`${nodeUrl}/fix`, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken },
    body: JSON.stringify({ fix_id: fixId, run, inputs }),
  });
  const body = await response.json();
  if (!response.ok) {
    result.textContent = body.detail || JSON.stringify(body);
    return;
  }
  result.textContent = body.run_id
    ? `applied (revision ${body.revision}); run ${body.run_id} started`
    : `applied (revision ${body.revision}); the workflow is a draft`;
  document.dispatchEvent(new CustomEvent("runs:fix-applied", { detail: body }));
}

function linkTerminal(/** @type {any[]} */ pods, /** @type {string} */ chosen) {
  const link = /** @type {HTMLAnchorElement | null} */ (document.getElementById("open-terminal"));
  if (!link) return;
  const pod = pods.find((p) => p.name === chosen) || pods.find((p) => p.phase === "Running");
  link.hidden = !pod;
  if (pod) link.href = terminalUrl.replace("/POD/", `/${encodeURIComponent(pod.name)}/`);
}

loadDiagnosis();
const logsRoot = document.getElementById("logs");
if (logsRoot) {
  const panel = mountLogs(logsRoot, { workflowId, nodeId });
  /** @type {any} */ (window).kubeorchLogs = panel;
  const picker = /** @type {HTMLSelectElement} */ (document.getElementById("log-pod"));
  logsRoot.addEventListener("logs:pods", (event) =>
    linkTerminal(/** @type {CustomEvent} */ (event).detail.pods, picker.value));
  picker.addEventListener("change", () => linkTerminal(panel.pods(), picker.value));
}
