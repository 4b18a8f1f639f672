// @ts-check
/**
 * A form generated from a JSON Schema (the registry's description of a
 * kind's data or of an edge's data): one control per property, with the
 * property's title, help text and default, and a place for the server's
 * errors on each field.
 *
 * The form never changes the value it was given: every edit calls
 * `onChange(next, key)` with a new copy, `key` naming the edited field so
 * keystrokes in one field can be merged into one undo step.
 * @module canvas/schema-form
 */
"use strict";

import { clone, el } from "./dom.js";

/**
 * @typedef {(string|number)[]} Path
 * @typedef {{readOnly: boolean, idPrefix: string,
 *   onChange: (next: any, key: string, structural: boolean) => void}} FormOptions
 */

/** Turn a path into the server's error key: `ports[0].port`. */
/** @param {Path} path */
export function pathKey(path) {
  let key = "";
  for (const step of path) key += typeof step === "number" ? `[${step}]` : key ? `.${step}` : step;
  return key;
}

/**
 * @param {any} prop
 * @returns {{type: string, nullable: boolean}}
 */
function typeOf(prop) {
  if (prop.anyOf) return { type: "portref", nullable: true };
  const types = Array.isArray(prop.type) ? prop.type : [prop.type];
  const type = types.find((/** @type {string} */ t) => t !== "null") ?? "string";
  return { type, nullable: types.includes("null") };
}

/**
 * @param {any} data
 * @param {Path} path
 */
function getAt(data, path) {
  let value = data;
  for (const step of path) value = value?.[step];
  return value;
}

/**
 * Return a copy of data with the value at path replaced (undefined removes).
 * @param {any} data
 * @param {Path} path
 * @param {any} value
 */
function setAt(data, path, value) {
  const copy = clone(data ?? {});
  let target = copy;
  for (const step of path.slice(0, -1)) target = target[step];
  const last = path[path.length - 1];
  if (value === undefined && !Array.isArray(target)) delete target[last];
  else target[last] = value;
  return copy;
}

export class SchemaForm {
  /**
   * @param {any} schema a JSON Schema of an object
   * @param {any} value the object being edited
   * @param {FormOptions} options
   */
  constructor(schema, value, options) {
    this.schema = schema;
    this.value = value ?? {};
    this.options = options;
    this.element = el("div", { class: "kf-form" });
    this.counter = 0;
    this.build();
  }

  /** Draw every field again from the current value. */
  build() {
    this.counter = 0;
    this.element.replaceChildren(...this.objectFields(this.schema, []));
  }

  /**
   * Take a new value from outside (undo, the server) and redraw, keeping
   * the focused field focused.
   * @param {any} value
   */
  update(value) {
    this.value = value ?? {};
    const focused = /** @type {HTMLElement|null} */ (document.activeElement);
    const path = focused && this.element.contains(focused) ? focused.dataset.path : null;
    this.build();
    if (path) {
      const again = /** @type {HTMLElement|null} */ (
        this.element.querySelector(`[data-path="${CSS.escape(path)}"]:is(input,select,textarea)`)
      );
      again?.focus();
    }
  }

  /**
   * @param {Path} path
   * @param {any} next
   * @param {boolean} [structural] the shape changed: redraw the form
   */
  change(path, next, structural = false) {
    this.value = setAt(this.value, path, next);
    this.options.onChange(this.value, pathKey(path), structural);
    if (structural) this.build();
  }

  /**
   * @param {any} schema
   * @param {Path} path
   * @returns {HTMLElement[]}
   */
  objectFields(schema, path) {
    const required = new Set(schema.required ?? []);
    return Object.entries(schema.properties ?? {})
      .filter(([, prop]) => !prop.readOnly)
      .map(([key, prop]) => this.field(prop, [...path, key], required.has(key)));
  }

  /**
   * @param {any} prop
   * @param {Path} path
   * @param {boolean} required
   * @returns {HTMLElement}
   */
  field(prop, path, required) {
    const { type, nullable } = typeOf(prop);
    const value = getAt(this.value, path);
    if (type === "object" && prop.additionalProperties && !prop.properties) return this.keyValue(prop, path, value);
    if (type === "object") return this.nested(prop, path, value, nullable);
    if (type === "array" && prop.items?.type === "object") return this.list(prop, path, value);
    if (type === "array" && prop.items?.enum) return this.choices(prop, path, value);
    return this.wrap(prop, path, required, this.control(prop, type, nullable, path, value));
  }

