// @ts-check
/**
 * The palette sidebar: every node kind of the registry, grouped and
 * searchable. Drag a kind onto the canvas to add it where it is dropped, or
 * press Enter on it to add it at the centre of the view.
 * @module canvas/palette
 */
"use strict";

import { el } from "./dom.js";

/** The drag data type that carries a kind key. */
export const KIND_MIME = "application/x-kubeorch-kind";

/** @typedef {import("./registry.js").Registry} Registry */

export class Palette {
  /**
   * @param {HTMLElement} container
   * @param {Registry} registry
   * @param {(key: string) => void} onAdd add a node of a kind at the centre
   */
  constructor(container, registry, onAdd) {
    this.registry = registry;
    this.search = /** @type {HTMLInputElement} */ (
      el("input", { type: "search", class: "kc-palette-search", placeholder: "Search kinds", "aria-label": "Search node kinds" })
    );
    this.list = el("div", { class: "kc-palette-groups" });
    this.element = el(
      "aside",
      { class: "kc-palette", "aria-label": "Node kinds" },
      el("h2", { class: "visually-hidden", text: "Node kinds" }),
      this.search,
      this.list,
      el("p", { class: "kc-palette-hint", text: "Drag onto the canvas, or press Enter. Ctrl/⌘ K: command palette." })
    );
    container.append(this.element);
    this.search.addEventListener("input", () => this.filter());
    this.build(onAdd);
  }

  /** @param {(key: string) => void} onAdd */
  build(onAdd) {
    const groups = this.registry.groups.map((group) => {
      const kinds = this.registry.kinds.filter((kind) => kind.group === group);
      const items = kinds.map((kind) =>
        el(
          "li",
          {},
          el(
            "button",
            {
              type: "button",
              class: `kc-palette-item kind-${kind.key}`,
              draggable: "true",
              title: kind.description,
              dataset: { kind: kind.key, search: `${kind.label} ${kind.key} ${kind.group} ${kind.description}`.toLowerCase() },
              onclick: () => onAdd(kind.key),
              ondragstart: (/** @type {DragEvent} */ event) => {
                event.dataTransfer?.setData(KIND_MIME, kind.key);
                event.dataTransfer?.setData("text/plain", kind.key);
                if (event.dataTransfer) event.dataTransfer.effectAllowed = "copy";
              },
            },
            el("span", { class: "kc-palette-label", text: kind.label })
          )
        )
      );
      return el("section", { class: "kc-palette-group", dataset: { group } }, el("h3", { text: group }), el("ul", {}, ...items));
    });
    this.list.replaceChildren(...groups);
  }

  /** Show only the kinds matching the search text. */
  filter() {
    const words = this.search.value.toLowerCase().split(/\s+/).filter(Boolean);
    for (const group of this.list.querySelectorAll(".kc-palette-group")) {
      let shown = 0;
      for (const item of group.querySelectorAll(".kc-palette-item")) {
        const text = /** @type {HTMLElement} */ (item).dataset.search ?? "";
        const match = words.every((word) => text.includes(word));
        /** @type {HTMLElement} */ (item.parentElement).hidden = !match;
        if (match) shown += 1;
      }
      /** @type {HTMLElement} */ (group).hidden = shown === 0;
    }
  }

  /** @param {boolean} readOnly */
  setReadOnly(readOnly) {
    this.element.classList.toggle("kc-disabled", readOnly);
    for (const item of this.element.querySelectorAll("button")) /** @type {HTMLButtonElement} */ (item).disabled = readOnly;
  }
}
