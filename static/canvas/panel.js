// @ts-check
/**
 * The settings panel: the selected node's (or edge's) form, generated from
 * the registry's schema, its links, and a YAML tab with the manifest the
 * server renders for the node.
 * @module canvas/panel
 */
"use strict";

import { ApiError, request } from "./api.js";
import { el } from "./dom.js";
import { SchemaForm } from "./schema-form.js";

/**
 * @typedef {import("./registry.js").Registry} Registry
 * @typedef {import("./registry.js").CanvasNode} CanvasNode
 * @typedef {import("./registry.js").CanvasEdge} CanvasEdge
 * @typedef {{
 *   registry: Registry,
 *   readOnly: () => boolean,
 *   manifestUrl: (nodeId: string) => string,
 *   doc: () => import("./store.js").Doc,
 *   errors: () => {nodes: Record<string, Record<string, string[]>>, edges: Record<string, Record<string, string[]>>},
 *   onNodeData: (id: string, data: any, key: string) => void,
 *   onEdgeChange: (id: string, change: Partial<CanvasEdge>, key: string) => void,
 *   onConnect: (sourceId: string, handle: string, targetId: string) => void,
 *   onRemoveEdge: (id: string) => void,
 *   onSelectEdge: (id: string) => void,
 *   onClose: () => void,
 * }} PanelHooks
 */

export class Panel {
  /**
   * @param {HTMLElement} container
   * @param {PanelHooks} hooks
   */
  constructor(container, hooks) {
    this.hooks = hooks;
    /** @type {{type: "node"|"edge", id: string}|null} */
    this.subject = null;
    /** @type {SchemaForm|null} */
    this.form = null;
    /** @type {any} the object the form shows, to tell outside changes apart */
    this.shown = null;
    this.tab = "settings";
    this.title = el("h2", { class: "kp-title", id: "kp-title" });
    this.subtitle = el("p", { class: "kp-subtitle" });
    this.settingsTab = el("button", { type: "button", role: "tab", class: "kp-tab", id: "kp-tab-settings", "aria-controls": "kp-settings", text: "Settings", onclick: () => this.showTab("settings") });
    this.yamlTab = el("button", { type: "button", role: "tab", class: "kp-tab", id: "kp-tab-yaml", "aria-controls": "kp-yaml", text: "YAML", onclick: () => this.showTab("yaml") });
    this.general = el("div", { class: "kp-general", role: "alert" });
    this.linksHost = el("div", { class: "kp-links-host" });
    // Filled by the page (live health, diagnosis); kept across redraws.
    this.liveHost = el("div", { class: "kp-live-host" });
    this.settings = el("div", { class: "kp-body", id: "kp-settings", role: "tabpanel", "aria-labelledby": "kp-tab-settings" });
    this.yaml = el("div", { class: "kp-body kp-yaml", id: "kp-yaml", role: "tabpanel", "aria-labelledby": "kp-tab-yaml", hidden: true });
    this.element = el(
      "aside",
      { class: "kc-panel", "aria-labelledby": "kp-title", hidden: true },
      el(
        "header",
        { class: "kp-head" },
        el("div", {}, this.title, this.subtitle),
        el("button", { type: "button", class: "kp-close", "aria-label": "Close the settings panel", text: "×", onclick: () => hooks.onClose() })
      ),
      el("div", { class: "kp-tabs", role: "tablist" }, this.settingsTab, this.yamlTab),
      this.general,
      this.liveHost,
      this.settings,
      this.yaml
    );
    container.append(this.element);
  }

  /**
   * Show a node or an edge (null closes the panel).
   * @param {{type: "node"|"edge", id: string}|null} subject
   */
  open(subject) {
    this.subject = subject;
    this.element.hidden = !subject;
    this.shown = null;
    this.form = null;
    if (!subject) return;
    if (subject.type === "edge") this.tab = "settings";
    this.refresh();
  }

  /** Redraw from the document, unless the change came from this form. */
  refresh() {
    if (!this.subject) return;
    const doc = this.hooks.doc();
    const subject = this.subject.type === "node"
      ? doc.nodes.find((n) => n.id === this.subject?.id)
      : doc.edges.find((e) => e.id === this.subject?.id);
    if (!subject) {
      this.hooks.onClose();
      return;
    }
    if (subject === this.shown) return;
    const previous = this.shown;
    this.shown = subject;
    if (this.subject.type === "node") this.drawNode(/** @type {CanvasNode} */ (subject), /** @type {CanvasNode|null} */ (previous));
    else if (!this.edgeFormChanged(/** @type {CanvasEdge} */ (subject), /** @type {CanvasEdge|null} */ (previous))) {
      this.drawEdge(/** @type {CanvasEdge} */ (subject));
    }
    this.showErrors();
  }

