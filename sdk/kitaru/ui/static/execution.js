/* Kitaru dashboard: one execution (#/executions/<id>).
 * Sections re-render only when their part of the JSON changed, so a poll never wipes
 * a form being filled in or the selected checkpoint. */
"use strict";

(function () {
  const K = window.K;
  const esc = K.esc;
  const VALUE_LIMIT = 200000; // characters of a value shown inline; the rest via download

  function usageText(u) {
    if (!u) return "";
    const parts = [`${Number(u.input_tokens || 0)} in / ${Number(u.output_tokens || 0)} out tokens`,
      `${Number(u.calls || 0)} call${u.calls === 1 ? "" : "s"}`, K.fmtCost(u.cost_usd)];
    const models = u.models || (u.model ? [u.model] : []);
    if (models.length) parts.push(models.join(", "));
    return parts.join(" · ");
  }

  function kv(pairs) {
    return `<dl class="kv">${pairs.filter(Boolean).map(([k, v]) => `<dt>${esc(k)}</dt><dd>${v}</dd>`).join("")}</dl>`;
  }

  function ms(iso) {
    const t = iso ? Date.parse(iso) : NaN;
    return isNaN(t) ? null : t;
  }

  /* ---------- timeline ---------- */

  function timelineHtml(runs, status) {
    if (!runs || !runs.length) return '<div class="muted">No runs yet.</div>';
    const now = Date.now();
    const live = status === "running" || runs.some((r) => r.ended === "running");
    let t0 = Infinity;
    let t1 = -Infinity;
    for (const r of runs) {
      const s = ms(r.started_at) ?? ms(r.finished_at);
      const e = ms(r.finished_at) ?? s;
      if (s !== null && s < t0) t0 = s;
      if (e !== null && e > t1) t1 = e;
    }
    if (!isFinite(t0)) { t0 = now; t1 = now; }
    if (live) t1 = Math.max(t1, now);
    const span = Math.max(t1 - t0, 1);
    const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) =>
      `<span class="tl-tick" style="left:${f * 100}%">${f === 0 ? K.fmtTime(new Date(t0).toISOString())
        : "+" + esc(K.fmtDur((span * f) / 1000))}</span>`).join("");
    const rows = runs.map((r) => {
      const s = ms(r.started_at) ?? ms(r.finished_at) ?? t0;
      let e = ms(r.finished_at);
      if (e === null) e = r.ended === "running" || live ? now : s;
      const left = ((s - t0) / span) * 100;
      const width = Math.max(((e - s) / span) * 100, 0);
      const ended = String(r.ended || "unknown").replace(/[^a-z_-]/gi, "");
      const note = r.error ? r.error : r.wait ? "wait: " + r.wait : "";
      const counts = `${r.checkpoints_run || 0} ran, ${r.checkpoints_reused || 0} reused`;
      const title = `run ${r.run} · ${r.reason} → ${r.ended}\n${r.started_at || "?"} → ${r.finished_at || "…"}` +
        `\n${K.fmtDur((e - s) / 1000)} · ${counts}${note ? "\n" + note : ""}`;
      return `<div class="tl-row" data-testid="run" data-run="${esc(r.run)}" title="${esc(title)}">
        <div class="tl-label"><b>run ${esc(r.run)} · ${esc(r.reason)} → ${esc(r.ended)}</b>${
          note ? ` <span class="${r.error ? "tl-err" : "muted"}">${esc(note)}</span>` : ""}</div>
        <div class="tl-track"><div class="tl-bar ended-${esc(ended)}" style="left:${left.toFixed(3)}%;width:${width.toFixed(3)}%"></div></div>
        <div class="tl-side muted">${esc(K.fmtDur((e - s) / 1000))} · ${esc(counts)}</div>
      </div>`;
    }).join("");
    return `<div class="tl-axis"><div class="tl-label"></div><div class="tl-track">${ticks}</div><div class="tl-side"></div></div>${rows}`;
  }

  /* ---------- checkpoints ---------- */

  /** "root" or "rerun" for a checkpoint a replay ran again, else "". */
  function replayRole(c, info) {
    if (c.source !== "run") return "";
    if ((info.replay_roots || []).includes(c.id)) return "root";
    return (info.replay_rerun || []).includes(c.id) ? "rerun" : "";
  }

  function checkpointRow(c, selected, info) {
    const role = replayRole(c, info);
    const roleTag = role ? ` <span class="tag" title="${role === "root" ? "the replay started here"
      : "ran again: downstream of the replay's start"}">${role === "root" ? "replay root" : "ran again"}</span>` : "";
    return `<tr data-testid="checkpoint-row" data-checkpoint-id="${esc(c.id)}"${selected ? ' class="selected"' : ""}>
      <td class="num">${esc(c.seq)}</td><td class="mono" title="${esc(c.name)}">${esc(c.id)}</td>
      <td class="mono">${esc(c.type || "—")}</td><td><span class="src src-${esc(c.source)}">${esc(c.source)}</span>${roleTag}</td>
      <td class="num">${esc(c.run)}</td><td class="num">${esc(c.attempts)}</td>
      <td class="num">${esc(K.fmtDur(c.duration_s))}</td><td class="num">${esc(K.fmtSize(c.size))}</td></tr>`;
  }

  function parentChip(p) {
    if (typeof p === "string" && (p.startsWith("input:") || p.startsWith("wait:"))) {
      return `<span class="chip-static ${p.startsWith("wait:") ? "p-wait" : "p-input"}">${esc(p)}</span>`;
    }
    return `<a href="#" class="chip-static p-ckpt" data-select="${esc(p)}">${esc(p)}</a>`;
  }

  function detailHtml(c) {
    const meta = Object.assign({}, c.metadata || {});
    const usage = meta["kitaru.usage"];
    delete meta["kitaru.usage"];
    const parents = c.parents && c.parents.length ? c.parents.map(parentChip).join(" ") : '<span class="muted">none</span>';
    return `<div class="detail-head"><h3 class="mono">${esc(c.id)}</h3><span class="src src-${esc(c.source)}">${esc(c.source)}</span></div>
      ${kv([["name", `<span class="mono">${esc(c.name)}</span>`], ["type", esc(c.type || "—")],
        ["seq", esc(c.seq)], ["run", esc(c.run)], ["attempts", esc(c.attempts)],
        ["started", K.fmtTime(c.started_at)], ["finished", K.fmtTime(c.finished_at)],
        ["duration", esc(K.fmtDur(c.duration_s))], ["value", `${esc(c.value_type)} · ${esc(K.fmtSize(c.size))}`],
        ["parents", parents],
        usage ? ["usage", `<span data-testid="checkpoint-usage">${esc(usageText(usage))}</span>`] : null])}
      <h4>Metadata</h4>
      ${Object.keys(meta).length ? `<pre class="code">${esc(K.pretty(meta))}</pre>` : '<div class="muted">none</div>'}
      <h4>Value <span class="muted small" id="x-value-info"></span></h4>
      <div data-testid="checkpoint-value" class="value-box"><span class="muted">Loading…</span></div>`;
  }

  function valueHtml(v) {
    if (v.kind === "bytes") {
      return `<a data-testid="checkpoint-download" href="${esc(v.download)}" download>Download ${esc(K.fmtSize(v.size))}` +
        `${v.type ? " (" + esc(v.type) + ")" : ""}</a>`;
    }
    if (v.kind === "text") {
      const text = String(v.value);
      return `<pre class="code text">${esc(text.length > VALUE_LIMIT
        ? text.slice(0, VALUE_LIMIT) + "\n… (cut; download for the whole value)" : text)}</pre>`;
    }
    return `<pre class="code">${esc(K.pretty(v.value, VALUE_LIMIT))}</pre>`;
  }

  /* ---------- page ---------- */

  K.pages.execution = function executionPage(main, r) {
    const execId = r.param;
    main.innerHTML = `<div class="page exec-page">
      <div id="x-load-error"></div>
      <section class="exec-head" id="x-head"><h1 class="mono">${esc(execId)}</h1><span class="muted">Loading…</span></section>
      <div class="actions-panel">
        <form id="x-replay" class="card replay-form" hidden>
          <h2>Replay</h2>
          <div class="form-grid">
            <label for="x-replay-at">Replay from</label>
            <select id="x-replay-at" data-testid="replay-at"><option value="">the start</option></select>
            <label for="x-replay-ov">Overrides</label>
            <div><textarea id="x-replay-ov" class="mono" rows="3" data-testid="replay-overrides" spellcheck="false">{}</textarea>
              <div class="hint">A JSON object: checkpoint id or input name → the value to use instead.</div></div>
          </div>
          <div class="form-actions"><button type="submit" class="primary" data-testid="replay-submit">Start replay</button>
            <button type="button" id="x-replay-close">Close</button></div>
        </form>
        <div class="form-error" data-testid="action-error" id="x-action-error" hidden></div>
        <div class="note" id="x-action-note" hidden></div>
      </div>
      <div id="x-wait"></div>
      <div id="x-result"></div>
      <section class="card"><h2>Timeline</h2><div class="timeline" data-testid="timeline" id="x-timeline"></div></section>
      <section class="card"><div class="card-head"><h2>Lineage</h2>${window.KitaruLineage.legend()}</div>
        <div class="lineage-scroll" data-testid="lineage" id="x-lineage"></div></section>
      <section class="card split">
        <div class="split-main"><h2>Checkpoints <span class="muted small" id="x-ck-count"></span></h2>
          <div class="table-scroll"><table class="grid compact" data-testid="checkpoints">
            <thead><tr><th class="num">Seq</th><th>ID</th><th>Type</th><th>Source</th><th class="num">Run</th><th class="num">Attempts</th><th class="num">Duration</th><th class="num">Size</th></tr></thead>
            <tbody id="x-ck-rows"></tbody></table></div></div>
        <aside class="split-side" id="x-detail-wrap"><div class="muted pad">Pick a checkpoint in the table or the graph.</div></aside>
      </section>
      <section class="card"><div class="card-head"><h2>Logs</h2><span class="muted small" id="x-log-state"></span></div>
        <pre class="logs" data-testid="logs" id="x-logs"></pre></section>
    </div>`;

    const root = main.firstElementChild; // listeners go here: <main> outlives the page
    const $ = (id) => root.querySelector("#" + id);
    const st = {
      info: null, keys: {}, graph: null, selected: r.query.checkpoint || null, stopped: false,
      logCursor: "", logPoll: null, logBusy: false, valueSeq: 0,
    };

    function changed(name, value) {
      const key = JSON.stringify(value);
      if (st.keys[name] === key) return false;
      st.keys[name] = key;
      return true;
    }

    function readOnly() {
      return !!(K.session && K.session.read_only);
    }

    function showActionError(msg) {
      const box = $("x-action-error");
      box.textContent = msg || "";
      box.hidden = !msg;
      if (msg) $("x-action-note").hidden = true;
    }

    function note(msg) {
      const n = $("x-action-note");
      n.textContent = msg || "";
      n.hidden = !msg;
    }

    /* header + action buttons */
    function renderHead(info) {
      const s = info.status;
      const u = info.usage;
      const ro = readOnly() ? " disabled title=\"read only\"" : "";
      const buttons = [];
      if (s === "failed") buttons.push(`<button type="button" data-testid="retry" class="primary"${ro}>Retry</button>`);
      if (s === "running" || s === "waiting") buttons.push(`<button type="button" data-testid="cancel" class="danger"${ro}>Cancel</button>`);
      if (s !== "running") buttons.push(`<button type="button" data-testid="replay-open"${ro}>Replay…</button>`);
      const meta = info.metadata && Object.keys(info.metadata).length
        ? `<details class="meta"><summary>Metadata</summary><pre class="code">${esc(K.pretty(info.metadata))}</pre></details>` : "";
      $("x-head").innerHTML = `
        <div class="head-line">
          <h1 class="mono">${esc(info.exec_id)}</h1>
          <span class="badge status-${esc(String(s).replace(/[^a-z_-]/gi, ""))}" data-testid="status">${esc(s)}</span>
          ${info.is_replay ? '<span class="tag">replay</span>' : ""}
          <span class="grow"></span>
          <div class="actions">${buttons.join("")}</div>
        </div>
        ${kv([["flow", `<a href="#/?flow=${encodeURIComponent(info.flow)}">${esc(info.flow)}</a>`],
          ["created", `${K.fmtTime(info.created_at)} <span class="muted small">${esc(K.fmtAgo(info.created_at))}</span>`],
          ["updated", K.fmtTime(info.updated_at)], ["runs", esc(info.runs)],
          ["checkpoints", esc((info.checkpoints || []).length)],
          info.replay_of ? ["replay of", K.execLink(info.replay_of)] : null,
          u ? ["usage", `<span data-testid="usage">${esc(usageText(u))}</span>`] : null])}
        ${meta}`;
    }

    function renderReplayOptions(info) {
      const ids = (info.checkpoints || []).map((c) => c.id);
      if (!changed("replayAt", ids)) return;
      const sel = $("x-replay-at");
      const keep = sel.value;
      sel.innerHTML = `<option value="">the start</option>` +
        ids.map((id) => `<option value="${esc(id)}">${esc(id)}</option>`).join("");
      sel.value = ids.includes(keep) ? keep : "";
    }

    /* pending wait */
    function renderWait(info) {
      const w = info.status === "waiting" ? info.pending_wait : null;
      if (!changed("wait", [w, readOnly()])) return;
      const box = $("x-wait");
      if (!w) { box.innerHTML = ""; return; }
      const when = `since ${K.fmtTime(w.since)} <span class="muted">(${esc(K.fmtAgo(w.since))})</span>` +
        (w.deadline ? ` · deadline ${K.fmtTime(w.deadline)}` : " · no deadline");
      const meta = w.metadata && Object.keys(w.metadata).length
        ? `<details><summary>Wait metadata</summary><pre class="code">${esc(K.pretty(w.metadata))}</pre></details>` : "";
      const schema = w.schema ? `<details><summary>Schema</summary><pre class="code">${esc(K.pretty(w.schema))}</pre></details>` : "";
      let body;
      if (w.kind === "timer") {
        body = `<p class="timer-note">Continues by itself at ${K.fmtTime(w.deadline)}${
          w.deadline ? ` <span class="muted">(${esc(K.fmtAgo(w.deadline))})</span>` : ""}.</p>`;
      } else {
        body = `<form data-testid="wait-form" id="x-wait-form" class="wait-form" novalidate>
          <div class="wf-fields" id="x-wf-fields"></div>
          <textarea data-testid="wait-raw" id="x-wf-raw" class="mono" rows="6" spellcheck="false" hidden></textarea>
          <div class="form-actions">
            <button type="submit" class="primary" data-testid="wait-submit"${readOnly() ? " disabled" : ""}>Send answer</button>
            <button type="button" data-testid="wait-raw-toggle" id="x-wf-toggle" aria-pressed="false">Edit as JSON</button>
          </div>
          <div class="form-error" data-testid="wait-error" id="x-wf-error" hidden></div>
        </form>`;
      }
      box.innerHTML = `<section class="card wait-box" data-testid="wait">
        <h2>Waiting on <span class="mono">${esc(w.name)}</span> <span class="muted small">${esc(w.kind)}</span></h2>
        ${w.question ? `<p class="question">${esc(w.question)}</p>` : ""}
        <div class="muted small">${when}</div>${body}${schema}${meta}</section>`;
      if (w.kind !== "timer") setupWaitForm(w);
    }

    function setupWaitForm(w) {
      const fields = $("x-wf-fields");
      const raw = $("x-wf-raw");
      const toggle = $("x-wf-toggle");
      const err = $("x-wf-error");
      let form = window.KitaruWaitForm.build(fields, w.schema);
      let rawMode = false;
      const setErr = (msg) => { err.textContent = msg || ""; err.hidden = !msg; };

      toggle.addEventListener("click", () => {
        setErr("");
        if (!rawMode) {
          let v = null;
          try { v = form.read(); } catch (_) { v = null; }
          raw.value = JSON.stringify(v, null, 2);
          fields.innerHTML = "";
          fields.hidden = true;
          raw.hidden = false;
          rawMode = true;
          toggle.textContent = "Edit as form";
          toggle.setAttribute("aria-pressed", "true");
          raw.focus();
        } else {
          let v;
          try { v = JSON.parse(raw.value); } catch (e) { setErr("The answer is not valid JSON: " + e.message); return; }
          fields.hidden = false;
          form = window.KitaruWaitForm.build(fields, w.schema, v);
          raw.hidden = true;
          rawMode = false;
          toggle.textContent = "Edit as JSON";
          toggle.setAttribute("aria-pressed", "false");
        }
      });

      $("x-wait-form").addEventListener("submit", async (ev) => {
        ev.preventDefault();
        setErr("");
        let value;
        try {
          value = rawMode ? JSON.parse(raw.value) : form.read();
        } catch (e) {
          setErr(rawMode ? "The answer is not valid JSON: " + e.message : e.message);
          return;
        }
        const btn = main.querySelector('[data-testid="wait-submit"]');
        btn.disabled = true;
        try {
          await K.post(`/api/executions/${encodeURIComponent(execId)}/answer`, { wait: w.name, value });
          note(`Answer sent to ${w.name}.`);
          poll.now();
        } catch (e) {
          setErr(e.message);
        } finally {
          if (btn.isConnected) btn.disabled = readOnly();
        }
      });
    }

    /* output / error */
    function renderResult(info) {
      const show = info.status === "completed" ? { output: info.output }
        : info.error ? { error: info.error, status: info.status } : null;
      if (!changed("result", show)) return;
      const box = $("x-result");
      if (!show) { box.innerHTML = ""; return; }
      if (show.output !== undefined) {
        box.innerHTML = `<section class="card" data-testid="output"><h2>Output</h2><pre class="code">${esc(K.pretty(info.output, VALUE_LIMIT))}</pre></section>`;
        return;
      }
      const e = info.error;
      box.innerHTML = `<section class="card error-card" data-testid="error"><h2>${info.status === "failed" ? "Failed" : "Last error"}</h2>
        <div class="err-line"><b class="mono">${esc(e.type)}</b>: <span class="err-msg">${esc(e.message)}</span></div>
        ${e.origin ? `<div class="muted small">at ${esc(e.origin)}</div>` : ""}
        ${e.traceback ? `<details><summary>Traceback</summary><pre class="code">${esc(e.traceback)}</pre></details>` : ""}</section>`;
    }

    /* lineage + checkpoints */
    function renderGraph(info, lineage) {
      if (!changed("lineage", lineage)) return;
      st.graph = window.KitaruLineage.draw($("x-lineage"), lineage, {
        selected: st.selected,
        onSelect: (id) => select(id, "graph"),
      });
    }

    function renderCheckpoints(info) {
      const cks = info.checkpoints || [];
      if (!changed("checkpoints", [cks, info.replay_roots, info.replay_rerun])) return;
      $("x-ck-count").textContent = cks.length ? String(cks.length) : "";
      $("x-ck-rows").innerHTML = cks.length ? cks.map((c) => checkpointRow(c, c.id === st.selected, info)).join("")
        : '<tr class="empty"><td colspan="8">No checkpoints yet.</td></tr>';
      if (st.selected) {
        const c = cks.find((x) => x.id === st.selected);
        if (c && changed("detail", c)) renderDetail(c);
      }
    }

    function select(id, from) {
      const info = st.info;
      if (!info) return;
      const c = (info.checkpoints || []).find((x) => x.id === id);
      if (!c) return;
      st.selected = id;
      main.querySelectorAll("#x-ck-rows tr.selected").forEach((tr) => tr.classList.remove("selected"));
      const row = main.querySelector(`#x-ck-rows tr[data-checkpoint-id="${CSS.escape(id)}"]`);
      if (row) {
        row.classList.add("selected");
        if (from !== "table") row.scrollIntoView({ block: "nearest" });
      }
      if (st.graph) st.graph.select(id, from !== "graph");
      st.keys.detail = JSON.stringify(c);
      renderDetail(c);
      const h = `#/executions/${encodeURIComponent(execId)}?checkpoint=${encodeURIComponent(id)}`;
      if (location.hash !== h) history.replaceState(null, "", h);
    }

    async function renderDetail(c) {
      const wrap = $("x-detail-wrap");
      wrap.innerHTML = `<div class="detail" data-testid="checkpoint-detail">${detailHtml(c)}</div>`;
      wrap.querySelectorAll("[data-select]").forEach((a) => a.addEventListener("click", (ev) => {
        ev.preventDefault();
        select(a.dataset.select, "detail");
      }));
      const seq = ++st.valueSeq;
      const box = wrap.querySelector('[data-testid="checkpoint-value"]');
      try {
        const v = await K.get(`/api/executions/${encodeURIComponent(execId)}/checkpoints/${encodeURIComponent(c.id)}/value`);
        if (seq !== st.valueSeq || !box.isConnected) return;
        box.innerHTML = valueHtml(v);
        const infoEl = wrap.querySelector("#x-value-info");
        infoEl.innerHTML = `${esc(v.kind)} · ${esc(v.serializer || "")} · ${esc(v.type || "")} · ${esc(K.fmtSize(v.size))}` +
          (v.kind !== "bytes" && v.download ? ` · <a href="${esc(v.download)}" download>download</a>` : "");
      } catch (e) {
        if (seq !== st.valueSeq || !box.isConnected) return;
        box.innerHTML = K.errorBox("Could not load the value: " + e.message);
      }
    }

    /* logs */
    async function pollLogs() {
      if (st.logBusy || st.stopped) return;
      st.logBusy = true;
      try {
        // The cursor says what was shown already: the server reads only what is new.
        const d = await K.get(`/api/executions/${encodeURIComponent(execId)}/logs?cursor=${encodeURIComponent(st.logCursor)}`);
        if (st.stopped) return;
        const pre = $("x-logs");
        const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 8;
        if (d.text) pre.append(document.createTextNode(d.text));
        st.logCursor = d.cursor || st.logCursor;
        if (atBottom) pre.scrollTop = pre.scrollHeight;
        $("x-log-state").textContent = d.running ? "following the live run…" : "";
        if (d.running) startLogFollow(); else stopLogFollow();
      } catch (e) {
        $("x-log-state").textContent = "logs unavailable: " + e.message;
        stopLogFollow();
      } finally {
        st.logBusy = false;
      }
    }

    function startLogFollow() {
      if (!st.logPoll && !st.stopped) st.logPoll = K.poller(pollLogs, 1000);
    }

    function stopLogFollow() {
      if (st.logPoll) { st.logPoll.stop(); st.logPoll = null; }
    }

    /* actions */
    root.addEventListener("click", async (ev) => {
      const btn = ev.target.closest("button[data-testid]");
      if (!btn) return;
      const t = btn.dataset.testid;
      if (t === "replay-open") {
        const f = $("x-replay");
        f.hidden = !f.hidden;
        showActionError("");
        if (!f.hidden) $("x-replay-at").focus();
        return;
      }
      if (t !== "retry" && t !== "cancel") return;
      showActionError("");
      btn.disabled = true;
      try {
        const d = await K.post(`/api/executions/${encodeURIComponent(execId)}/${t}`, {});
        if (d && d.exec_id && d.exec_id !== execId) {
          location.hash = "#/executions/" + encodeURIComponent(d.exec_id);
          return;
        }
        note(t === "retry" ? "Retry started." : "Cancel requested.");
        poll.now();
      } catch (e) {
        showActionError(e.message);
      } finally {
        if (btn.isConnected) btn.disabled = readOnly();
      }
    });

    $("x-replay-close").addEventListener("click", () => { $("x-replay").hidden = true; showActionError(""); });
    $("x-replay").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      showActionError("");
      let overrides;
      const text = $("x-replay-ov").value.trim();
      try {
        overrides = text ? JSON.parse(text) : {};
      } catch (e) {
        showActionError("Overrides are not valid JSON: " + e.message);
        return;
      }
      if (!overrides || typeof overrides !== "object" || Array.isArray(overrides)) {
        showActionError("Overrides must be a JSON object, like {\"step\": 1}.");
        return;
      }
      const btn = main.querySelector('[data-testid="replay-submit"]');
      btn.disabled = true;
      try {
        const d = await K.post(`/api/executions/${encodeURIComponent(execId)}/replay`,
          { at: $("x-replay-at").value || null, overrides });
        location.hash = "#/executions/" + encodeURIComponent(d.exec_id);
      } catch (e) {
        showActionError(e.message);
      } finally {
        if (btn.isConnected) btn.disabled = false;
      }
    });

    $("x-ck-rows").addEventListener("click", (ev) => {
      const tr = ev.target.closest("tr[data-checkpoint-id]");
      if (tr) select(tr.dataset.checkpointId, "table");
    });

    /* load + poll */
    let first = true;
    async function refresh() {
      let d;
      try {
        d = await K.get(`/api/executions/${encodeURIComponent(execId)}`);
      } catch (e) {
        if (first || e.status === 404) {
          $("x-load-error").innerHTML = K.errorBox(e.message) + '<p><a href="#/">Back to executions</a></p>';
          if (first) $("x-head").innerHTML = `<h1 class="mono">${esc(execId)}</h1>`;
        }
        throw e;
      }
      if (st.stopped) return;
      $("x-load-error").innerHTML = "";
      const info = d.info;
      const was = st.info ? st.info.status : null;
      st.info = info;
      if (changed("head", [info.exec_id, info.status, info.flow, info.created_at, info.updated_at, info.runs,
        (info.checkpoints || []).length, info.replay_of, info.is_replay, info.usage, info.metadata, readOnly()])) renderHead(info);
      renderReplayOptions(info);
      renderWait(info);
      renderResult(info);
      if (info.status === "running" || changed("timeline", d.timeline)) {
        st.keys.timeline = JSON.stringify(d.timeline);
        $("x-timeline").innerHTML = timelineHtml(d.timeline, info.status);
      }
      renderCheckpoints(info);
      renderGraph(info, d.lineage);
      if (first && st.selected) select(st.selected, "load");
      if (info.status === "running" && was !== "running" && !first) startLogFollow();
      if (first) pollLogs();
      if (was && was !== info.status && info.status !== "running") pollLogs(); // pick up the tail
      first = false;
    }

    K.sessionReady.then(() => refresh().catch(() => {}));
    const poll = K.poller(refresh, () => {
      const s = st.info && st.info.status;
      return !s || s === "running" ? 1000 : s === "waiting" ? 2000 : 5000;
    });

    return {
      update(q) {
        if (q.checkpoint && q.checkpoint !== st.selected) select(q.checkpoint, "hash");
      },
      stop() {
        st.stopped = true;
        poll.stop();
        stopLogFollow();
      },
    };
  };
})();
