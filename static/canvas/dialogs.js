// @ts-check
/**
 * The command palette (Ctrl/⌘ K) and the keyboard shortcuts sheet (?).
 * @module canvas/dialogs
 */
"use strict";

import { IS_MAC, el } from "./dom.js";

/**
 * @typedef {{id: string, label: string, hint?: string, group: string,
 *   run: () => void, enabled?: () => boolean}} Command
 */

export class CommandPalette {
  /**
   * @param {HTMLElement} container
   * @param {() => Command[]} commands the commands on offer right now
   */
  constructor(container, commands) {
    this.commands = commands;
    /** @type {Command[]} */
    this.shown = [];
    this.active = 0;
    this.input = /** @type {HTMLInputElement} */ (
      el("input", {
        type: "text",
        class: "kc-command-input",
        placeholder: "Add a node or run a command…",
        role: "combobox",
        "aria-expanded": "true",
        "aria-controls": "kc-command-list",
        "aria-autocomplete": "list",
        "aria-label": "Command",
      })
    );
    this.list = el("ul", { class: "kc-command-list", id: "kc-command-list", role: "listbox", "aria-label": "Commands" });
    this.dialog = /** @type {HTMLDialogElement} */ (
      el("dialog", { class: "kc-command-palette", "aria-label": "Command palette" }, this.input, this.list)
    );
    container.append(this.dialog);
    this.input.addEventListener("input", () => this.filter());
    this.input.addEventListener("keydown", (event) => this.key(event));
    this.dialog.addEventListener("click", (event) => {
      if (event.target === this.dialog) this.close();
    });
  }

  open() {
    if (this.dialog.open) return;
    this.input.value = "";
    this.dialog.showModal();
    this.filter();
    this.input.focus();
  }

  close() {
    if (this.dialog.open) this.dialog.close();
  }

  get isOpen() {
    return this.dialog.open;
  }

  filter() {
    const words = this.input.value.toLowerCase().split(/\s+/).filter(Boolean);
    this.shown = this.commands()
      .filter((command) => !command.enabled || command.enabled())
      .filter((command) => {
        const text = `${command.label} ${command.group} ${command.hint ?? ""}`.toLowerCase();
        return words.every((word) => text.includes(word));
      });
    this.active = 0;
    this.draw();
  }

  draw() {
    this.list.replaceChildren(
      ...this.shown.map((command, index) =>
        el(
          "li",
          {
            id: `kc-command-${index}`,
            role: "option",
            class: "kc-command",
            "aria-selected": String(index === this.active),
            dataset: { command: command.id },
            onclick: () => this.run(index),
          },
          el("span", { class: "kc-command-label", text: command.label }),
          el("span", { class: "kc-command-group", text: command.hint ?? command.group })
        )
      )
    );
    if (!this.shown.length) this.list.append(el("li", { class: "kc-command-empty", text: "Nothing matches." }));
    this.input.setAttribute("aria-activedescendant", this.shown.length ? `kc-command-${this.active}` : "");
    this.list.children[this.active]?.scrollIntoView({ block: "nearest" });
  }

  /** @param {KeyboardEvent} event */
  key(event) {
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      const step = event.key === "ArrowDown" ? 1 : -1;
      const count = this.shown.length || 1;
      this.active = (this.active + step + count) % count;
      this.draw();
    } else if (event.key === "Enter") {
      event.preventDefault();
      this.run(this.active);
    } else if (event.key === "Escape") {
      event.preventDefault();
      this.close();
    }
  }

  /** @param {number} index */
  run(index) {
    const command = this.shown[index];
    if (!command) return;
    this.close();
    command.run();
  }
}

const MOD = IS_MAC ? "⌘" : "Ctrl";

/** The shortcuts the sheet lists, as [keys, what they do]. */
export const SHORTCUTS = [
  [`${MOD} K`, "Command palette: add a node or run a command"],
  ["?", "This sheet"],
  ["Click / Shift-click", "Select / add to the selection"],
  ["Shift-drag on the canvas", "Box-select"],
  ["Drag on the canvas", "Pan"],
  ["Wheel, + and −", "Zoom"],
  ["F", "Fit the view to every node"],
  ["L", "Auto-layout"],
  ["Enter", "Open the selected node's settings"],
  ["Arrow keys (Shift: faster)", "Move the selection"],
  ["Delete / Backspace", "Delete the selection"],
  [`${MOD} A`, "Select everything"],
  [`${MOD} C / ${MOD} V`, "Copy / paste"],
  [`${MOD} D`, "Duplicate"],
  [`${MOD} Z`, "Undo"],
  [`${MOD} Shift Z`, "Redo"],
  ["Esc", "Close, or clear the selection"],
];

export class ShortcutsSheet {
  /** @param {HTMLElement} container */
  constructor(container) {
    const rows = SHORTCUTS.map(([keys, what]) => el("tr", {}, el("th", { scope: "row" }, el("kbd", { text: keys })), el("td", { text: what })));
    this.dialog = /** @type {HTMLDialogElement} */ (
      el(
        "dialog",
        { class: "kc-shortcuts", "aria-labelledby": "kc-shortcuts-title" },
        el("h2", { id: "kc-shortcuts-title", text: "Keyboard shortcuts" }),
        el("table", {}, el("tbody", {}, ...rows)),
        el("form", { method: "dialog" }, el("button", { class: "button", text: "Close" }))
      )
    );
    container.append(this.dialog);
  }

  toggle() {
    if (this.dialog.open) this.dialog.close();
    else this.dialog.showModal();
  }
}