  /** @param {Path} path */
  id(path) {
    this.counter += 1;
    return `${this.options.idPrefix}-${pathKey(path).replace(/[^A-Za-z0-9]+/g, "-")}-${this.counter}`;
  }

  /**
   * A labelled field with help and an error slot.
   * @param {any} prop
   * @param {Path} path
   * @param {boolean} required
   * @param {HTMLElement} control
   */
  wrap(prop, path, required, control) {
    const key = pathKey(path);
    const title = prop.title ?? String(path[path.length - 1]);
    const isCheckbox = control instanceof HTMLInputElement && control.type === "checkbox";
    const label = el("label", { for: control.id }, isCheckbox ? control : null, title, required ? el("span", { class: "required", text: " *" }) : null);
    const help = prop.description ? el("p", { class: "kf-help", id: `${control.id}-help`, text: prop.description }) : null;
    if (help) control.setAttribute("aria-describedby", help.id);
    return el("div", { class: `kf-field${isCheckbox ? " kf-checkbox" : ""}`, dataset: { field: key } }, label, isCheckbox ? null : control, help);
  }

  /**
   * The input for a scalar value.
   * @param {any} prop
   * @param {string} type
   * @param {boolean} nullable
   * @param {Path} path
   * @param {any} value
   * @returns {HTMLElement}
   */
  control(prop, type, nullable, path, value) {
    const common = { id: this.id(path), dataset: { path: pathKey(path) }, disabled: this.options.readOnly };
    if (type === "boolean") {
      return el("input", { ...common, type: "checkbox", checked: !!value, onchange: (/** @type {Event} */ e) => this.change(path, /** @type {HTMLInputElement} */ (e.target).checked) });
    }
    if (prop.enum) return this.select(prop, path, value, common);
    if (type === "integer" || type === "number") {
      return el("input", {
        ...common,
        type: "number",
        step: type === "integer" ? "1" : "any",
        min: prop.minimum,
        max: prop.maximum,
        value: value ?? "",
        placeholder: "default" in prop && prop.default !== null ? `default ${prop.default}` : "",
        oninput: (/** @type {Event} */ e) => {
          const text = /** @type {HTMLInputElement} */ (e.target).value;
          const parsed = text === "" ? (nullable ? null : undefined) : Number(text);
          this.change(path, Number.isNaN(parsed) ? text : parsed);
        },
      });
    }
    if (type === "portref") {
      return el("input", {
        ...common,
        type: "text",
        inputmode: "text",
        value: value ?? "",
        placeholder: "number or name",
        oninput: (/** @type {Event} */ e) => {
          const text = /** @type {HTMLInputElement} */ (e.target).value.trim();
          this.change(path, text === "" ? null : /^\d+$/.test(text) ? Number(text) : text);
        },
      });
    }
    if (type === "array") return this.lines(path, value, common);
    const sensitive = !!prop["x-sensitive"] && (prop["x-sensitive"] === true || !!getAt(this.value, [...path.slice(0, -1), prop["x-sensitive"].when]));
    const multiline = prop.contentMediaType || (prop.maxLength ?? 0) > 100000;
    const attrs = {
      ...common,
      value: value ?? "",
      placeholder: prop.default ? `default ${prop.default}` : prop.format ? prop.format : "",
      spellcheck: "false",
      autocomplete: "off",
      oninput: (/** @type {Event} */ e) => this.change(path, /** @type {HTMLInputElement} */ (e.target).value),
    };
    if (multiline) {
      const area = el("textarea", { ...attrs, rows: 8, class: "kf-code" });
      area.textContent = value ?? "";
      return area;
    }
    return el("input", { ...attrs, type: sensitive ? "password" : "text" });
  }

  /**
   * @param {any} prop
   * @param {Path} path
   * @param {any} value
   * @param {Record<string, any>} common
   */
  select(prop, path, value, common) {
    const options = prop.enum.map((/** @type {string} */ option) =>
      el("option", { value: option, selected: option === (value ?? prop.default), text: option || "(default)" })
    );
    if (!prop.enum.includes("") && !prop.enum.includes(value ?? prop.default)) {
      options.unshift(el("option", { value: "", selected: true, text: "(none)" }));
    }
    return el("select", { ...common, onchange: (/** @type {Event} */ e) => this.change(path, /** @type {HTMLSelectElement} */ (e.target).value) }, ...options);
  }

