/* Kitaru dashboard: the diff page (#/diff?a=&b=) and the flows page (#/flows). */
"use strict";

(function () {
  const K = window.K;
  const esc = K.esc;
  const STATES = ["changed", "only_a", "only_b", "same"];
  const STATE_TEXT = { same: "same", changed: "changed", only_a: "only in A", only_b: "only in B" };

  function cell(present, value) {
    if (!present) return '<span class="muted">(absent)</span>';
    let text = K.pretty(value, 4000);
    return `<pre class="inline">${esc(text)}</pre>`;
  }

  /* ---------- diff ---------- */

  K.pages.diff = function diffPage(main, r) {
    main.innerHTML = `<div class="page diff-page">
      <h1>Diff</h1>
      <form class="filters" id="d-form">
        <label>A <input type="text" class="mono" data-testid="diff-a" id="d-a" placeholder="execution id" size="28"></label>
        <label>B <input type="text" class="mono" data-testid="diff-b" id="d-b" placeholder="execution id" size="28"></label>
        <button type="submit" class="primary" data-testid="diff-go">Compare</button>
        <span class="grow"></span>
        <label class="check"><input type="checkbox" id="d-hide-same"> hide checkpoints that are the same</label>
      </form>
      <div id="d-out"><p class="muted">Enter two execution ids, or pick two in the executions list and press Compare.</p></div>
    </div>`;
    const $ = (id) => main.querySelector("#" + id);
    let seq = 0;

    async function load(q) {
      $("d-a").value = q.a || "";
      $("d-b").value = q.b || "";
      if (!q.a || !q.b) return;
      const my = ++seq;
      $("d-out").innerHTML = '<p class="muted">Loading…</p>';
      let d;
      try {
        d = await K.get("/api/diff?" + K.qs({ a: q.a, b: q.b }));
      } catch (e) {
        if (my === seq) $("d-out").innerHTML = K.errorBox(e.message);
        return;
      }
      if (my !== seq) return;
      render(d);
    }

    function render(d) {
      const rows = d.checkpoints || [];
      const counts = {};
      for (const s of STATES) counts[s] = 0;
      for (const c of rows) counts[c.state] = (counts[c.state] || 0) + 1;
      const summary = STATES.map((s) => `<span class="chip-static diff-${s}"><b>${counts[s]}</b> ${esc(STATE_TEXT[s])}</span>`).join(" ");
      const body = rows.map((c) => {
        let detail = "";
        if (c.state === "changed") {
          const ch = (c.changes || []).map((x) => `<tr><td class="mono path">${esc(x.path === "" ? "(whole value)" : x.path)}</td>
            <td>${cell(x.in_a !== false, x.a)}</td><td>${cell(x.in_b !== false, x.b)}</td></tr>`).join("");
          detail = `<table class="changes"><thead><tr><th>Path</th><th>A</th><th>B</th></tr></thead><tbody>${ch}</tbody></table>` +
            (c.more_changes ? `<div class="muted small">and ${esc(c.more_changes)} more change${c.more_changes === 1 ? "" : "s"}</div>` : "");
        } else if (c.state === "only_a") {
          detail = '<span class="muted">only in A</span>';
        } else if (c.state === "only_b") {
          detail = '<span class="muted">only in B</span>';
        }
        return `<tr data-testid="diff-row" data-checkpoint-id="${esc(c.id)}" data-state="${esc(c.state)}" class="diff-${esc(c.state)}">
          <td class="mono">${esc(c.id)}</td><td><span class="chip-static diff-${esc(c.state)}">${esc(STATE_TEXT[c.state] || c.state)}</span></td>
          <td>${detail}</td></tr>`;
      }).join("");
      $("d-out").innerHTML = `
        <div class="diff-heads"><div><span class="muted">A</span> ${K.execLink(d.a)}</div><div><span class="muted">B</span> ${K.execLink(d.b)}</div></div>
        <div class="chips">${summary}</div>
        <table class="grid diff-table" data-testid="diff">
          <thead><tr><th>Checkpoint</th><th>State</th><th>Changes</th></tr></thead>
          <tbody>${body || '<tr class="empty"><td colspan="3">Neither execution has checkpoints.</td></tr>'}</tbody></table>`;
      applyHide();
    }

    function applyHide() {
      main.classList.toggle("hide-same", $("d-hide-same").checked);
    }

    $("d-hide-same").addEventListener("change", applyHide);
    $("d-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const h = "#/diff?" + K.qs({ a: $("d-a").value.trim(), b: $("d-b").value.trim() });
      if (location.hash === h) load(K.parseHash().query); else location.hash = h;
    });

    load(r.query);
    return {
      update: load,
      stop() { seq++; main.classList.remove("hide-same"); },
    };
  };

  /* ---------- flows ---------- */

  K.pages.flows = function flowsPage(main) {
    main.innerHTML = `<div class="page flows-page"><h1>Flows</h1><div id="fl-out"><p class="muted">Loading…</p></div></div>`;
    const out = main.querySelector("#fl-out");
    let key = "";

    async function load() {
      const d = await K.get("/api/flows");
      const k = JSON.stringify(d);
      if (k === key) return;
      key = k;
      const flows = d.flows || [];
      const rows = flows.map((f) => {
        const tags = Object.entries(f.tags || {}).map(([t, v]) => `<span class="chip-static">${esc(t)} → v${esc(v)}</span>`).join(" ");
        const versions = (f.versions || []).map((v) => "v" + esc(v)).join(", ");
        return `<tr data-testid="flow-row" data-flow="${esc(f.flow)}">
          <td><a href="#/?flow=${encodeURIComponent(f.flow)}">${esc(f.flow)}</a></td><td class="num">${esc(f.executions)}</td>
          <td>${versions || '<span class="muted">—</span>'}</td><td>${tags || '<span class="muted">—</span>'}</td></tr>`;
      }).join("");
      const execs = (d.executions || []).slice().sort((a, b) =>
        String(a.flow).localeCompare(String(b.flow)) || String(b.created_at).localeCompare(String(a.created_at)));
      const erows = execs.map((e) => `<tr data-exec-id="${esc(e.exec_id)}"><td>${esc(e.flow)}</td><td>${K.execLink(e.exec_id)}</td>
        <td>${K.badge(e.status)}</td><td>${e.version === null || e.version === undefined ? '<span class="muted">—</span>' : "v" + esc(e.version)}</td>
        <td>${K.fmtTime(e.created_at)}</td></tr>`).join("");
      out.innerHTML = `
        <table class="grid" data-testid="flows">
          <thead><tr><th>Flow</th><th class="num">Executions</th><th>Versions</th><th>Tags</th></tr></thead>
          <tbody>${rows || '<tr class="empty"><td colspan="4">No flows yet.</td></tr>'}</tbody></table>
        <h2>Executions by flow</h2>
        <table class="grid" data-testid="flow-executions">
          <thead><tr><th>Flow</th><th>Execution</th><th>Status</th><th>Version</th><th>Created</th></tr></thead>
          <tbody>${erows || '<tr class="empty"><td colspan="5">No executions yet.</td></tr>'}</tbody></table>`;
    }

    load().catch((e) => { out.innerHTML = K.errorBox("Could not load flows: " + e.message); });
    const poll = K.poller(load, 5000);
    return { stop: () => poll.stop() };
  };
})();
