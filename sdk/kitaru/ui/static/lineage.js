/* Kitaru lineage graph: layered layout (longest path from a node without parents),
 * left to right, drawn once as one SVG string. Layout is O(nodes + edges) plus one sort
 * per layer; node size is fixed and the container scrolls, so 500+ checkpoints stay
 * usable. Sets window.kitaruLineageDrawMs to the time the last layout + draw took. */
"use strict";

(function () {
  const NODE_W = 168; // checkpoint box
  const NODE_H = 26;
  const SMALL_W = 120; // input / wait pill
  const SMALL_H = 20;
  const COL_GAP = 56; // horizontal space between layers
  const ROW_GAP = 10;
  const PAD = 14;
  const MAX_CHARS = 22;

  const ESC = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
  const esc = (v) => String(v === null || v === undefined ? "" : v).replace(/[&<>"']/g, (c) => ESC[c]);

  const SOURCE_LABEL = {
    run: "ran",
    replay: "reused from the replay source",
    cache: "cache",
    override: "override",
  };

  const REPLAY_LABEL = {
    root: "the replay started here",
    rerun: "ran again: downstream of the replay's start",
  };

  /** Layout: returns {pos: Map id -> {x, y, w, h, node}, width, height}. */
  function layout(nodes, edges) {
    const n = nodes.length;
    const index = new Map();
    for (let i = 0; i < n; i++) index.set(nodes[i].id, i);
    const outs = Array.from({ length: n }, () => []);
    const ins = Array.from({ length: n }, () => []);
    const indeg = new Int32Array(n);
    const kept = [];
    for (const e of edges) {
      const a = index.get(e.from);
      const b = index.get(e.to);
      if (a === undefined || b === undefined || a === b) continue;
      outs[a].push(b);
      ins[b].push(a);
      indeg[b]++;
      kept.push([a, b]);
    }
    // Kahn's algorithm; depth = longest path from a node without parents.
    const depth = new Int32Array(n);
    const queue = [];
    for (let i = 0; i < n; i++) if (indeg[i] === 0) queue.push(i);
    let head = 0;
    while (head < queue.length) {
      const a = queue[head++];
      for (const b of outs[a]) {
        if (depth[a] + 1 > depth[b]) depth[b] = depth[a] + 1;
        if (--indeg[b] === 0) queue.push(b);
      }
    }
    if (queue.length < n) {
      // A cycle (should not happen): put what is left after the deepest layer.
      let max = 0;
      for (let i = 0; i < n; i++) if (depth[i] > max) max = depth[i];
      for (let i = 0; i < n; i++) if (indeg[i] > 0) depth[i] = max + 1;
    }
    // Inputs sit in the first layer; a wait sits just before its first consumer.
    for (let i = 0; i < n; i++) {
      if (nodes[i].kind === "wait" && outs[i].length && ins[i].length === 0) {
        let min = Infinity;
        for (const b of outs[i]) if (depth[b] < min) min = depth[b];
        depth[i] = Math.max(0, min - 1);
      }
    }
    let layers = 0;
    for (let i = 0; i < n; i++) if (depth[i] + 1 > layers) layers = depth[i] + 1;
    const byLayer = Array.from({ length: layers }, () => []);
    for (let i = 0; i < n; i++) byLayer[depth[i]].push(i);
    // Order inside a layer: by the mean row of the parents (fewer crossings), then input order.
    const row = new Float64Array(n);
    for (const layer of byLayer) {
      const key = new Map();
      for (const i of layer) {
        let sum = 0;
        let cnt = 0;
        for (const p of ins[i]) if (depth[p] < depth[i]) { sum += row[p]; cnt++; }
        key.set(i, cnt ? sum / cnt : -1);
      }
      layer.sort((a, b) => key.get(a) - key.get(b) || a - b);
      layer.forEach((i, r) => { row[i] = r; });
    }
    const pos = new Array(n);
    let height = 0;
    const colW = NODE_W + COL_GAP;
    const rowH = NODE_H + ROW_GAP;
    for (let l = 0; l < layers; l++) {
      const layer = byLayer[l];
      for (let r = 0; r < layer.length; r++) {
        const i = layer[r];
        const small = nodes[i].kind !== "checkpoint";
        const w = small ? SMALL_W : NODE_W;
        const h = small ? SMALL_H : NODE_H;
        const x = PAD + l * colW + (NODE_W - w);
        const y = PAD + r * rowH + (NODE_H - h) / 2;
        pos[i] = { x, y, w, h };
      }
      const bottom = PAD + layer.length * rowH;
      if (bottom > height) height = bottom;
    }
    return { pos, kept, width: PAD * 2 + Math.max(1, layers) * colW - COL_GAP,
      height: Math.max(height + PAD - ROW_GAP, 60) };
  }

  function short(label) {
    const s = String(label === null || label === undefined ? "" : label);
    return s.length > MAX_CHARS ? s.slice(0, MAX_CHARS - 1) + "…" : s;
  }

  /** Draw the graph into `container`. opts.onSelect(id) is called when a checkpoint node
   * is clicked; opts.selected is the id to mark. Returns {select(id)}. */
  function draw(container, lineage, opts) {
    const t0 = performance.now();
    opts = opts || {};
    const nodes = (lineage && lineage.nodes) || [];
    const edges = (lineage && lineage.edges) || [];
    if (!nodes.length) {
      container.innerHTML = '<div class="muted lineage-empty">No checkpoints yet.</div>';
      window.kitaruLineageDrawMs = performance.now() - t0;
      return { select() {} };
    }
    const L = layout(nodes, edges);
    const parts = [];
    parts.push(`<svg xmlns="http://www.w3.org/2000/svg" class="lineage-svg" width="${L.width}" ` +
      `height="${L.height}" viewBox="0 0 ${L.width} ${L.height}">` +
      '<defs><marker id="kl-arrow" viewBox="0 0 8 8" refX="7" refY="4" markerWidth="6" ' +
      'markerHeight="6" orient="auto"><path d="M0,0 L8,4 L0,8 z" class="kl-arrowhead"/></marker></defs>' +
      '<g class="kl-edges">');
    for (const [a, b] of L.kept) {
      const p = L.pos[a];
      const q = L.pos[b];
      const x1 = p.x + p.w;
      const y1 = p.y + p.h / 2;
      const x2 = q.x - 1;
      const y2 = q.y + q.h / 2;
      const dx = Math.max(24, (x2 - x1) / 2);
      parts.push(`<path d="M${x1},${y1} C${x1 + dx},${y1} ${x2 - dx},${y2} ${x2},${y2}" ` +
        `data-from="${esc(nodes[a].id)}" data-to="${esc(nodes[b].id)}" marker-end="url(#kl-arrow)"/>`);
    }
    parts.push('</g><g class="kl-nodes">');
    for (let i = 0; i < nodes.length; i++) {
      const nd = nodes[i];
      const p = L.pos[i];
      const id = esc(nd.id);
      const label = nd.label === null || nd.label === undefined || nd.label === "" ? nd.id : nd.label;
      if (nd.kind === "checkpoint") {
        const src = esc(String(nd.source || "run").replace(/[^a-z_-]/gi, ""));
        const sel = opts.selected === nd.id ? " selected" : "";
        const role = nd.replay === "root" || nd.replay === "rerun" ? nd.replay : "";
        parts.push(`<g data-testid="node" data-node-id="${id}" data-replay="${role}" ` +
          `class="kl-node kl-${src}${role ? " kl-" + role : ""}${sel}" ` +
          `transform="translate(${p.x},${p.y})"><title>${esc(nd.id)}${
            nd.label && nd.label !== nd.id ? " — " + esc(nd.label) : ""} (${esc(SOURCE_LABEL[nd.source] || nd.source || "")}${
            role ? "; " + REPLAY_LABEL[role] : ""})</title>` +
          `<rect width="${p.w}" height="${p.h}" rx="3"/>` +
          `<text x="8" y="${p.h / 2 + 4}">${esc(short(label))}</text></g>`);
      } else {
        const kind = nd.kind === "wait" ? "wait" : "input";
        parts.push(`<g data-node-id="${id}" class="kl-small kl-${kind}" transform="translate(${p.x},${p.y})">` +
          `<title>${esc(kind)}: ${esc(label)}</title>` +
          `<rect width="${p.w}" height="${p.h}" rx="${p.h / 2}"/>` +
          `<text x="${p.w / 2}" y="${p.h / 2 + 4}" text-anchor="middle">${esc(short(
            String(label).replace(/^(input|wait):/, "")))}</text></g>`);
      }
    }
    parts.push("</g></svg>");
    container.innerHTML = parts.join("");
    const svg = container.firstElementChild;
    window.kitaruLineageDrawMs = performance.now() - t0;

    svg.addEventListener("click", (ev) => {
      const g = ev.target.closest('g[data-testid="node"]');
      if (g && opts.onSelect) opts.onSelect(g.getAttribute("data-node-id"));
    });

    function mark(id, scroll) {
      svg.querySelectorAll(".selected").forEach((el) => el.classList.remove("selected"));
      svg.querySelectorAll(".kl-edges .hot").forEach((el) => el.classList.remove("hot"));
      if (id === null || id === undefined) return;
      const sel = CSS.escape(id);
      const g = svg.querySelector(`g[data-node-id="${sel}"]`);
      if (!g) return;
      g.classList.add("selected");
      svg.querySelectorAll(`.kl-edges path[data-to="${sel}"], .kl-edges path[data-from="${sel}"]`)
        .forEach((el) => el.classList.add("hot"));
      if (scroll) {
        const i = nodes.findIndex((nd) => nd.id === id);
        const p = L.pos[i];
        if (p) {
          const cw = container.clientWidth;
          const ch = container.clientHeight;
          if (p.x < container.scrollLeft || p.x + p.w > container.scrollLeft + cw ||
              p.y < container.scrollTop || p.y + p.h > container.scrollTop + ch) {
            container.scrollTo({ left: Math.max(0, p.x - cw / 3), top: Math.max(0, p.y - ch / 3) });
          }
        }
      }
    }
    if (opts.selected) mark(opts.selected, false);
    return { select: (id, scroll) => mark(id, scroll !== false) };
  }

  function legend() {
    const item = (cls, text, small) => `<span class="kl-legend-item"><svg width="22" height="12">` +
      `<rect class="${cls}" x="1" y="1" width="20" height="10" rx="${small ? 5 : 2}"/></svg>${text}</span>`;
    return `<div class="kl-legend">` +
      item("kl-run", "ran in this execution") +
      item("kl-replay", "reused from the replay source") +
      item("kl-run kl-root", "replay root") +
      item("kl-run kl-rerun", "ran again downstream") +
      item("kl-cache", "from cache") +
      item("kl-override", "override") +
      item("kl-input", "flow input", true) +
      item("kl-wait", "wait answer", true) +
      `</div>`;
  }

  window.KitaruLineage = { draw, layout, legend };
})();
