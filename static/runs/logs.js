// Pod logs of a workflow node: a panel that reads, follows and filters them.
//
// Used by the resource page and meant for the canvas's mini-logs panel:
//   import { mountLogs } from "/static/runs/logs.js";
//   const panel = mountLogs(element, { workflowId, nodeId });
// `element` holds the controls (#log-pod, #log-container, #log-tail,
// #log-follow, #log-previous, #log-filter, #log-download, #log-lines,
// #log-status) or any subset of them, found by their data-log attribute or id.
//
// Following goes over a WebSocket; every line carries its timestamp, and the
// panel keeps, per pod and container, the last one seen and how many lines
// had it. When the socket drops it reconnects with that cursor, so the
// server resumes exactly after the last line shown: none twice, none lost.
// Events: "logs:lines" (detail: {lines}), "logs:status" (detail: {text}).

/** @typedef {{pod: string, container: string, ts: string, text: string}} LogLine */
/** @typedef {{ts: string, seen: number}} Cursor */

const DEFAULTS = {
  apiBase: "/v1/api",
  maxLines: 5000,
  reconnectMs: 500,
  maxReconnectMs: 8000,
  pingMs: 25000,
};

/**
 * Mount a logs panel.
 * @param {HTMLElement} root
 * @param {{workflowId: string, nodeId: string, apiBase?: string, maxLines?: number}} options
 */