  /**
   * @param {CanvasNode} node
   * @param {CanvasNode|null} previous
   */
  drawNode(node, previous) {
    const kind = this.hooks.registry.kind(node.type);
    this.title.textContent = node.data.name || node.id;
    this.subtitle.textContent = `${kind?.label ?? node.type} · id ${node.id}`;
    this.yamlTab.hidden = false;
    const sameNode = previous && previous.id === node.id && previous.type === node.type;
    if (!sameNode || !this.form) {
      this.form = new SchemaForm(kind?.schema ?? {}, node.data, {
        readOnly: this.hooks.readOnly(),
        idPrefix: `kp-${node.id}`,
        onChange: (data, key) => this.hooks.onNodeData(node.id, data, key),
      });
      this.settings.replaceChildren(
        kind?.description ? el("p", { class: "kp-description", text: kind.description }) : "",
        this.form.element,
        this.linksHost
      );
    } else if (this.form.value !== node.data) {
      // Undo, redo or the server changed the node: redraw its fields.
      this.form.update(node.data);
    }
    this.linksHost.replaceChildren(this.linksSection(node));
    this.showTab(this.tab);
  }

  /**
   * Which edges touch the node, and (for keyboard users) a way to add one.
   * @param {CanvasNode} node
   */
  linksSection(node) {
    const { registry } = this.hooks;
    const doc = this.hooks.doc();
    const byId = new Map(doc.nodes.map((n) => [n.id, n]));
    const touching = doc.edges.filter((e) => e.source === node.id || e.target === node.id);
    const items = touching.map((edge) => {
      const outgoing = edge.source === node.id;
      const other = byId.get(outgoing ? edge.target : edge.source);
      const otherName = other ? `${registry.label(other.type)} ${other.data.name || other.id}` : "?";
      const text = outgoing ? `${edge.sourceHandle} → ${otherName}` : `← ${otherName}`;
      return el(
        "li",
        {},
        el("button", { type: "button", class: "link-button", text, onclick: () => this.hooks.onSelectEdge(edge.id) }),
        this.hooks.readOnly() ? null : el("button", { type: "button", class: "kf-remove", "aria-label": `Remove the link ${text}`, text: "×", onclick: () => this.hooks.onRemoveEdge(edge.id) })
      );
    });
    const section = el(
      "section",
      { class: "kp-links" },
      el("h3", { text: "Links" }),
      items.length ? el("ul", {}, ...items) : el("p", { class: "muted", text: "No links yet." })
    );
    const adder = this.hooks.readOnly() ? null : this.linkAdder(node, doc.nodes);
    if (adder) section.append(adder);
    const linked = Object.entries(node.data).filter(([key]) => key.startsWith("_linked"));
    if (linked.length) {
      section.append(
        el("details", { class: "kp-computed" },
          el("summary", { text: "Linked fields (computed)" }),
          el("pre", { text: JSON.stringify(Object.fromEntries(linked), null, 2) }))
      );
    }
    return section;
  }

  /**
   * A select of the nodes this one may link to, per output port.
   * @param {CanvasNode} node
   * @param {CanvasNode[]} nodes
   */
  linkAdder(node, nodes) {
    const { registry } = this.hooks;
    const outs = registry.portsOf(node).filter((port) => port.direction === "out");
    const targets = nodes.filter((other) => other.id !== node.id && registry.ruleFor(node.type, other.type));
    if (!outs.length || !targets.length) return null;
    const portSelect = el("select", { "aria-label": "From port" }, ...outs.map((port) => el("option", { value: port.handle, text: port.label })));
    const targetSelect = el("select", { "aria-label": "Link to" }, ...targets.map((other) => el("option", { value: other.id, text: `${registry.label(other.type)} ${other.data.name || other.id}` })));
    return el(
      "form",
      {
        class: "kp-link-adder",
        onsubmit: (/** @type {Event} */ event) => {
          event.preventDefault();
          const handle = /** @type {HTMLSelectElement} */ (portSelect).value;
          this.hooks.onConnect(node.id, handle, /** @type {HTMLSelectElement} */ (targetSelect).value);
        },
      },
      outs.length > 1 ? portSelect : null,
      targetSelect,
      el("button", { type: "submit", class: "button small", text: "Link" })
    );
  }

  /**
   * Tell whether only the edge's data changed, through this panel's form.
   * @param {CanvasEdge} edge
   * @param {CanvasEdge|null} previous
   */
  edgeFormChanged(edge, previous) {
    return (
      !!previous && !!this.form && previous.id === edge.id && this.form.value === edge.data &&
      previous.target === edge.target && previous.sourceHandle === edge.sourceHandle
    );
  }

