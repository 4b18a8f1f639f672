// A terminal into a container: xterm.js over the terminal WebSocket.
//
// Keystrokes go up as binary frames, sizes as {"type": "resize"}; output
// comes down as binary frames written to the terminal; {"type": "exit"}
// ends it. A ping every 25 s keeps idle proxies from dropping the socket.
// Leaving the page closes the socket, which closes the shell in the pod.

import { Terminal } from "xterm";
import { FitAddon } from "xterm-addon-fit";

const PING_MS = 25000;
const page = /** @type {HTMLElement} */ (document.getElementById("terminal-page"));
const state = /** @type {HTMLElement} */ (document.getElementById("terminal-state"));
const { workflowId, nodeId, pod, container } = /** @type {any} */ (page.dataset);

// An explicit monospace family and line height: with the browser's default
// the bottom pixel row (underscores) is clipped.
const terminal = new Terminal({
  cursorBlink: true,
  convertEol: false,
  fontSize: 14,
  fontFamily: '"DejaVu Sans Mono", "Liberation Mono", Menlo, Consolas, monospace',
  lineHeight: 1.2,
});
const fit = new FitAddon();
terminal.loadAddon(fit);
terminal.open(/** @type {HTMLElement} */ (document.getElementById("terminal-screen")));
fit.fit();

const params = new URLSearchParams({ cols: String(terminal.cols), rows: String(terminal.rows) });
if (container) params.set("container", container);
const scheme = location.protocol === "https:" ? "wss" : "ws";
const socket = new WebSocket(
  `${scheme}://${location.host}/ws/workflows/${workflowId}/nodes/${encodeURIComponent(nodeId)}` +
    `/pods/${encodeURIComponent(pod)}/terminal?${params}`
);
socket.binaryType = "arraybuffer";
const encoder = new TextEncoder();
let pinger = 0;

function setState(/** @type {string} */ text) {
  state.textContent = text;
  page.dataset.state = text;
}

socket.onopen = () => {
  setState("connected");
  terminal.focus();
  pinger = window.setInterval(() => socket.send('{"type":"ping"}'), PING_MS);
};
socket.onmessage = (event) => {
  if (event.data instanceof ArrayBuffer) {
    terminal.write(new Uint8Array(event.data));
    return;
  }
  const message = JSON.parse(event.data);
  if (message.type === "exit") {
    terminal.write(`\r\n[the shell exited with code ${message.code ?? "?"}]\r\n`);
    setState(`exited (${message.code ?? "?"})`);
  } else if (message.type === "error") {
    terminal.write(`\r\n[${message.message}]\r\n`);
  }
};
socket.onclose = (event) => {
  clearInterval(pinger);
  if (!page.dataset.state || page.dataset.state === "connected" || page.dataset.state === "connecting…") {
    setState(event.code === 4404 ? "not allowed or gone" : "disconnected");
  }
};

terminal.onData((data) => {
  if (socket.readyState === WebSocket.OPEN) socket.send(encoder.encode(data));
});
terminal.onResize(({ cols, rows }) => {
  if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: "resize", cols, rows }));
});
window.addEventListener("resize", () => fit.fit());
window.addEventListener("pagehide", () => socket.close());
