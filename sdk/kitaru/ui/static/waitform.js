/* Kitaru: a form generated from a wait's JSON schema.
 *   boolean -> <select> true/false     string -> text input (enum -> select)
 *   integer/number -> input (sent as a number; anything else is sent as typed, so the
 *   server refuses it with its own message)   object with properties -> fieldset
 *   anything else (arrays, anyOf, no schema) -> a textarea taking JSON
 * Each field carries data-testid="field-<path>" ("value", "value.a", "value.a.b").
 * build(container, schema, initial) returns {read()} where read() gives {value} or
 * throws an Error with a plain message. */
"use strict";

(function () {
  const esc = (v) => window.K.esc(v);

  function typeOf(schema) {
    if (!schema || typeof schema !== "object") return null;
    let t = schema.type;
    if (Array.isArray(t)) {
      const real = t.filter((x) => x !== "null");
      t = real.length === 1 ? real[0] : null;
    }
    if (Array.isArray(schema.enum) && schema.enum.length) return "enum";
    if (t === "object" && schema.properties && typeof schema.properties === "object") return "object";
    if (t === "boolean" || t === "string" || t === "integer" || t === "number") return t;
    return null; // arrays, anyOf, free objects, no schema: JSON textarea
  }

  const MISSING = Symbol("missing");

  function pick(initial, schema) {
    if (initial !== MISSING && initial !== undefined) return initial;
    if (schema && Object.prototype.hasOwnProperty.call(schema, "default")) return schema.default;
    return MISSING;
  }

  /** Returns a reader: () => value | MISSING (throws Error on bad JSON). */
  function field(schema, path, initial, required) {
    const kind = typeOf(schema);
    const id = "wf-" + path.replace(/[^a-z0-9_-]/gi, "_") + "-" + Math.random().toString(36).slice(2, 7);
    const tid = `data-testid="field-${esc(path)}"`;
    const val = pick(initial, schema);
    let html;
    let read;

    if (kind === "object") {
      const req = new Set(Array.isArray(schema.required) ? schema.required : []);
      const inner = [];
      const readers = [];
      const start = val !== MISSING && val && typeof val === "object" ? val : {};
      for (const [name, sub] of Object.entries(schema.properties)) {
        const f = field(sub || {}, path + "." + name, name in start ? start[name] : MISSING, req.has(name));
        inner.push(labelled(f.html, name, sub, req.has(name), f.id, f.kind));
        readers.push([name, f.read]);
      }
      html = `<fieldset class="wf-object" ${tid}>` +
        (schema.title ? `<legend>${esc(schema.title)}</legend>` : "") + inner.join("") + "</fieldset>";
      read = () => {
        const out = {};
        for (const [name, r] of readers) {
          const v = r();
          if (v !== MISSING) out[name] = v;
        }
        return out;
      };
      return { html, read, id, kind };
    }

    if (kind === "boolean") {
      const on = val === true;
      html = `<select id="${id}" ${tid}><option value="true"${on ? " selected" : ""}>true</option>` +
        `<option value="false"${on ? "" : " selected"}>false</option></select>`;
      read = () => document.getElementById(id).value === "true";
    } else if (kind === "enum") {
      const opts = schema.enum;
      let at = val === MISSING ? -1 : opts.findIndex((o) => JSON.stringify(o) === JSON.stringify(val));
      const blank = !required || at < 0;
      html = `<select id="${id}" ${tid}>` + (blank ? `<option value="">${at < 0 ? "choose…" : "(none)"}</option>` : "") +
        opts.map((o, i) => `<option value="${i}"${i === at ? " selected" : ""}>${
          esc(typeof o === "string" ? o : JSON.stringify(o))}</option>`).join("") + "</select>";
      read = () => {
        const v = document.getElementById(id).value;
        if (v === "") return required ? "" : MISSING;
        return opts[Number(v)];
      };
    } else if (kind === "string") {
      const text = val === MISSING ? "" : typeof val === "string" ? val : JSON.stringify(val);
      const ph = schema.format ? ` placeholder="${esc(schema.format)}"` : "";
      html = `<input type="text" id="${id}" ${tid} value="${esc(text)}"${ph}>`;
      read = () => {
        const v = document.getElementById(id).value;
        return v === "" && !required ? MISSING : v;
      };
    } else if (kind === "integer" || kind === "number") {
      const text = val === MISSING ? "" : String(val);
      const hint = [];
      if (schema.minimum !== undefined) hint.push("≥ " + schema.minimum);
      if (schema.maximum !== undefined) hint.push("≤ " + schema.maximum);
      html = `<input type="text" inputmode="${kind === "integer" ? "numeric" : "decimal"}" class="wf-number" ` +
        `id="${id}" ${tid} value="${esc(text)}" placeholder="${esc(kind + (hint.length ? " " + hint.join(", ") : ""))}">`;
      read = () => {
        const raw = document.getElementById(id).value;
        const t = raw.trim();
        if (t === "" && !required) return MISSING;
        if (t !== "" && /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(t)) return Number(t);
        return raw; // the server refuses it with its own message
      };
    } else {
      const text = val === MISSING ? "" : JSON.stringify(val, null, 2);
      html = `<textarea id="${id}" class="mono" ${tid} rows="${Math.min(8, Math.max(2, text.split("\n").length))}" ` +
        `placeholder="JSON${schema && schema.type ? " (" + esc(JSON.stringify(schema.type)) + ")" : ""}">${esc(text)}</textarea>`;
      read = () => {
        const t = document.getElementById(id).value.trim();
        if (t === "") {
          if (!required && path !== "value") return MISSING;
          throw new Error(`${path}: enter a value as JSON`);
        }
        try {
          return JSON.parse(t);
        } catch (err) {
          throw new Error(`${path} is not valid JSON: ${err.message}`);
        }
      };
    }
    return { html, read, id, kind };
  }

  function labelled(inner, name, schema, required, id, kind) {
    const title = schema && schema.title && String(schema.title).toLowerCase() !== String(name).toLowerCase()
      ? schema.title : "";
    const desc = schema && (schema.description || title);
    const cls = kind === "object" ? "wf-row wf-nested" : "wf-row";
    return `<div class="${cls}"><label for="${id}">${esc(name)}${required ? ' <span class="req" title="required">*</span>' : ""}</label>` +
      `<div class="wf-input">${inner}${desc ? `<div class="hint">${esc(desc)}</div>` : ""}</div></div>`;
  }

  function build(container, schema, initial) {
    const f = field(schema || null, "value", initial === undefined ? MISSING : initial, true);
    const top = f.kind === "object" ? f.html : labelled(f.html, "answer", schema, true, f.id, f.kind);
    container.innerHTML = top;
    return {
      read() {
        const v = f.read();
        return v === MISSING ? null : v;
      },
    };
  }

  window.KitaruWaitForm = { build, typeOf };
})();
