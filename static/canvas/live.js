// @ts-check
/**
 * The live status of a workflow over its WebSocket (`ws/workflows/<id>/`):
 * a snapshot on every (re)connection, then node and run events, turned into
 * `canvas:*` events on the editor's root. It reconnects by itself with a
 * growing delay, and asks for a fresh snapshot whenever the page comes back
 * to the foreground, so a browser that missed events shows the truth.
 *
 * - emitted: `canvas:node-status` (detail: {nodes: Record<id, LiveStatus>,
 *   snapshot: boolean}), `canvas:run-status` (detail: the run's status),
 *   `canvas:live-connection` (detail: {state: "connecting"|"open"|"closed"})
 * @module canvas/live
 */
"use strict";

import { emit } from "./dom.js";

/**
 * @typedef {{state: string, text: string, tone: string, message: string,
 *   ready: number|null, desired: number|null, source: "watch"|"run"|"none"}} LiveStatus
 * @typedef {{workflowId: string, nodeIds: () => string[], url: string,
 *   retryMs: number, maxRetryMs: number}} LiveConfig
 */

const DEFAULTS = {
  url: "",
  retryMs: 250,
  maxRetryMs: 8000,
};

// Colours of the PRODUCT §6 health states and of the run's node states.
const TONES = {
  healthy: "green",
  progressing: "yellow",
  pending: "yellow",
  applying: "yellow",
  applied: "yellow",
  degraded: "red",
  failed: "red",
  suspended: "grey",
  missing: "grey",
  unknown: "grey",
  skipped: "grey",
  "not-deployed": "grey",
};

/**
 * Return the colour of a state: green, yellow, red or grey.
 * @param {string} state
 */
export function toneOf(state) {
  return /** @type {Record<string, string>} */ (TONES)[state] ?? "grey";
}

/**
 * Return what a card says about a node's live health.
 * @param {{state: string, ready?: number|null, desired?: number|null}} status
 */
export function statusText(status) {
  const { state, ready, desired } = status;
  if (state === "progressing" && desired != null) return `${ready ?? 0}/${desired} ready`;
  if (state === "not-deployed") return "not deployed";
  return state;
}

/**
 * Return the card status of a watcher's node health.
 * @param {any} data a `node.status` payload
 * @returns {LiveStatus}
 */
function fromWatch(data) {
  return {
    state: data.state,
    text: statusText(data),
    tone: toneOf(data.state),
    message: data.message ?? "",
    ready: data.ready ?? null,
    desired: data.desired ?? null,
    source: "watch",
  };
}

/**
 * Return the card status of a node state a run recorded.
 * @param {any} data a `run.node` payload
 * @returns {LiveStatus}
 */
function fromRun(data) {
  return {
    state: data.state,
    text: data.state,
    tone: toneOf(data.state),
    message: data.message ?? "",
    ready: null,
    desired: null,
    source: "run",
  };
}

/** @returns {LiveStatus} */
function notDeployed() {
  return { state: "not-deployed", text: "not deployed", tone: "grey", message: "", ready: null, desired: null, source: "none" };
}

export class LiveConnection {
  /**
   * @param {HTMLElement} root where the events are dispatched
   * @param {Partial<LiveConfig> & {workflowId: string}} options
   */
  constructor(root, options) {
    this.root = root;
    /** @type {LiveConfig} */
    this.config = { nodeIds: () => [], ...DEFAULTS, ...options };
    /** @type {Map<string, LiveStatus>} */
    this.nodes = new Map();
    /** @type {any} the latest run's status, as the server last told it */
    this.run = null;
    /** @type {WebSocket|null} */
    this.socket = null;
    this.retryMs = this.config.retryMs;
    this.stopped = false;
    this.snapshots = 0;
    this.retryTimer = 0;
    this.onVisible = () => {
      if (document.visibilityState === "visible") this.requestSnapshot();
    };
    document.addEventListener("visibilitychange", this.onVisible);
  }

  /** Whether the socket is open and the state is current. */
  get connected() {
    return this.socket?.readyState === WebSocket.OPEN && this.snapshots > 0;
  }

