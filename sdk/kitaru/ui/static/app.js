/* Kitaru dashboard: shared helpers, hash router, header and the executions list.
 * Other pages live in execution.js (one execution) and pages.js (diff, flows);
 * they register themselves in K.pages. No framework: every string from the API
 * goes through esc() before it reaches innerHTML. */
"use strict";

const K = (window.K = window.K || {});
K.pages = K.pages || {};
K.STATUSES = ["running", "waiting", "completed", "failed", "cancelled"];

/* ---------- helpers ---------- */

const ESC = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
K.esc = function esc(value) {
  if (value === null || value === undefined) return "";
  return String(value).replace(/[&<>"']/g, (c) => ESC[c]);
};
const esc = K.esc;

K.csrf = function () {
  const meta = document.querySelector('meta[name="kitaru-csrf"]');
  return meta ? meta.getAttribute("content") : "";
};

/** An Error carrying the server's plain message (body.error) and HTTP status. */
class ApiError extends Error {
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}
K.ApiError = ApiError;

async function readAnswer(resp) {
  const text = await resp.text();
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch (_) {
    body = null;
  }
  if (!resp.ok) {
    const msg = body && typeof body.error === "string" ? body.error
      : `${resp.status} ${resp.statusText || "error"}`;
    throw new ApiError(msg, resp.status);
  }
  return body;
}

K.get = async function get(path) {
  const resp = await fetch(path, { headers: { Accept: "application/json" }, cache: "no-store" });
  return readAnswer(resp);
};

K.post = async function post(path, body) {
  const resp = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-Kitaru-CSRF": K.csrf(),
      Accept: "application/json" },
    body: JSON.stringify(body === undefined ? {} : body),
  });
  return readAnswer(resp);
};

K.qs = function qs(params) {
  const parts = [];
  for (const [k, v] of Object.entries(params)) {
    if (v === "" || v === null || v === undefined || v === false) continue;
    parts.push(`${encodeURIComponent(k)}=${encodeURIComponent(v)}`);
  }
  return parts.join("&");
};

K.badge = function badge(status) {
  const s = String(status || "unknown");
  return `<span class="badge status-${esc(s.replace(/[^a-z_-]/gi, ""))}">${esc(s)}</span>`;
};

function pad(n) {
  return String(n).padStart(2, "0");
}

/** "2024-05-01 12:03:04" in local time; the ISO string goes into the title. */
K.fmtTime = function fmtTime(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  if (isNaN(d)) return esc(iso);
  const text = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  return `<time datetime="${esc(iso)}" title="${esc(iso)}">${text}</time>`;
};

K.fmtAgo = function fmtAgo(iso) {
  if (!iso) return "";
  const t = Date.parse(iso);
  if (isNaN(t)) return "";
  const s = Math.round((Date.now() - t) / 1000);
  if (s < 0) return "in " + (-s < 60 ? -s + "s" : K.fmtDur(-s));
  return (s < 60 ? s + "s" : K.fmtDur(s)) + " ago";
};

/** Bring "5m ago" labels (elements with data-ago) up to date without re-rendering. */
K.refreshAgo = function refreshAgo(root) {
  root.querySelectorAll("[data-ago]").forEach((el) => {
    const text = K.fmtAgo(el.getAttribute("data-ago"));
    if (el.textContent !== text) el.textContent = text;
  });
};

