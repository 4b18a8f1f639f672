// @ts-check
/**
 * Small DOM helpers shared by the canvas modules.
 * @module canvas/dom
 */
"use strict";

/**
 * Create an element with attributes, properties and children.
 * Attributes starting with "on" are event listeners; `class` sets className;
 * `dataset` is merged into the element's dataset.
 * @param {string} tag
 * @param {Record<string, any>} [attrs]
 * @param {...(Node|string|null|undefined|false)} children
 * @returns {HTMLElement}
 */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = String(value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key === "text") node.textContent = String(value);
    else if (key.startsWith("on") && typeof value === "function") {
      node.addEventListener(key.slice(2), value);
    } else if (value === true) node.setAttribute(key, "");
    else node.setAttribute(key, String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child);
  }
  return node;
}

/**
 * Create an SVG element with attributes.
 * @param {string} tag
 * @param {Record<string, string|number>} [attrs]
 * @returns {SVGElement}
 */
export function svg(tag, attrs = {}) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  return node;
}

/**
 * Dispatch a namespaced custom event (`canvas:*`) from an element.
 * @param {EventTarget} target
 * @param {string} name
 * @param {any} [detail]
 * @returns {boolean} false when a listener called preventDefault()
 */
export function emit(target, name, detail) {
  const event = new CustomEvent(name, { detail, bubbles: true, cancelable: true });
  return target.dispatchEvent(event);
}

/**
 * Tell whether a keyboard event comes from a text field the user types into.
 * @param {EventTarget|null} target
 * @returns {boolean}
 */
export function isTyping(target) {
  if (!(target instanceof HTMLElement)) return false;
  if (target.isContentEditable) return true;
  const tag = target.tagName;
  if (tag === "TEXTAREA" || tag === "SELECT") return true;
  if (tag !== "INPUT") return false;
  const type = /** @type {HTMLInputElement} */ (target).type;
  return !["checkbox", "radio", "button", "submit", "range"].includes(type);
}

/**
 * Deep-copy plain JSON data.
 * @template T
 * @param {T} value
 * @returns {T}
 */
export function clone(value) {
  return value === undefined ? value : JSON.parse(JSON.stringify(value));
}

/**
 * Tell whether two JSON values are equal.
 * @param {any} a
 * @param {any} b
 * @returns {boolean}
 */
export function sameJson(a, b) {
  return a === b || JSON.stringify(a) === JSON.stringify(b);
}

/**
 * Clamp a number between two bounds.
 * @param {number} value
 * @param {number} low
 * @param {number} high
 */
export function clamp(value, low, high) {
  return Math.min(high, Math.max(low, value));
}

/** Whether the platform's command key is Cmd (macOS) rather than Ctrl. */
export const IS_MAC = /Mac|iPhone|iPad/.test(navigator.platform || "");

/**
 * Tell whether the platform's command modifier is held.
 * @param {KeyboardEvent|MouseEvent} event
 */
export function commandKey(event) {
  return IS_MAC ? event.metaKey : event.ctrlKey;
}