  /**
   * A list of strings, one per line.
   * @param {Path} path
   * @param {any} value
   * @param {Record<string, any>} common
   */
  lines(path, value, common) {
    const area = el("textarea", {
      ...common,
      rows: 2,
      class: "kf-code",
      placeholder: "one per line",
      oninput: (/** @type {Event} */ e) => {
        const text = /** @type {HTMLTextAreaElement} */ (e.target).value;
        this.change(path, text ? text.split("\n") : []);
      },
    });
    area.textContent = (value ?? []).join("\n");
    return area;
  }

  /**
   * Checkboxes for a list of choices (access modes, policy types).
   * @param {any} prop
   * @param {Path} path
   * @param {any} value
   */
  choices(prop, path, value) {
    const chosen = new Set(value ?? []);
    const boxes = prop.items.enum.map((/** @type {string} */ option) =>
      el(
        "label",
        { class: "kf-choice" },
        el("input", {
          type: "checkbox",
          checked: chosen.has(option),
          disabled: this.options.readOnly,
          dataset: { path: `${pathKey(path)}:${option}` },
          onchange: (/** @type {Event} */ e) => {
            const on = /** @type {HTMLInputElement} */ (e.target).checked;
            const next = prop.items.enum.filter((/** @type {string} */ o) => (o === option ? on : chosen.has(o)));
            this.change(path, next);
          },
        }),
        ` ${option}`
      )
    );
    return el(
      "fieldset",
      { class: "kf-field kf-choices", dataset: { field: pathKey(path) } },
      el("legend", { text: prop.title ?? String(path[path.length - 1]) }),
      ...boxes,
      prop.description ? el("p", { class: "kf-help", text: prop.description }) : null
    );
  }

  /**
   * Rows of key and value (labels, annotations, ConfigMap data).
   * @param {any} prop
   * @param {Path} path
   * @param {any} value
   */
  keyValue(prop, path, value) {
    const entries = Object.entries(value ?? {});
    const sensitive = !!prop["x-sensitive"];
    const key = pathKey(path);
    /** @param {[string, any][]} next */
    const save = (next, structural = false) => this.change(path, Object.fromEntries(next), structural);
    const rows = entries.map(([name, text], index) =>
      el(
        "div",
        { class: "kf-kv-row" },
        el("input", {
          type: "text",
          value: name,
          "aria-label": `${prop.title ?? key} key ${index + 1}`,
          dataset: { path: `${key}.${index}:key` },
          disabled: this.options.readOnly,
          spellcheck: "false",
          onchange: (/** @type {Event} */ e) => {
            const next = [...entries];
            next[index] = [/** @type {HTMLInputElement} */ (e.target).value, text];
            save(next, true);
          },
        }),
        el("input", {
          type: sensitive ? "password" : "text",
          value: text ?? "",
          "aria-label": `${prop.title ?? key} value ${index + 1}`,
          dataset: { path: `${key}.${index}:value` },
          disabled: this.options.readOnly,
          spellcheck: "false",
          autocomplete: "off",
          oninput: (/** @type {Event} */ e) => {
            entries[index] = [name, /** @type {HTMLInputElement} */ (e.target).value];
            save(entries);
          },
        }),
        this.options.readOnly
          ? null
          : el("button", { type: "button", class: "kf-remove", "aria-label": `Remove ${name || "row"}`, text: "×", onclick: () => save(entries.filter((_, i) => i !== index), true) })
      )
    );
    const add = this.options.readOnly
      ? null
      : el("button", {
          type: "button",
          class: "kf-add",
          text: `Add ${singular(prop.title ?? "entry").toLowerCase()}`,
          onclick: () => {
            let name = "key";
            for (let n = 2; entries.some(([k]) => k === name); n += 1) name = `key${n}`;
            save([...entries, [name, ""]], true);
          },
        });
    return el(
      "fieldset",
      { class: "kf-field kf-kv", dataset: { field: key } },
      el("legend", { text: prop.title ?? key }),
      ...rows,
      add,
      prop.description ? el("p", { class: "kf-help", text: prop.description }) : null
    );
  }

