// The review page's behaviour. Document text is only ever set with textContent (never innerHTML):
// reports are untrusted input.
"use strict";
(function () {
  const csrf = document.querySelector('meta[name="csrf-token"]').content;

  async function api(method, url, body) {
    const opts = { method, headers: { "X-CSRF-Token": csrf }, credentials: "same-origin" };
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    const r = await fetch(url, opts);
    const data = await r.json().catch(() => ({ error: r.statusText }));
    if (!r.ok) throw new Error(data.error || r.statusText);
    return data;
  }

  // -- the queue page: j/k move, Enter opens --------------------------------------------------
  const queue = document.getElementById("queue");
  if (queue) {
    const rows = Array.from(queue.querySelectorAll("tr.item"));
    let at = 0;
    const select = (i) => {
      if (!rows.length) return;
      rows[at].classList.remove("selected");
      at = Math.max(0, Math.min(rows.length - 1, i));
      rows[at].classList.add("selected");
    };
    select(0);
    document.addEventListener("keydown", (e) => {
      if (e.target.tagName === "INPUT" || e.target.tagName === "SELECT") return;
      if (e.key === "j") select(at + 1);
      else if (e.key === "k") select(at - 1);
      else if (e.key === "Enter" && rows.length) rows[at].querySelector("a.open").click();
    });
    return;
  }

  // -- the document page -----------------------------------------------------------------------
  const main = document.getElementById("document");
  if (!main) return;
  const docId = main.dataset.docId;
  const cells = Array.from(document.querySelectorAll("input.cell"));
  const byKey = new Map(cells.map((c) => [c.dataset.key, c]));
  const $ = (id) => document.getElementById(id);

  function needsLook(c) {
    return !c.classList.contains("reviewed") && (c.classList.contains("doubtful") || c.classList.contains("failing"));
  }
  function move(from, step) {
    const i = cells.indexOf(from);
    for (let j = i + step; j >= 0 && j < cells.length; j += step) {
      if (needsLook(cells[j])) { cells[j].focus(); cells[j].select(); return true; }
    }
    return false;
  }

  function showRules(checks) {
    const list = $("rule-list");
    list.replaceChildren();
    const failing = new Set();
    for (const c of checks.filter((c) => !c.passed)) {
      const li = document.createElement("li");
      li.className = "fail";
      li.dataset.rule = c.rule;
      li.textContent = c.rule + " " + (c.statement || c.detail);
      list.appendChild(li);
      (c.cells || []).forEach((k) => failing.add(k));
    }
    if (!list.children.length) {
      const li = document.createElement("li");
      li.className = "ok";
      li.textContent = "规则全部通过";
      list.appendChild(li);
    }
    for (const c of cells) c.classList.toggle("failing", failing.has(c.dataset.key));
  }

  function applyState(state) {
    for (const [key, f] of Object.entries(state.fields)) {
      const c = byKey.get(key);
      if (!c) continue;
      if (f.reviewed) {
        c.classList.add("reviewed");
        c.classList.remove("doubtful", "invalid");
        const shown = f.value === null ? "" : String(f.value);
        c.value = shown;
        c.dataset.original = shown;
      }
    }
    showRules(state.checks);
    $("status").textContent = state.review_status;
  }

  async function showDetail(c) {
    $("detail-error").textContent = "";
    try {
      const info = await api("GET", `/api/doc/${docId}/cell/${encodeURIComponent(c.dataset.key)}`);
      $("detail-key").textContent = info.label || info.key;  // the official headers; the key stays data
      $("detail-key").dataset.key = info.key;
      $("detail-confidence").textContent = info.confidence === null ? "?" : Number(info.confidence).toFixed(3);
      $("detail-raw").textContent = info.raw === null ? "（空白）" : info.raw;
      $("detail-alternatives").textContent = info.alternatives.length ? "其他读法：" + info.alternatives.join("，") : "";
      $("detail-reason").textContent = info.reason || "";
      const img = $("detail-image");
      img.hidden = !info.image;
      if (info.image) img.src = info.image;
      const hist = $("detail-history");
      hist.replaceChildren();
      for (const h of info.history) {
        const li = document.createElement("li");
        li.textContent = `${h.created_at.slice(0, 19)} ${h.reviewer}: ${h.action} ${h.old_value ?? "空白"} → ${h.new_value ?? "空白"}`;
        hist.appendChild(li);
      }
      const pre = $("detail-source");
      pre.hidden = !info.source;
      if (info.source) {
        $("source-before").textContent = info.source.before;
        $("source-value").textContent = info.source.value;
        $("source-after").textContent = info.source.after;
      }
    } catch (err) {
      $("detail-error").textContent = err.message;
    }
  }

  let timer = null;
  function liveCheck() {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const values = {};
      for (const c of cells) if (c.value.trim() !== c.dataset.original) values[c.dataset.key] = c.value.trim();
      try {
        const r = await api("POST", `/api/doc/${docId}/check`, { values });
        for (const c of cells) c.classList.remove("invalid");
        showRules(r.checks);
        $("detail-error").textContent = "";
      } catch (err) {
        $("detail-error").textContent = err.message;
        const key = (err.message.match(/^([a-z_.]+):/) || [])[1];
        if (key && byKey.get(key)) byKey.get(key).classList.add("invalid");
      }
    }, 250);
  }

  async function commit(c, action) {
    const text = c.value.trim();
    if (!action) action = text === "" ? "blank" : (text === c.dataset.original ? "confirm" : "edit");
    try {
      const state = await api("POST", `/api/doc/${docId}/field`, { key: c.dataset.key, action, value: text, based_on: c.dataset.original });
      applyState(state);
      return true;
    } catch (err) {
      c.classList.add("invalid");
      $("detail-error").textContent = err.message;
      return false;
    }
  }

  async function confirmTable(table) {
    const state = await api("POST", `/api/doc/${docId}/table/${table}/confirm`);
    applyState(state);
    const button = document.querySelector(`button.confirm-table[data-table="${table}"]`);
    if (button) button.textContent = "已确认 ✓";
  }

  for (const c of cells) {
    c.addEventListener("focus", () => showDetail(c));
    c.addEventListener("input", liveCheck);
    c.addEventListener("keydown", async (e) => {
      if (e.key === "Enter" && !e.shiftKey) {
        e.preventDefault();
        if (await commit(c)) move(c, 1);
      } else if (e.key === "Enter" && e.shiftKey) {
        e.preventDefault();
        move(c, -1);
      } else if (e.key === "Escape") {
        c.value = c.dataset.original;
        c.classList.remove("invalid");
        liveCheck();
      } else if (e.altKey && (e.key === "b" || e.key === "B")) {
        e.preventDefault();
        c.value = "";
        if (await commit(c, "blank")) move(c, 1);
      }
    });
  }
  // Enter in a finding's note does not submit it: confirming or dismissing is a deliberate click.
  for (const note of document.querySelectorAll(".finding-form input[name=note]")) {
    note.addEventListener("keydown", (e) => { if (e.key === "Enter") e.preventDefault(); });
  }
  for (const b of document.querySelectorAll("button.confirm-table")) {
    b.addEventListener("click", () => confirmTable(b.dataset.table).catch((err) => { $("detail-error").textContent = err.message; }));
  }
  document.addEventListener("keydown", (e) => {
    if (e.altKey && (e.key === "c" || e.key === "C")) {
      e.preventDefault();
      const section = document.activeElement && document.activeElement.closest("section.table");
      if (section) confirmTable(section.dataset.table).catch((err) => { $("detail-error").textContent = err.message; });
    } else if (e.altKey && (e.key === "a" || e.key === "A")) {
      e.preventDefault();
      $("approve-form").submit();
    }
  });
  const first = cells.find(needsLook) || cells[0];
  if (first) { first.focus(); first.select(); }
})();
