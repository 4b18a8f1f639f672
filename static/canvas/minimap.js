// @ts-check
/**
 * The minimap: every node as a dot-sized box and the visible part of the
 * canvas as a frame; click or drag in it to move the view there.
 * @module canvas/minimap
 */
"use strict";

import { el } from "./dom.js";

/** @typedef {import("./scene.js").Scene} Scene */

const WIDTH = 200;
const HEIGHT = 130;

export class Minimap {
  /**
   * @param {HTMLElement} container
   * @param {Scene} scene
   */
  constructor(container, scene) {
    this.scene = scene;
    this.canvas = /** @type {HTMLCanvasElement} */ (
      el("canvas", { class: "kc-minimap", width: WIDTH, height: HEIGHT, "aria-hidden": "true" })
    );
    container.append(this.canvas);
    this.frame = 0;
    /** @type {{x: number, y: number, scale: number}} */
    this.mapping = { x: 0, y: 0, scale: 1 };
    this.canvas.addEventListener("pointerdown", (event) => this.jump(event, true));
    this.canvas.addEventListener("pointermove", (event) => {
      if (event.buttons === 1) this.jump(event, false);
    });
    scene.onView(() => this.schedule());
  }

  /** Redraw on the next frame (several changes in one frame draw once). */
  schedule() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.draw();
    });
  }

  draw() {
    const context = this.canvas.getContext("2d");
    if (!context) return;
    context.clearRect(0, 0, WIDTH, HEIGHT);
    const visible = this.visibleBox();
    const bounds = this.scene.bounds();
    const box = bounds ? union(bounds, visible) : visible;
    const scale = Math.min(WIDTH / (box.w + 80), HEIGHT / (box.h + 80));
    const x0 = box.x - (WIDTH / scale - box.w) / 2;
    const y0 = box.y - (HEIGHT / scale - box.h) / 2;
    this.mapping = { x: x0, y: y0, scale };
    context.fillStyle = "#8a94a8";
    for (const entry of this.scene.nodes.values()) {
      const w = Math.max(2, entry.w * scale);
      const h = Math.max(2, entry.h * scale);
      context.fillRect((entry.x - x0) * scale, (entry.y - y0) * scale, w, h);
    }
    context.strokeStyle = "#3b6fd8";
    context.lineWidth = 1.5;
    context.strokeRect(
      (visible.x - x0) * scale,
      (visible.y - y0) * scale,
      visible.w * scale,
      visible.h * scale
    );
  }

  /** Return the part of the world the viewport shows. */
  visibleBox() {
    const rect = this.scene.viewport.getBoundingClientRect();
    const { x, y, k } = this.scene.view;
    return { x: -x / k, y: -y / k, w: rect.width / k, h: rect.height / k };
  }

  /**
   * Centre the view on the clicked point of the map.
   * @param {PointerEvent} event
   * @param {boolean} capture
   */
  jump(event, capture) {
    event.preventDefault();
    event.stopPropagation();
    if (capture) this.canvas.setPointerCapture(event.pointerId);
    const rect = this.canvas.getBoundingClientRect();
    const { x: x0, y: y0, scale } = this.mapping;
    const worldX = (event.clientX - rect.left) / scale + x0;
    const worldY = (event.clientY - rect.top) / scale + y0;
    const view = this.scene.viewport.getBoundingClientRect();
    const k = this.scene.view.k;
    this.scene.setView({ x: view.width / 2 - worldX * k, y: view.height / 2 - worldY * k, k });
  }
}

/**
 * @param {{x: number, y: number, w: number, h: number}} a
 * @param {{x: number, y: number, w: number, h: number}} b
 */
function union(a, b) {
  const x = Math.min(a.x, b.x);
  const y = Math.min(a.y, b.y);
  return { x, y, w: Math.max(a.x + a.w, b.x + b.w) - x, h: Math.max(a.y + a.h, b.y + b.h) - y };
}