  /**
   * A nested object, folded unless it holds values; a nullable one can be
   * switched on and off.
   * @param {any} prop
   * @param {Path} path
   * @param {any} value
   * @param {boolean} nullable
   */
  nested(prop, path, value, nullable) {
    const key = pathKey(path);
    const title = prop.title ?? key;
    const present = value !== null && value !== undefined;
    const body = [];
    if (nullable) {
      body.push(
        el("label", { class: "kf-toggle" },
          el("input", {
            type: "checkbox",
            checked: present,
            disabled: this.options.readOnly,
            dataset: { path: `${key}:enabled` },
            onchange: (/** @type {Event} */ e) => {
              const on = /** @type {HTMLInputElement} */ (e.target).checked;
              this.change(path, on ? defaultsOf(prop) : null, true);
            },
          }),
          ` Use ${title.toLowerCase()}`)
      );
    }
    if (present || !nullable) body.push(...this.objectFields(prop, path));
    const details = el(
      "details",
      { class: "kf-field kf-object", dataset: { field: key } },
      el("summary", { text: title }),
      prop.description ? el("p", { class: "kf-help", text: prop.description }) : null,
      ...body
    );
    /** @type {HTMLDetailsElement} */ (details).open = present && nullable;
    return details;
  }

  /**
   * A list of objects (ports, paths, env), each with a remove button.
   * @param {any} prop
   * @param {Path} path
   * @param {any} value
   */
  list(prop, path, value) {
    const items = Array.isArray(value) ? value : [];
    const key = pathKey(path);
    const title = prop.title ?? key;
    const one = singular(title);
    const rows = items.map((_, index) =>
      el(
        "fieldset",
        { class: "kf-item", dataset: { field: pathKey([...path, index]) } },
        el("legend", { text: `${one} ${index + 1}` }),
        ...this.objectFields(prop.items, [...path, index]),
        this.options.readOnly
          ? null
          : el("button", {
              type: "button",
              class: "kf-remove-item",
              text: `Remove ${one.toLowerCase()} ${index + 1}`,
              onclick: () => this.change(path, items.filter((__, i) => i !== index), true),
            })
      )
    );
    const add = this.options.readOnly
      ? null
      : el("button", {
          type: "button",
          class: "kf-add",
          text: `Add ${one.toLowerCase()}`,
          onclick: () => {
            this.change(path, [...items, defaultsOf(prop.items)], true);
            const fields = this.element.querySelectorAll(`[data-field="${CSS.escape(pathKey([...path, items.length]))}"] :is(input,select,textarea)`);
            /** @type {HTMLElement|undefined} */ (fields[0])?.focus();
          },
        });
    return el(
      "fieldset",
      { class: "kf-field kf-list", dataset: { field: key } },
      el("legend", { text: title }),
      prop.description ? el("p", { class: "kf-help", text: prop.description }) : null,
      ...rows,
      add
    );
  }

  /**
   * Show the server's errors next to their fields; return the ones that
   * have no field in this form.
   * @param {Record<string, string[]>} errors
   * @returns {[string, string[]][]}
   */
  showErrors(errors) {
    for (const old of this.element.querySelectorAll(".kf-error")) old.remove();
    for (const marked of this.element.querySelectorAll(".kf-invalid")) marked.classList.remove("kf-invalid");
    /** @type {[string, string[]][]} */
    const unplaced = [];
    for (const [key, messages] of Object.entries(errors)) {
      const field = this.findField(key);
      if (!field) {
        unplaced.push([key, messages]);
        continue;
      }
      field.classList.add("kf-invalid");
      for (const message of messages) field.append(el("p", { class: "kf-error", role: "alert", text: message }));
      for (let parent = field.parentElement; parent && parent !== this.element; parent = parent.parentElement) {
        if (parent instanceof HTMLDetailsElement) parent.open = true;
      }
    }
    return unplaced;
  }

  /**
   * Find the field an error key belongs to, or its nearest enclosing one.
   * @param {string} key
   */
  findField(key) {
    for (let probe = key; probe; probe = probe.replace(/(\.[^.[\]]+|\[\d+\])$/, "")) {
      const found = this.element.querySelector(`[data-field="${CSS.escape(probe)}"]`);
      if (found) return found;
      if (!/(\.[^.[\]]+|\[\d+\])$/.test(probe)) break;
    }
    return null;
  }
}

/** @param {any} schema */
function defaultsOf(schema) {
  /** @type {Record<string, any>} */
  const data = {};
  for (const [key, prop] of Object.entries(schema?.properties ?? {})) {
    if (prop.readOnly) continue;
    if ("default" in prop) data[key] = clone(prop.default);
  }
  return data;
}

/** @param {string} title */
function singular(title) {
  if (/ies$/.test(title)) return title.replace(/ies$/, "y");
  if (/(ss|us)$/.test(title)) return title;
  return title.replace(/s$/, "");
}