K.fmtDur = function fmtDur(seconds) {
  if (seconds === null || seconds === undefined || isNaN(seconds)) return "—";
  const s = Number(seconds);
  if (s < 0.001) return s <= 0 ? "0 ms" : `${(s * 1000).toFixed(2)} ms`;
  if (s < 1) return `${Math.round(s * 1000)} ms`;
  if (s < 60) return `${s < 10 ? s.toFixed(2) : s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${Math.round(s % 60)}s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h ${m % 60}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
};

K.fmtSize = function fmtSize(n) {
  if (n === null || n === undefined) return "—";
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
};

K.fmtInt = function fmtInt(n) {
  return n === null || n === undefined ? "—" : Number(n).toLocaleString("en-US");
};

K.fmtCost = function fmtCost(cost) {
  if (cost === null || cost === undefined) return "unknown price";
  const c = Number(cost);
  return "$" + (c !== 0 && Math.abs(c) < 0.0001 ? c.toPrecision(2) : c.toFixed(4));
};

/** Pretty JSON for display; very large values are cut (the caller offers a download). */
K.pretty = function pretty(value, limit) {
  let text;
  try {
    text = JSON.stringify(value, null, 2);
  } catch (_) {
    text = String(value);
  }
  if (text === undefined) text = "undefined";
  if (limit && text.length > limit) {
    text = text.slice(0, limit) + `\n… (${K.fmtInt(text.length - limit)} more characters)`;
  }
  return text;
};

K.execLink = function execLink(id) {
  return `<a class="mono" href="#/executions/${encodeURIComponent(id)}">${esc(id)}</a>`;
};

K.errorBox = function errorBox(msg) {
  return `<div class="error-box">${esc(msg)}</div>`;
};

/* ---------- session / header ---------- */

K.session = { plane: "", where: "", read_only: false };
K.sessionReady = K.get("/api/session").then((s) => {
  K.session = s || K.session;
  document.getElementById("where").textContent = K.session.where || "";
  document.getElementById("where").title = K.session.where || "";
  document.getElementById("plane").textContent = K.session.plane || "";
  document.getElementById("readonly").hidden = !K.session.read_only;
  return K.session;
}).catch((err) => {
  document.getElementById("where").textContent = "server not reachable: " + err.message;
  return K.session;
});

/* ---------- router ---------- */

/** Parse location.hash into {name, param, query}. */
K.parseHash = function parseHash() {
  let h = location.hash.replace(/^#/, "");
  if (!h.startsWith("/")) h = "/" + h;
  const qi = h.indexOf("?");
  const path = qi >= 0 ? h.slice(0, qi) : h;
  const query = Object.fromEntries(new URLSearchParams(qi >= 0 ? h.slice(qi + 1) : ""));
  const segs = path.split("/").filter(Boolean).map(decodeURIComponent);
  if (segs.length === 0) return { name: "list", query };
  if (segs[0] === "executions" && segs.length >= 2) return { name: "execution", param: segs[1], query };
  if (segs[0] === "executions") return { name: "list", query };
  if (segs[0] === "diff") return { name: "diff", query };
  if (segs[0] === "flows") return { name: "flows", query };
  return { name: "notfound", query, path };
};

let current = null; // {name, param, page}

function route() {
  const r = K.parseHash();
  document.querySelectorAll("[data-nav]").forEach((a) => {
    const on = a.dataset.nav === r.name || (a.dataset.nav === "list" && r.name === "execution");
    a.classList.toggle("active", on);
  });
  // Same page, other query (e.g. list filters): let the page update in place.
  if (current && current.name === r.name && current.param === r.param && current.page.update) {
    current.page.update(r.query);
    return;
  }
  if (current && current.page.stop) current.page.stop();
  const main = document.getElementById("main");
  main.innerHTML = "";
  window.scrollTo(0, 0);
  const make = K.pages[r.name];
  if (!make) {
    main.innerHTML = `<div class="page">${K.errorBox("No such page: " + (r.path || ""))}
      <p><a href="#/">Back to executions</a></p></div>`;
    current = { name: r.name, param: r.param, page: {} };
    return;
  }
  current = { name: r.name, param: r.param, page: make(main, r) || {} };
}

window.addEventListener("hashchange", route);
document.addEventListener("DOMContentLoaded", route);

/* A small poller: runs fn every `ms` while the tab is visible, never two at once. */
K.poller = function poller(fn, ms) {
  let timer = null;
  let stopped = false;
  let busy = false;
  const tick = async () => {
    timer = null;
    if (stopped) return;
    if (!document.hidden && !busy) {
      busy = true;
      try {
        await fn();
      } catch (err) {
        console.warn("refresh failed:", err.message);
      } finally {
        busy = false;
      }
    }
    if (!stopped) timer = setTimeout(tick, typeof ms === "function" ? ms() : ms);
  };
  const onVis = () => {
    if (!document.hidden && !stopped && !busy) {
      clearTimeout(timer);
      tick();
    }
  };
  document.addEventListener("visibilitychange", onVis);
  timer = setTimeout(tick, typeof ms === "function" ? ms() : ms);
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
      document.removeEventListener("visibilitychange", onVis);
    },
    now() {
      clearTimeout(timer);
      tick();
    },
  };
};

/* ---------- executions list (#/) ---------- */

const PAGE = 50;
const MAX_LIMIT = 500; // the most rows the server gives in one answer

K.pages.list = function listPage(main, r) {
  main.innerHTML = `
  <div class="page list-page">
    <div class="toolbar">
      <h1>Executions</h1>
      <div class="chips" id="counts"></div>
    </div>
    <div class="filters">
      <label>Flow <select data-testid="filter-flow" id="f-flow"><option value="">all flows</option></select></label>
      <label>Status <select data-testid="filter-status" id="f-status">
        <option value="">all</option>
        ${K.STATUSES.map((s) => `<option value="${s}">${s}</option>`).join("")}
      </select></label>
      <label class="check"><input type="checkbox" data-testid="filter-waiting" id="f-waiting">
        only waiting on an answer</label>
      <span class="grow"></span>
      <span class="muted" id="picked-note"></span>
      <button type="button" data-testid="compare" id="compare" disabled
        title="Pick two executions to compare">Compare</button>
    </div>
    <div id="list-error"></div>
    <table class="grid" data-testid="executions">
      <thead><tr><th class="pick-col"></th><th>ID</th><th>Flow</th><th>Status</th>
        <th>Waiting on</th><th>Version</th><th>Created</th></tr></thead>
      <tbody id="rows"><tr class="empty"><td colspan="7">Loading…</td></tr></tbody>
    </table>
    <div class="list-foot">
      <span id="shown" class="muted"></span>
      <button type="button" data-testid="more" id="more" hidden>Show more</button>
    </div>
  </div>`;

  const $ = (id) => main.querySelector("#" + id);
  const st = {
    filters: { flow: "", status: "", waiting: "" },
    rows: [],
    total: 0,
    want: PAGE, // how many rows the user asked to see
    picked: [],
    rowsKey: "",
    countsKey: "",
    flowsKey: "",
    seq: 0, // drops answers to stale requests
  };

  function readFilters(q) {
    return { flow: q.flow || "", status: q.status || "", waiting: q.waiting === "1" ? "1" : "" };
  }

  function syncControls() {
    const flowSel = $("f-flow");
    if (st.filters.flow && !Array.from(flowSel.options).some((o) => o.value === st.filters.flow)) {
      flowSel.insertAdjacentHTML("beforeend",
        `<option value="${esc(st.filters.flow)}">${esc(st.filters.flow)}</option>`);
    }
    flowSel.value = st.filters.flow;
    $("f-status").value = st.filters.status;
    $("f-waiting").checked = st.filters.waiting === "1";
  }

  function setHash(filters) {
    const q = K.qs(filters);
    const h = "#/" + (q ? "?" + q : "");
    if (location.hash !== h) location.hash = h;
  }

  function renderCounts(counts) {
    const key = JSON.stringify(counts || {});
    if (key === st.countsKey) {
      main.querySelectorAll("#counts .chip").forEach((c) =>
        c.classList.toggle("on", c.dataset.status === st.filters.status));
      return;
    }
    st.countsKey = key;
    const c = counts || {};
    const all = K.STATUSES.reduce((n, s) => n + (c[s] || 0), 0);
    $("counts").innerHTML =
      `<button type="button" class="chip" data-status="">all <b>${K.fmtInt(all)}</b></button>` +
      K.STATUSES.map((s) => `<button type="button" class="chip chip-${s}" data-status="${s}"
        title="Show only ${s}"><i class="dot status-${s}"></i>${s}
        <b data-testid="count-${s}">${Number(c[s] || 0)}</b></button>`).join("");
    main.querySelectorAll("#counts .chip").forEach((ch) =>
      ch.classList.toggle("on", ch.dataset.status === st.filters.status));
  }

  function renderFlows(flows) {
    const key = JSON.stringify(flows || []);
    if (key === st.flowsKey) return;
    st.flowsKey = key;
    const names = (flows || []).slice();
    if (st.filters.flow && !names.includes(st.filters.flow)) names.push(st.filters.flow);
    $("f-flow").innerHTML = `<option value="">all flows</option>` +
      names.map((f) => `<option value="${esc(f)}">${esc(f)}</option>`).join("");
    $("f-flow").value = st.filters.flow;
  }

  function rowHtml(e) {
    const picked = st.picked.includes(e.exec_id) ? " checked" : "";
    return `<tr data-testid="execution-row" data-exec-id="${esc(e.exec_id)}">
      <td class="pick-col"><input type="checkbox" data-testid="pick" value="${esc(e.exec_id)}"${picked}
        aria-label="pick ${esc(e.exec_id)} to compare"></td>
      <td>${K.execLink(e.exec_id)}</td>
      <td>${esc(e.flow)}</td>
      <td>${K.badge(e.status)}</td>
      <td>${e.waiting_on ? `<span class="mono">${esc(e.waiting_on)}</span>` : '<span class="muted">—</span>'}</td>
      <td>${e.version === null || e.version === undefined ? '<span class="muted">—</span>' : "v" + esc(e.version)}</td>
      <td>${K.fmtTime(e.created_at)} <span class="muted small" data-ago="${esc(e.created_at)}">${esc(K.fmtAgo(e.created_at))}</span></td>
    </tr>`;
  }

  function renderRows() {
    const key = JSON.stringify(st.rows);
    if (key !== st.rowsKey) {
      st.rowsKey = key;
      $("rows").innerHTML = st.rows.length ? st.rows.map(rowHtml).join("")
        : `<tr class="empty"><td colspan="7">No executions${
          st.filters.flow || st.filters.status || st.filters.waiting ? " match these filters" : " yet"}.</td></tr>`;
    } else {
      K.refreshAgo($("rows"));
    }
    $("shown").textContent = `${K.fmtInt(st.rows.length)} of ${K.fmtInt(st.total)}`;
    $("more").hidden = st.rows.length >= st.total;
    renderPicked();
  }

  function renderPicked() {
    const n = st.picked.length;
    $("compare").disabled = n !== 2;
    $("picked-note").textContent = n ? `${n} picked` + (n > 2 ? " (pick exactly two)" : "") : "";
  }

  function query(offset, limit) {
    return "/api/executions?" + K.qs({ ...st.filters, limit, offset });
  }

  async function load() {
    const seq = ++st.seq;
    // Re-read as many rows as are shown, in requests of at most MAX_LIMIT.
    const want = Math.max(PAGE, st.want);
    let data = await K.get(query(0, Math.min(want, MAX_LIMIT)));
    let rows = data.executions || [];
    while (rows.length < want && rows.length < (data.total || 0) && seq === st.seq) {
      const next = await K.get(query(rows.length, Math.min(want - rows.length, MAX_LIMIT)));
      if (!(next.executions || []).length) break;
      rows = rows.concat(next.executions);
      data = { ...next, executions: rows };
    }
    if (seq !== st.seq) return;
    const seen = new Set();
    st.rows = rows.filter((e) => !seen.has(e.exec_id) && seen.add(e.exec_id));
    st.total = data.total || 0;
    $("list-error").innerHTML = "";
    renderCounts(data.counts);
    renderFlows(data.flows);
    renderRows();
  }

  async function loadSafe() {
    try {
      await load();
    } catch (err) {
      $("list-error").innerHTML = K.errorBox("Could not load executions: " + err.message);
    }
  }

  async function more() {
    const btn = $("more");
    btn.disabled = true;
    const seq = ++st.seq;
    try {
      const data = await K.get(query(st.rows.length, PAGE));
      if (seq !== st.seq) return;
      const seen = new Set(st.rows.map((e) => e.exec_id));
      st.rows = st.rows.concat((data.executions || []).filter((e) => !seen.has(e.exec_id)));
      st.total = data.total || 0;
      st.want = Math.max(st.want, st.rows.length);
      renderCounts(data.counts);
      renderRows();
    } catch (err) {
      $("list-error").innerHTML = K.errorBox("Could not load more: " + err.message);
    } finally {
      btn.disabled = false;
    }
  }

  // events
  $("f-flow").addEventListener("change", (e) => setHash({ ...st.filters, flow: e.target.value }));
  $("f-status").addEventListener("change", (e) => setHash({ ...st.filters, status: e.target.value }));
  $("f-waiting").addEventListener("change", (e) =>
    setHash({ ...st.filters, waiting: e.target.checked ? "1" : "" }));
  $("counts").addEventListener("click", (e) => {
    const chip = e.target.closest(".chip");
    if (!chip) return;
    const s = chip.dataset.status;
    setHash({ ...st.filters, status: st.filters.status === s ? "" : s });
  });
  $("more").addEventListener("click", more);
  $("rows").addEventListener("change", (e) => {
    const box = e.target.closest('input[data-testid="pick"]');
    if (!box) return;
    st.picked = st.picked.filter((id) => id !== box.value);
    if (box.checked) st.picked.push(box.value);
    renderPicked();
  });
  $("compare").addEventListener("click", () => {
    if (st.picked.length !== 2) return;
    location.hash = "#/diff?" + K.qs({ a: st.picked[0], b: st.picked[1] });
  });

  st.filters = readFilters(r.query);
  syncControls();
  loadSafe();
  const poll = K.poller(load, 2000);

  return {
    update(q) {
      const f = readFilters(q);
      if (JSON.stringify(f) === JSON.stringify(st.filters)) return;
      st.filters = f;
      st.want = PAGE;
      syncControls();
      renderCounts(JSON.parse(st.countsKey || "{}"));
      $("rows").innerHTML = `<tr class="empty"><td colspan="7">Loading…</td></tr>`;
      st.rowsKey = "";
      loadSafe();
    },
    stop() {
      poll.stop();
      st.seq++;
    },
  };
};