  /** Open the socket (again). */
  connect() {
    if (this.stopped) return;
    const socket = new WebSocket(this.url());
    this.socket = socket;
    this.announce("connecting");
    socket.onopen = () => {
      this.retryMs = this.config.retryMs;
      this.announce("open");
    };
    socket.onmessage = (event) => {
      if (socket === this.socket) this.receive(JSON.parse(event.data));
    };
    socket.onclose = (event) => {
      if (socket !== this.socket) return;
      this.socket = null;
      this.announce("closed");
      // 4403 / 4404: not signed in, or no access; trying again cannot help.
      if (event.code === 4403 || event.code === 4404) return;
      this.retryLater();
    };
  }

  /** Stop for good: close the socket and give up reconnecting. */
  stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    document.removeEventListener("visibilitychange", this.onVisible);
    this.socket?.close();
  }

  /** Drop the connection as a network cut would (for tests and demos). */
  cut() {
    this.socket?.close();
  }

  /** Close the socket and stay away until resume() (a long network cut). */
  pause() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.socket?.close();
  }

  /** Come back after pause(): connect again, starting from a snapshot. */
  resume() {
    this.stopped = false;
    this.retryMs = this.config.retryMs;
    this.connect();
  }

  /** Ask the server for the full current state. */
  requestSnapshot() {
    if (this.socket?.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify({ type: "snapshot" }));
  }

  /**
   * Return a node's status as last heard (not deployed when nothing was).
   * @param {string} nodeId
   */
  statusOf(nodeId) {
    return this.nodes.get(nodeId) ?? notDeployed();
  }

  url() {
    if (this.config.url) return this.config.url;
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    return `${scheme}//${location.host}/ws/workflows/${this.config.workflowId}/`;
  }

  retryLater() {
    const delay = this.retryMs;
    this.retryMs = Math.min(this.retryMs * 2, this.config.maxRetryMs);
    // A little jitter so a restarted server is not hit by every tab at once.
    this.retryTimer = window.setTimeout(() => this.connect(), delay * (0.8 + Math.random() * 0.4));
  }

  /** @param {"connecting"|"open"|"closed"} state */
  announce(state) {
    this.root.dataset.live = state;
    emit(this.root, "canvas:live-connection", { state });
  }

  // -- Frames from the server -------------------------------------------------

  /** @param {{type: string, data: any}} frame */
  receive(frame) {
    const { type, data } = frame;
    if (type === "snapshot") this.applySnapshot(data);
    else if (type === "node.status") this.setNodes({ [data.node_id]: fromWatch(data) }, false);
    else if (type === "node.removed") this.setNodes({ [data.node_id]: notDeployed() }, false);
    else if (type === "run.node") this.takeRunNode(data);
    else if (type === "run.status") this.takeRun(data);
  }

  /**
   * Replace everything known by the server's full state.
   * @param {any} snapshot
   */
  applySnapshot(snapshot) {
    this.snapshots += 1;
    /** @type {Record<string, LiveStatus>} */
    const nodes = {};
    for (const id of this.config.nodeIds()) nodes[id] = notDeployed();
    const run = snapshot.run;
    // While a run is going, its node states are fresher than a watch that
    // has not seen the new objects yet.
    const running = run && run.status === "running";
    if (running) for (const state of run.node_states ?? []) nodes[state.node_id] = fromRun(state);
    for (const status of snapshot.nodes ?? []) {
      if (running && nodes[status.node_id]?.source === "run" && status.state !== "healthy") continue;
      nodes[status.node_id] = fromWatch(status);
    }
    this.nodes.clear();
    this.setNodes(nodes, true);
    if (run) this.takeRun(run);
  }

  /** @param {any} data a `run.node` payload */
  takeRunNode(data) {
    const current = this.nodes.get(data.node_id);
    // The watcher's view of a live object wins over a run's "healthy", which
    // only says the node got there once.
    if (current?.source === "watch" && data.state === "healthy") return;
    this.setNodes({ [data.node_id]: fromRun(data) }, false);
  }

  /** @param {any} run */
  takeRun(run) {
    this.run = run;
    emit(this.root, "canvas:run-status", run);
  }

  /**
   * @param {Record<string, LiveStatus>} nodes
   * @param {boolean} snapshot
   */
  setNodes(nodes, snapshot) {
    for (const [id, status] of Object.entries(nodes)) this.nodes.set(id, status);
    emit(this.root, "canvas:node-status", { nodes, snapshot });
  }
}

/**
 * Connect a workflow's live status to an editor root.
 * @param {HTMLElement} root
 * @param {Partial<LiveConfig> & {workflowId: string}} options
 */
export function connectLive(root, options) {
  const live = new LiveConnection(root, options);
  live.connect();
  return live;
}