  /** @param {CanvasEdge} edge */
  drawEdge(edge) {
    const { registry } = this.hooks;
    const doc = this.hooks.doc();
    const source = doc.nodes.find((n) => n.id === edge.source);
    const target = doc.nodes.find((n) => n.id === edge.target);
    if (!source || !target) return;
    const rule = registry.ruleFor(source.type, target.type);
    this.title.textContent = `${source.data.name || source.id} → ${target.data.name || target.id}`;
    this.subtitle.textContent = `Link · ${registry.label(source.type)} → ${registry.label(target.type)}`;
    this.yamlTab.hidden = true;
    this.showTab("settings");
    const readOnly = this.hooks.readOnly();
    const candidates = doc.nodes.filter((n) => n.id !== source.id && registry.ruleFor(source.type, n.type));
    const retarget = el(
      "select",
      {
        id: "kp-edge-target",
        disabled: readOnly,
        onchange: (/** @type {Event} */ e) => this.hooks.onEdgeChange(edge.id, { target: /** @type {HTMLSelectElement} */ (e.target).value }, "target"),
      },
      ...candidates.map((n) => el("option", { value: n.id, selected: n.id === target.id, text: `${registry.label(n.type)} ${n.data.name || n.id}` }))
    );
    const parts = [
      rule ? el("p", { class: "kp-description", text: rule.effect }) : null,
      el("div", { class: "kf-field", dataset: { field: "target" } }, el("label", { for: "kp-edge-target", text: "Target" }), retarget),
    ];
    const outs = registry.portsOf(source).filter((port) => port.direction === "out");
    if (outs.length > 1) {
      parts.push(
        el("div", { class: "kf-field", dataset: { field: "sourceHandle" } },
          el("label", { for: "kp-edge-handle", text: "From port" }),
          el("select", {
            id: "kp-edge-handle",
            disabled: readOnly,
            onchange: (/** @type {Event} */ e) => this.hooks.onEdgeChange(edge.id, { sourceHandle: /** @type {HTMLSelectElement} */ (e.target).value }, "sourceHandle"),
          }, ...outs.map((port) => el("option", { value: port.handle, selected: port.handle === edge.sourceHandle, text: port.label }))))
      );
    }
    this.form = null;
    if (rule && Object.keys(rule.dataSchema.properties ?? {}).length) {
      this.form = new SchemaForm(rule.dataSchema, edge.data ?? {}, {
        readOnly,
        idPrefix: `kp-edge-${edge.id}`,
        onChange: (data, key) => this.hooks.onEdgeChange(edge.id, { data }, `data.${key}`),
      });
      parts.push(el("div", { dataset: { field: "data" } }, this.form.element));
    }
    if (!readOnly) {
      parts.push(el("button", { type: "button", class: "button danger", text: "Remove this link", onclick: () => this.hooks.onRemoveEdge(edge.id) }));
    }
    this.settings.replaceChildren(...parts.filter((part) => part !== null));
  }

  /** Put the server's errors on the fields of what is shown. */
  showErrors() {
    if (!this.subject) return;
    const all = this.hooks.errors();
    const errors = (this.subject.type === "node" ? all.nodes : all.edges)[this.subject.id] ?? {};
    let unplaced = Object.entries(errors);
    if (this.subject.type === "edge") {
      const data = Object.fromEntries(unplaced.filter(([key]) => key.startsWith("data.")).map(([key, m]) => [key.slice(5), m]));
      const rest = unplaced.filter(([key]) => !key.startsWith("data."));
      unplaced = [...rest, ...(this.form ? this.form.showErrors(data) : Object.entries(data))];
    } else if (this.form) {
      unplaced = this.form.showErrors(errors);
    }
    this.general.replaceChildren(
      ...unplaced.flatMap(([key, messages]) => messages.map((message) => el("p", { class: "kf-error", text: `${key}: ${message}` })))
    );
  }

  /** @param {string} tab */
  showTab(tab) {
    this.tab = tab;
    const yaml = tab === "yaml";
    this.settings.hidden = yaml;
    this.yaml.hidden = !yaml;
    this.settingsTab.setAttribute("aria-selected", String(!yaml));
    this.yamlTab.setAttribute("aria-selected", String(yaml));
    if (yaml) this.loadYaml();
  }

  /** Fetch and show the manifest the server renders for the node. */
  async loadYaml() {
    if (!this.subject || this.subject.type !== "node") return;
    const id = this.subject.id;
    this.yaml.replaceChildren(el("p", { class: "muted", text: "Rendering on the server…" }));
    try {
      const answer = await request("GET", this.hooks.manifestUrl(id));
      if (this.subject?.id !== id) return;
      this.yaml.replaceChildren(
        el("p", { class: "muted", text: `As the server renders the saved canvas (revision ${answer.revision}). Secret values are masked.` }),
        el("pre", { class: "kp-manifest", tabindex: "0", text: answer.yaml })
      );
    } catch (error) {
      const message = error instanceof ApiError && error.status === 404
        ? "This node is not saved yet; the YAML appears once the canvas is saved."
        : error instanceof Error ? error.message : String(error);
      this.yaml.replaceChildren(el("p", { class: "kf-error", role: "alert", text: message }));
    }
  }
}