export function mountLogs(root, options) {
  const config = { ...DEFAULTS, ...options };
  const find = (/** @type {string} */ name) =>
    /** @type {any} */ (root.querySelector(`[data-log="${name}"], #log-${name}`));
  const ui = {
    pod: find("pod"),
    container: find("container"),
    tail: find("tail"),
    follow: find("follow"),
    previous: find("previous"),
    filter: find("filter"),
    download: find("download"),
    lines: find("lines"),
    status: find("status"),
  };
  /** @type {Record<string, Cursor>} */
  let cursors = {};
  /** @type {WebSocket | null} */
  let socket = null;
  let generation = 0;
  let retryMs = config.reconnectMs;
  let pingTimer = 0;
  /** @type {Array<{name: string, phase: string, containers: string[], has_previous: string[]}>} */
  let pods = [];

  const nodeUrl = `${config.apiBase}/workflows/${config.workflowId}/nodes/${encodeURIComponent(config.nodeId)}`;

  function setStatus(/** @type {string} */ text) {
    if (ui.status) ui.status.textContent = text;
    root.dispatchEvent(new CustomEvent("logs:status", { detail: { text } }));
  }

  function settings() {
    return {
      pod: ui.pod ? ui.pod.value : "",
      container: ui.container ? ui.container.value : "",
      tail: ui.tail ? ui.tail.value : "200",
      follow: ui.follow ? ui.follow.checked : true,
      previous: ui.previous ? ui.previous.checked : false,
      filter: ui.filter ? ui.filter.value.trim().toLowerCase() : "",
    };
  }

  async function loadPods() {
    const response = await fetch(`${nodeUrl}/pods`, { credentials: "same-origin" });
    if (!response.ok) {
      setStatus(`pods: ${response.status}`);
      return;
    }
    const body = await response.json();
    pods = body.pods;
    if (ui.pod) {
      const chosen = ui.pod.value;
      ui.pod.replaceChildren(new Option("All pods", ""));
      for (const pod of pods) ui.pod.append(new Option(`${pod.name} (${pod.phase})`, pod.name));
      ui.pod.value = pods.some((p) => p.name === chosen) ? chosen : "";
    }
    fillContainers();
    root.dispatchEvent(new CustomEvent("logs:pods", { detail: { pods } }));
  }

  function fillContainers() {
    if (!ui.container) return;
    const pod = pods.find((p) => p.name === settings().pod) || pods[0];
    ui.container.replaceChildren(new Option("default", ""));
    for (const name of pod ? pod.containers : []) ui.container.append(new Option(name, name));
  }

  function clear() {
    if (ui.lines) ui.lines.replaceChildren();
    cursors = {};
  }

  /** @param {LogLine[]} lines */
  function show(lines) {
    const { pod, filter } = settings();
    const fragment = document.createDocumentFragment();
    for (const line of lines) {
      remember(line);
      const row = document.createElement("div");
      row.className = "line";
      if (!pod) {
        const prefix = document.createElement("span");
        prefix.className = "prefix";
        prefix.textContent = `[${line.pod}] `;
        row.append(prefix);
      }
      row.append(line.text);
      row.dataset.text = line.text.toLowerCase();
      row.hidden = Boolean(filter) && !row.dataset.text.includes(filter);
      fragment.append(row);
    }
    if (!ui.lines) return;
    const atBottom = ui.lines.scrollTop + ui.lines.clientHeight >= ui.lines.scrollHeight - 4;
    ui.lines.append(fragment);
    while (ui.lines.childElementCount > config.maxLines) ui.lines.firstElementChild.remove();
    if (atBottom) ui.lines.scrollTop = ui.lines.scrollHeight;
    root.dispatchEvent(new CustomEvent("logs:lines", { detail: { lines } }));
  }

  /** @param {LogLine} line */
  function remember(line) {
    if (!line.ts) return;
    const key = `${line.pod}/${line.container}`;
    const cursor = cursors[key];
    if (cursor && cursor.ts === line.ts) cursor.seen += 1;
    else cursors[key] = { ts: line.ts, seen: 1 };
  }

  function applyFilter() {
    const { filter } = settings();
    if (!ui.lines) return;
    for (const row of ui.lines.children) {
      /** @type {HTMLElement} */ (row).hidden =
        Boolean(filter) && !(/** @type {HTMLElement} */ (row).dataset.text || "").includes(filter);
    }
  }

  function query(/** @type {Record<string, string>} */ extra) {
    const { pod, container, tail, previous } = settings();
    const params = new URLSearchParams({ tail, ...extra });
    if (pod) params.set("pod", pod);
    if (container) params.set("container", container);
    if (previous) params.set("previous", "true");
    return params;
  }

  function updateDownload() {
    if (ui.download) ui.download.href = `${nodeUrl}/logs?${query({ download: "true", timestamps: "true" })}`;
  }

  function stop() {
    generation += 1;
    clearInterval(pingTimer);
    if (socket) {
      const closing = socket;
      socket = null;
      closing.close();
    }
  }

  async function readOnce() {
    const mine = generation;
    setStatus("loading…");
    const response = await fetch(`${nodeUrl}/logs?${query({})}`, { credentials: "same-origin" });
    if (mine !== generation) return;
    const text = await response.text();
    if (!response.ok) {
      setStatus(text);
      return;
    }
    const pod = settings().pod;
    show(
      text
        .split("\n")
        .filter((raw) => raw !== "")
        .map((raw) => lineOf(raw, pod))
    );
    setStatus(`${ui.lines ? ui.lines.childElementCount : 0} lines`);
  }

  /** Split a REST line "[pod/NAME/CONTAINER] text" into a LogLine. */
  function lineOf(/** @type {string} */ raw, /** @type {string} */ pod) {
    const match = /^\[pod\/([^/\]]+)\/([^\]]+)\] (.*)$/.exec(raw);
    if (!pod && match) return { pod: match[1], container: match[2], ts: "", text: match[3] };
    return { pod: pod || "", container: "", ts: "", text: raw };
  }

  function follow() {
    const mine = generation;
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const params = query({});
    if (Object.keys(cursors).length) params.set("resume", JSON.stringify(cursors));
    const url = `${scheme}://${location.host}/ws/workflows/${config.workflowId}/nodes/${encodeURIComponent(config.nodeId)}/logs?${params}`;
    const ws = new WebSocket(url);
    socket = ws;
    ws.onopen = () => {
      retryMs = config.reconnectMs;
      setStatus("following");
      clearInterval(pingTimer);
      pingTimer = window.setInterval(() => ws.readyState === 1 && ws.send('{"type":"ping"}'), config.pingMs);
    };
    ws.onmessage = (event) => {
      const message = JSON.parse(event.data);
      if (message.type === "lines") show(message.lines);
      else if (message.type === "error") setStatus(message.message);
      else if (message.type === "end") setStatus("end of log");
    };
    ws.onclose = (event) => {
      if (mine !== generation || socket !== ws) return;
      socket = null;
      if (event.code === 4404 || event.code === 4401) {
        setStatus("not allowed or gone");
        return;
      }
      setStatus(`reconnecting in ${Math.round(retryMs / 100) / 10} s…`);
      window.setTimeout(() => mine === generation && follow(), retryMs);
      retryMs = Math.min(retryMs * 2, config.maxReconnectMs);
    };
  }

  async function restart() {
    stop();
    clear();
    updateDownload();
    const { follow: following, previous } = settings();
    if (following && !previous) follow();
    else await readOnce();
  }

  for (const control of [ui.pod, ui.container, ui.tail, ui.follow, ui.previous]) {
    if (control) control.addEventListener("change", () => {
      if (control === ui.pod) fillContainers();
      restart();
    });
  }
  if (ui.filter) ui.filter.addEventListener("input", applyFilter);

  const ready = loadPods().then(restart);
  return {
    ready,
    reload: restart,
    stop,
    /** Drop the connection as a network cut would (for tests and demos). */
    cut() {
      if (socket) socket.close();
    },
    pods: () => pods,
  };
}
