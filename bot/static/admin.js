// Admin (sign-in and the shared helpers: staff.js): knowledge base list/search/edit (validated server-side, atomic), retraining state, failures, figures.
import { $, el } from "/static/dom.js";
import { api } from "/static/api.js";
import { start } from "/static/staff.js";
import "/static/staff_admin.js";  // the 员工 tab (accounts, sessions): its own module, imported so the page keeps one entry script
{
  let entries = [], currentId = null, currentVersion = null;
  let loaded = null;  // the entry as the editor opened it (or last saved it): what a stale version is checked against
  document.querySelectorAll(".tabs button").forEach((b) => b.addEventListener("click", () => {
    document.querySelectorAll(".tabs button").forEach((x) => x.classList.toggle("active", x === b));
    ["kb", "failures", "figures"].forEach((t) => $("tab-" + t).classList.toggle("hidden", t !== b.dataset.tab));
    if (b.dataset.tab === "failures") loadFailures(); if (b.dataset.tab === "figures") loadFigures();
  }));

  function trainingText(t) {
    if (!t) return "";
    if (t.problems && t.problems.length) return "⚠️ 知识库文件有错误：答案和模型仍是上一个正确版本，文件改好后自动更新";
    if (t.state === "training") return "⏳ 正在后台重新训练模型（开始于 " + t.started + "），期间旧模型继续服务";
    if (t.state === "failed") return "⚠️ 训练失败，旧模型继续服务：" + t.error;
    return "✅ 模型已是最新：" + (t.model || "") + (t.finished ? "（" + t.finished + " 完成）" : "");
  }
  // The retraining state and the knowledge base's problems (file:line, in Chinese) come together: never "✅ 模型已是最新"
  // over files that do not validate.
  function showTraining(t) {
    if (!t) return;
    $("training").textContent = trainingText(t); $("training").dataset.state = t.state;
    const problems = t.problems || [];
    $("kb-problem-list").replaceChildren(...problems.map((p) => el("li", "", p)));
    $("kb-problems").classList.toggle("hidden", !problems.length);
  }
  async function pollTraining() { try { showTraining(await api("/api/admin/training")); } catch (e) { /* ignore */ } setTimeout(pollTraining, 3000); }
  let files = [];
  async function loadList() {
    const data = await api("/api/admin/faq?q=" + encodeURIComponent($("search").value));
    entries = data.entries.filter((e) => !e.retired); files = data.files || []; showTraining(data.training);
    const box = $("faq-list"); box.replaceChildren();
    data.entries.forEach((e) => { const d = el("div", "faqitem" + (e.retired ? " retired" : "")); d.dataset.id = e.id;
      d.appendChild(el("div", "", (e.retired ? "【已停用】" : "") + e.title));
      d.appendChild(el("small", "", e.id + " · " + e.questions + " 个问法" + (e.few_questions && !e.retired ? "（建议至少 3 个）" : "") + " · " + e.file));
      d.addEventListener("click", () => edit(e.id)); box.appendChild(d); });
  }
  $("search").addEventListener("input", () => { clearTimeout(window._s); window._s = setTimeout(loadList, 250); });
  function questionHint() { const n = $("f-questions").value.split("\n").filter((q) => q.trim()).length;
    $("f-hint").textContent = n === 0 ? "至少需要 1 个问法" : n < 3 ? "只有 " + n + " 个问法，建议至少 3 个：住户的问法越多样，答得越准" : ""; }
  $("f-questions").addEventListener("input", questionHint);
  function showStats(st) {
    const k = $("entry-stats"); k.replaceChildren(); if (!st) { k.classList.add("hidden"); return; }
    [["asked", "被问到"], ["answered", "已回答"], ["not_helpful", "被点“没有帮助”"], ["handed_off", "回答后转人工"]].forEach(([key, label]) => {
      const d = el("div", "kpi"); d.appendChild(el("b", "", String(st[key] || 0))); d.appendChild(el("span", "", label + "（近 " + st.days + " 天）")); k.appendChild(d); });
    k.classList.remove("hidden");
  }
  async function loadSuggestions(id) {
    const box = $("suggestions"); box.replaceChildren();
    let data; try { data = await api("/api/admin/faq/" + id + "/suggestions"); } catch (e) { return; }
    $("suggest-box").classList.toggle("hidden", !data.suggestions.length);
    data.suggestions.forEach((sg) => { const d = el("div", "qitem"); d.appendChild(el("div", "summary", sg.text + "（" + sg.count + " 次）"));
      const b = el("button", "btn secondary", "采纳");
      b.addEventListener("click", async () => { try { await api("/api/admin/failures/" + sg.message_id + "/add-to-faq", { method: "POST", body: JSON.stringify({ faq_id: id }) });
        b.textContent = "已采纳"; b.disabled = true; const r = await api("/api/admin/faq/" + id); currentVersion = r.version; loaded = r; $("f-questions").value = r.questions.join("\n"); questionHint(); }
        catch (e) { alert("采纳失败：" + (e.problems ? e.problems.join("\n") : e.message)); } });
      d.appendChild(b); box.appendChild(d); });
  }
  function openForm(title, isNew) {
    $("edit-title").textContent = title; $("edit-form").classList.remove("hidden"); $("save-error").textContent = ""; $("save-ok").textContent = "";
    $("f-file-field").classList.toggle("hidden", !isNew);
    if (isNew) { const sel = $("f-file"); sel.replaceChildren(); files.forEach((f) => { const o = el("option", "", f); o.value = f; if (f === "custom.yml") o.selected = true; sel.appendChild(o); }); }
  }
  async function edit(id) {
    const e = await api("/api/admin/faq/" + id); currentId = id; currentVersion = e.version; loaded = e; // the file version this edit is based on
    openForm(e.title + "（" + e.id + "）" + (e.retired ? " · 已停用" : ""), false);
    $("f-title").value = e.title; $("f-questions").value = e.questions.join("\n"); $("f-answer").value = e.answer; questionHint();
    $("preview").textContent = e.rendered; $("f-retire").classList.toggle("hidden", e.retired); $("f-restore").classList.toggle("hidden", !e.retired);
    showStats(e.stats); $("suggest-box").classList.add("hidden"); if (!e.retired) loadSuggestions(id);
  }
  // 新建条目: empty, or pre-filled with a group of questions the bot could not answer (未解决问题 → 新建条目)
  function newEntry(questions) {
    currentId = null; currentVersion = null; loaded = null; openForm("新建条目", true);
    $("f-title").value = ""; $("f-questions").value = (questions || []).join("\n"); $("f-answer").value = ""; questionHint();
    $("preview").textContent = ""; $("f-retire").classList.add("hidden"); $("f-restore").classList.add("hidden"); showStats(null); $("suggest-box").classList.add("hidden");
    $("f-title").focus();
  }
  $("faq-new").addEventListener("click", () => newEntry([]));
  // A version is the whole file's: another admin's save of another entry of the same file makes this one's stale.
  // When this entry is still as it was opened, the save goes ahead on the new version (the server still refuses a
  // save whose version changed again meanwhile); only a change to this very entry is a conflict to show.
  async function unchangedSinceOpened() {
    if (currentId === null || !loaded) return false;
    let e; try { e = await api("/api/admin/faq/" + currentId); } catch (x) { return false; }
    const same = e.title === loaded.title && e.answer === loaded.answer && e.retired === loaded.retired &&
      e.questions.join("\n") === loaded.questions.join("\n");
    if (same) currentVersion = e.version;
    return same;
  }
  async function savingOnFreshVersion(call) {
    try { return await call(); }
    catch (e) { if (e.code === "faq_edit_conflict" && await unchangedSinceOpened()) return await call(); throw e; }
  }
  function saveError(e) {
    if (e.code === "faq_edit_conflict") { $("save-error").textContent = "未保存：" + e.message + "（您的修改仍在编辑框中，可复制后刷新再改）"; return; }
    const problems = e.problems ? e.problems.join("\n") : e.message;
    $("save-error").textContent = "未保存（旧版本继续服务）：" + problems;
  }
  $("edit-form").addEventListener("submit", async (ev) => {
    ev.preventDefault(); $("save-error").textContent = ""; $("save-ok").textContent = "";
    const body = { title: $("f-title").value, questions: $("f-questions").value.split("\n").map((q) => q.trim()).filter(Boolean), answer: $("f-answer").value };
    if (!body.questions.length) { $("save-error").textContent = "未保存：至少需要 1 个问法"; return; }
    try {
      let r;
      if (currentId === null) { if ($("f-file").value) body.file = $("f-file").value;  /* the list may not have loaded yet: the server's default file */ r = await api("/api/admin/faq", { method: "POST", body: JSON.stringify(body) }); }
      else { r = await savingOnFreshVersion(() => api("/api/admin/faq/" + currentId, { method: "PUT", body: JSON.stringify(Object.assign({}, body, { version: currentVersion })) })); }
      $("preview").textContent = r.entry.rendered; currentVersion = r.entry.version; loaded = r.entry;
      const created = currentId === null; currentId = r.entry.id;
      $("edit-title").textContent = r.entry.title + "（" + r.entry.id + "）";
      $("f-file-field").classList.add("hidden"); $("f-retire").classList.remove("hidden");
      $("save-ok").textContent = (created ? "已创建，住户现在就能问到；" : "已保存，答案已生效；") + (r.retraining ? "模型正在后台重新训练，完成后理解得更准。" : "");
      showTraining(r.training); loadList();
    } catch (e) { saveError(e); }
  });
  async function setRetired(retire) {
    if (retire && !confirm("停用后住户将不再收到这个答案（历史记录和统计会保留），确定停用吗？")) return;
    try { const r = await savingOnFreshVersion(() => api("/api/admin/faq/" + currentId + (retire ? "/retire" : "/restore"), { method: "POST", body: JSON.stringify({ version: currentVersion }) }));
      currentVersion = r.entry.version; loaded = r.entry; $("f-retire").classList.toggle("hidden", retire); $("f-restore").classList.toggle("hidden", !retire);
      $("edit-title").textContent = r.entry.title + "（" + r.entry.id + "）" + (retire ? " · 已停用" : "");
      $("save-ok").textContent = retire ? "已停用：住户不会再收到这个答案。" : "已重新启用。"; loadList(); }
    catch (e) { saveError(e); }
  }
  $("f-retire").addEventListener("click", () => setRetired(true));
  $("f-restore").addEventListener("click", () => setRetired(false));
  async function loadFailures() {
    const data = await api("/api/admin/failures"); const box = $("failures"); box.replaceChildren();
    if (!data.groups.length) box.textContent = "暂无";
    data.groups.forEach((g) => {
      const d = el("div", "qitem"); d.appendChild(el("div", "summary", g.text + "（" + g.count + " 次）"));
      d.appendChild(el("div", "meta", "例：" + g.examples.map((x) => x.text).join(" / ") + " · 类型：" + (g.reasons_labels || []).join("、")));
      // no entry chosen until the admin picks one (or the bot's own guess): the first of the list was one click from
      // receiving an unrelated question
      const select = el("select"); select.className = "failure-faq";
      const none = el("option", "", "选择要加到的条目…"); none.value = ""; select.appendChild(none);
      entries.forEach((e) => { const o = el("option", "", e.title); o.value = e.id; if (e.id === g.suggested_faq) o.selected = true; select.appendChild(o); });
      const b = el("button", "btn", "加为该 FAQ 的问法"); b.disabled = !select.value;
      select.addEventListener("change", () => { b.disabled = !select.value; });
      // every different question of the group, one after the other (each is validated and saved on its own)
      const texts = [...new Map(g.examples.map((x) => [x.text.trim(), x])).values()];
      b.addEventListener("click", async () => { b.disabled = true; let added = 0;
        try { for (const x of texts) { await api("/api/admin/failures/" + x.message_id + "/add-to-faq", { method: "POST", body: JSON.stringify({ faq_id: select.value }) }); added++; }
          b.textContent = "已添加 " + added + " 个问法，后台训练中"; select.disabled = true; }
        catch (e) { b.disabled = false; alert((added ? "已添加 " + added + " 个，" : "") + "“" + texts[added].text + "”添加失败：" + (e.problems ? e.problems.join("\n") : e.message)); } });
      const n = el("button", "btn secondary", "新建条目");
      n.addEventListener("click", () => { document.querySelector('.tabs button[data-tab="kb"]').click(); newEntry(g.examples.map((x) => x.text)); });
      d.appendChild(select); d.appendChild(b); d.appendChild(n); box.appendChild(d);
    });
    const rs = $("reasons"); rs.replaceChildren(); const t = el("table");
    const reasonLabels = data.handoff_reasons_labels || {};
    Object.entries(data.handoff_reasons).forEach(([k, v]) => { const tr = el("tr"); tr.appendChild(el("td", "", reasonLabels[k] || "其他原因")); tr.appendChild(el("td", "", String(v))); t.appendChild(tr); });
    rs.appendChild(t);
  }
  // 运营数据: a date range (default the last 14 days up to today in the 小区's time) drives /api/admin/figures, the chart and the CSV links.
  let figuresDays = 14;  // a quick range (the last N days up to the server's today) until dates are picked by hand
  function rangeQuery() { return "start=" + encodeURIComponent($("fig-start").value) + "&end=" + encodeURIComponent($("fig-end").value); }
  function exportLinks() {
    ["conversations", "handoffs", "failed"].forEach((kind) => {
      const a = $("export-" + kind); a.href = "/api/admin/export/" + kind + ".csv?" + rangeQuery();
      a.setAttribute("download", "wuye-" + kind + "-" + $("fig-start").value.replace(/-/g, "") + "-" + $("fig-end").value.replace(/-/g, "") + ".csv");
    });
  }
  document.querySelectorAll("#fig-range button[data-days]").forEach((b) => b.addEventListener("click", () => { figuresDays = Number(b.dataset.days); loadFigures(); }));
  ["fig-start", "fig-end"].forEach((id) => $(id).addEventListener("change", () => { if ($("fig-start").value && $("fig-end").value) { figuresDays = 0; loadFigures(); } }));
  async function loadFigures() {
    $("fig-error").textContent = "";
    let f;
    try { f = await api("/api/admin/figures?" + (figuresDays ? "days=" + figuresDays : rangeQuery())); }
    catch (e) { $("fig-error").textContent = e.message; return; }
    $("fig-start").value = f.start; $("fig-end").value = f.end; exportLinks();
    const k = $("kpis"); k.replaceChildren();
    const kpi = (v, label) => { const d = el("div", "kpi"); d.appendChild(el("b", "", v)); d.appendChild(el("span", "", label)); k.appendChild(d); };
    kpi(String(f.conversations), "会话总数"); kpi(f.bot_only_share == null ? "-" : Math.round(f.bot_only_share * 100) + "%", "机器人独立解决");
    kpi(String(Object.values(f.handoffs_by_priority).reduce((a, b) => a + b, 0)), "转人工");
    kpi(f.median_wait_seconds == null ? "-" : Math.round(f.median_wait_seconds / 60) + " 分钟", "等待人工中位数");
    $("fig-window").textContent = f.start + " 至 " + f.end;
    $("chart").replaceChildren(dayChart(f.per_day));
    const bd = $("breakdown"); bd.replaceChildren(); const t = el("table");
    const row = (a, b) => { const tr = el("tr"); tr.appendChild(el("td", "", a)); tr.appendChild(el("td", "", String(b))); t.appendChild(tr); };
    Object.entries(f.handoffs_by_priority).forEach(([p, v]) => row("优先级：" + ((f.priority_labels || {})[p] || "无"), v));
    Object.entries(f.handoffs_by_reason).forEach(([r, v]) => row((f.reason_labels || {})[r] || "其他原因", v));
    // the triage question of borderline emergencies: how often residents answer it (what the band costs)
    const tri = f.triage || {};
    if (tri.asked) row("紧急确认（疑似紧急先问业主）：回复率 " + Math.round((tri.confirmed + tri.declined) / tri.asked * 100) + "%",
      "问了 " + tri.asked + " 次 · 是 " + tri.confirmed + " · 不是 " + tri.declined + " · 超时未回复 " + tri.timed_out +
      " · 客服确认紧急 " + (tri.agent_confirmed || 0) + " · 客服确认不紧急 " + (tri.agent_declined || 0) + " · 其他 " + tri.other);
    if (!t.children.length) row("所选日期范围内没有转人工", 0);
    bd.appendChild(t);
    document.dispatchEvent(new CustomEvent("wuye:figures", { detail: f }));  // the ratings panel reads the same range
  }
  // The per-day chart as inline SVG: stacked bars (机器人独立解决 / 转人工), a count axis with ticks and grid lines, a date
  // axis, each day's total above its bar, a legend; a <title> per bar for the exact figures.
  function dayChart(days) {
    const NS = "http://www.w3.org/2000/svg";
    const node = (tag, attrs, text) => { const n = document.createElementNS(NS, tag); Object.entries(attrs || {}).forEach(([a, v]) => n.setAttribute(a, v)); if (text !== undefined) n.textContent = text; return n; };
    const W = 760, H = 300, L = 52, R = 14, T = 40, B = 54, plotW = W - L - R, plotH = H - T - B, n = Math.max(1, days.length);
    const max = Math.max(0, ...days.map((d) => d.conversations));
    const mag = Math.pow(10, Math.floor(Math.log10(Math.max(1, max / 5))));  // ticks of 1, 2 or 5 × 10^k, about five
    const step = max <= 5 ? 1 : mag * [1, 2, 5, 10].find((m) => mag * m >= max / 5);
    const top = Math.max(step, Math.ceil(max / step) * step), y = (v) => T + plotH - (v / top) * plotH;
    const svg = node("svg", { viewBox: "0 0 " + W + " " + H, width: "100%", role: "img", "aria-label": "每日会话数柱状图" });
    const grid = node("g", { class: "grid" }), yAxis = node("g", { class: "axis y-axis" }), xAxis = node("g", { class: "axis x-axis" });
    for (let v = 0; v <= top; v += step) {
      grid.appendChild(node("line", { x1: L, x2: W - R, y1: y(v), y2: y(v) }));
      yAxis.appendChild(node("text", { class: "y-label", x: L - 6, y: y(v) + 4, "text-anchor": "end", "font-size": 11 }, String(v)));
    }
    yAxis.appendChild(node("line", { x1: L, x2: L, y1: T, y2: T + plotH }));
    yAxis.appendChild(node("text", { class: "axis-title", transform: "translate(14," + (T + plotH / 2) + ") rotate(-90)", "text-anchor": "middle", "font-size": 12 }, "会话数（个）"));
    xAxis.appendChild(node("line", { x1: L, x2: W - R, y1: T + plotH, y2: T + plotH }));
    xAxis.appendChild(node("text", { class: "axis-title", x: L + plotW / 2, y: H - 6, "text-anchor": "middle", "font-size": 12 }, "日期"));
    svg.appendChild(grid); svg.appendChild(yAxis); svg.appendChild(xAxis);
    const slot = plotW / n, bw = Math.max(1, Math.min(40, slot * 0.7)), every = Math.ceil(n / 15);
    const bars = node("g", { class: "bars" });
    days.forEach((d, i) => {
      const x = L + i * slot + (slot - bw) / 2, handed = d.conversations - d.bot_only, g = node("g", { class: "bar", "data-day": d.day });
      g.appendChild(node("title", {}, d.day + "：会话 " + d.conversations + "，机器人独立解决 " + d.bot_only + "，转人工 " + handed));
      g.appendChild(node("rect", { class: "bot-only", x: x, y: y(d.bot_only), width: bw, height: y(0) - y(d.bot_only), fill: "#07c160" }));
      g.appendChild(node("rect", { class: "handed", x: x, y: y(d.conversations), width: bw, height: y(d.bot_only) - y(d.conversations), fill: "#fa8c16" }));
      if (d.conversations > 0 && (n <= 62 || i % every === 0)) g.appendChild(node("text", { class: "value-label", x: x + bw / 2, y: y(d.conversations) - 4, "text-anchor": "middle", "font-size": 11 }, String(d.conversations)));
      bars.appendChild(g);
      if (i % every === 0) xAxis.appendChild(node("text", { class: "x-label", x: x + bw / 2, y: T + plotH + 16, "text-anchor": "middle", "font-size": 11 }, d.day.slice(5)));
    });
    svg.appendChild(bars);
    const legend = node("g", { class: "legend", transform: "translate(" + L + ",12)" });
    [["#07c160", "机器人独立解决"], ["#fa8c16", "转人工"]].forEach(([color, label], i) => {
      legend.appendChild(node("rect", { x: i * 130, y: 0, width: 12, height: 12, fill: color }));
      legend.appendChild(node("text", { x: i * 130 + 18, y: 11, "font-size": 12 }, label));
    });
    legend.appendChild(node("text", { x: 270, y: 11, "font-size": 12 }, "柱顶数字：当天会话总数"));
    svg.appendChild(legend);
    return svg;
  }
  start({
    refuse: (me) => me.role !== "admin" && "需要管理员账号",
    firstRun: true,  // an empty deployment makes its first admin here
    signedIn: (me) => { $("me").textContent = me.display_name; loadList(); pollTraining(); },
  });
}

// API 密钥 tab: keys for /api/chat integrations (list, create — the key is shown once — and revoke).
{
  document.querySelectorAll(".tabs button").forEach((b) => b.addEventListener("click", () => {
    $("tab-keys").classList.toggle("hidden", b.dataset.tab !== "keys");
    if (b.dataset.tab === "keys") { loadKeys(); loadRetention(); } else hideOnce();
  }));
  function hideOnce() { $("key-once").classList.add("hidden"); $("key-value").textContent = ""; $("key-copy").textContent = "复制"; }
  async function loadRetention() {  // 数据保留: read-only, the periods the server enforces
    let data;
    try { data = await api("/api/admin/retention"); } catch (e) { $("retention-error").textContent = "加载失败：" + e.message; return; }
    document.querySelector("#retention tbody").replaceChildren(...data.kinds.map((k) => {
      const tr = el("tr"); tr.dataset.kind = k.kind;
      tr.append(el("td", "", k.label), el("td", "days", k.days + " 天"), el("td", "", k.what));
      return tr;
    }));
  }
  async function loadKeys() {
    const body = document.querySelector("#keys tbody");
    let data;
    try { data = await api("/api/admin/api-keys"); } catch (e) { $("key-error").textContent = "加载失败：" + e.message; return; }
    body.replaceChildren();
    if (!data.keys.length) { const tr = el("tr"); const td = el("td", "", "还没有密钥"); td.colSpan = 5; tr.appendChild(td); body.appendChild(tr); }
    data.keys.forEach((k) => {
      const tr = el("tr", k.revoked ? "revoked" : ""); tr.dataset.id = k.id;
      tr.appendChild(el("td", "name", k.name)); tr.appendChild(el("td", "prefix", k.prefix + "…"));
      tr.appendChild(el("td", "", (k.created_at || "").replace("T", " ")));
      tr.appendChild(el("td", "state", k.revoked ? "已吊销（" + k.revoked_at.replace("T", " ") + "）" : "有效"));
      const cell = el("td");
      if (!k.revoked) {
        const b = el("button", "btn danger", "吊销");
        b.addEventListener("click", async () => {
          if (!confirm("确定吊销密钥「" + k.name + "」吗？使用它的系统将立即无法调用 /api/chat。")) return;
          try { await api("/api/admin/api-keys/" + k.id + "/revoke", { method: "POST" }); loadKeys(); }
          catch (e) { $("key-error").textContent = "吊销失败：" + e.message; }
        });
        cell.appendChild(b);
      }
      tr.appendChild(cell); body.appendChild(tr);
    });
  }
  $("key-form").addEventListener("submit", async (ev) => {
    ev.preventDefault(); $("key-error").textContent = ""; hideOnce();
    try {
      const k = await api("/api/admin/api-keys", { method: "POST", body: JSON.stringify({ name: $("key-name").value }) });
      $("key-once-name").textContent = k.name; $("key-value").textContent = k.key; $("key-once").classList.remove("hidden");
      $("key-name").value = ""; loadKeys();
    } catch (e) { $("key-error").textContent = "创建失败：" + e.message; }
  });
  $("key-copy").addEventListener("click", async () => {
    try { await navigator.clipboard.writeText($("key-value").textContent); $("key-copy").textContent = "已复制"; } catch (e) { /* select it by hand */ }
  });
  $("key-done").addEventListener("click", hideOnce);
}

// 快捷回复 tab (create, edit, delete the replies agents insert with /shortcut) and 满意度评价 in the figures tab.
{
  let editing = null;
  document.querySelectorAll(".tabs button").forEach((b) => b.addEventListener("click", () => {
    $("tab-quick").classList.toggle("hidden", b.dataset.tab !== "quick");
    if (b.dataset.tab === "quick") loadQuickReplies();
  }));
  document.addEventListener("wuye:figures", (ev) => loadRatings(ev.detail));
  function startEdit(q) {
    editing = q; $("qr-error").textContent = ""; $("qr-ok").textContent = "";
    $("qr-edit-title").textContent = q ? "编辑快捷回复 /" + q.shortcut : "新建快捷回复";
    $("qr-shortcut").value = q ? q.shortcut : ""; $("qr-title").value = q ? q.title : ""; $("qr-text").value = q ? q.text : "";
    $("qr-delete").classList.toggle("hidden", !q);
  }
  async function loadQuickReplies() {
    const box = $("qr-admin-list"); let data;
    try { data = await api("/api/admin/quick-replies"); } catch (e) { box.textContent = "加载失败：" + e.message; return; }
    box.replaceChildren();
    if (!data.quick_replies.length) box.textContent = "还没有快捷回复";
    data.quick_replies.forEach((q) => {
      const d = el("div", "faqitem"); d.dataset.shortcut = q.shortcut;
      d.appendChild(el("div", "", "/" + q.shortcut + " · " + q.title)); d.appendChild(el("small", "", q.text));
      d.addEventListener("click", () => startEdit(q)); box.appendChild(d);
    });
  }
  $("qr-new").addEventListener("click", () => startEdit(null));
  $("qr-form").addEventListener("submit", async (ev) => {
    ev.preventDefault(); $("qr-error").textContent = ""; $("qr-ok").textContent = "";
    const body = JSON.stringify({ shortcut: $("qr-shortcut").value.trim(), title: $("qr-title").value, text: $("qr-text").value });
    try {
      const q = await api("/api/admin/quick-replies" + (editing ? "/" + editing.id : ""), { method: editing ? "PUT" : "POST", body: body });
      startEdit(q); $("qr-ok").textContent = "已保存，客服输入 /" + q.shortcut + " 即可插入。"; loadQuickReplies();
    } catch (e) { $("qr-error").textContent = "未保存：" + (e.code === "invalid_request" ? "快捷键为 1–16 个字符，不能有空格或 /；标题和内容不能为空" : e.message); }
  });
  $("qr-delete").addEventListener("click", async () => {
    if (!editing || !confirm("确定删除快捷回复 /" + editing.shortcut + " 吗？")) return;
    try { await api("/api/admin/quick-replies/" + editing.id, { method: "DELETE" }); startEdit(null); loadQuickReplies(); }
    catch (e) { $("qr-error").textContent = "删除失败：" + e.message; }
  });
  const fmt = (v) => (v == null ? "-" : v.toFixed(2));
  function loadRatings(figures) {  // from the 运营数据 figures of the chosen date range
    const f = figures && figures.ratings;
    if (!f) return;
    const k = $("rating-kpis"); k.replaceChildren();
    [[String(f.count), "评价总数"], [fmt(f.average), "平均分"]].forEach(([v, label]) => { const d = el("div", "kpi"); d.appendChild(el("b", "", v)); d.appendChild(el("span", "", label)); k.appendChild(d); });
    const byAgent = document.querySelector("#ratings-by-agent tbody"); byAgent.replaceChildren();
    f.by_agent.forEach((a) => { const tr = el("tr"); [a.agent, String(a.count), fmt(a.average), ...[1, 2, 3, 4, 5].map((n) => String(a.scores[n] || 0))].forEach((v) => tr.appendChild(el("td", "", v))); byAgent.appendChild(tr); });
    const perDay = document.querySelector("#ratings-per-day tbody"); perDay.replaceChildren();
    f.per_day.filter((d) => d.count).forEach((d) => { const tr = el("tr"); [d.day, String(d.count), fmt(d.average)].forEach((v) => tr.appendChild(el("td", "", v))); perDay.appendChild(tr); });
    if (!f.per_day.some((d) => d.count)) { const tr = el("tr"); const td = el("td", "", "所选日期范围内暂无评价"); td.colSpan = 3; tr.appendChild(td); perDay.appendChild(tr); }
  }
}

// 通知公告 tab: publish, edit and withdraw notices (停水/停电/停气/电梯/活动) for a 小区 or some buildings, with their history.
{
  let meta = null, current = null;
  document.querySelectorAll(".tabs button").forEach((b) => b.addEventListener("click", () => {
    $("tab-notices").classList.toggle("hidden", b.dataset.tab !== "notices");
    if (b.dataset.tab === "notices") loadNotices();
  }));
  function buildingBoxes(communityId, chosen) {
    const box = $("nt-buildings"); box.replaceChildren();
    const community = (meta.communities.find((c) => c.id === communityId) || { buildings: [] });
    community.buildings.forEach((b) => {
      const label = el("label", "nt-building"); label.style.marginRight = "10px"; label.style.display = "inline-block";
      const cb = el("input"); cb.type = "checkbox"; cb.value = String(b); cb.checked = (chosen || []).includes(b);
      label.appendChild(cb); label.appendChild(document.createTextNode(" " + b + "栋")); box.appendChild(label);
    });
  }
  // A new notice is offered only the 小区 in service (a retired one takes none; the server refuses it too); an old
  // notice of a since-retired 小区 keeps its 小区 in the list, marked, so it can still be corrected or withdrawn.
  function fillCommunities(n) {
    const c = $("nt-community"); c.replaceChildren();
    meta.communities.filter((x) => !x.retired || (n && n.community_id === x.id))
      .forEach((x) => { const o = el("option", "", x.name + (x.retired ? "（已停用）" : "")); o.value = x.id; c.appendChild(o); });
  }
  function fillSelects() {
    fillCommunities(null);
    const k = $("nt-kind"); k.replaceChildren();
    Object.entries(meta.kinds).forEach(([id, label]) => { const o = el("option", "", label); o.value = id; k.appendChild(o); });
  }
  function history(n) {
    const box = $("nt-history"); box.replaceChildren();
    if (!n || !n.history || !n.history.length) { box.textContent = "—"; return; }
    n.history.forEach((h) => {
      const s = h.snapshot || {};
      box.appendChild(el("div", "nt-rev", h.at.slice(0, 16).replace("T", " ") + " " + (h.by || "") + " " + h.action_label + "：" +
        (s.title || "") + "，" + (s.starts_at || "").slice(5, 16).replace("T", " ") + " 至 " + (s.ends_at || "").slice(5, 16).replace("T", " ")));
    });
  }
  function startEdit(n) {
    current = n; $("nt-error").textContent = ""; $("nt-ok").textContent = "";
    $("nt-edit-title").textContent = n ? "编辑通知（" + n.state_label + "）" : "发布通知";
    $("nt-save").textContent = n ? "保存修改" : "发布";
    $("nt-withdraw").classList.toggle("hidden", !n || n.state === "withdrawn");
    fillCommunities(n);
    $("nt-community").value = n ? n.community_id : ($("nt-community").options[0] || { value: "" }).value;
    $("nt-kind").value = n ? n.kind : "water";
    buildingBoxes($("nt-community").value, n ? n.buildings : []);
    $("nt-title").value = n ? n.title : ""; $("nt-text").value = n ? n.text : "";
    $("nt-start").value = n ? n.starts_at.slice(0, 16) : ""; $("nt-end").value = n ? n.ends_at.slice(0, 16) : "";
    history(n);
  }
  async function loadNotices(selectId) {
    meta = await api("/api/admin/notices" + ($("nt-all").checked ? "?all=true" : ""));
    if (!$("nt-community").options.length) { fillSelects(); startEdit(null); }
    const box = $("nt-list"); box.replaceChildren();
    if (!meta.notices.length) box.textContent = "暂无通知";
    meta.notices.forEach((n) => {
      const d = el("div", "qitem nt-item"); d.dataset.id = String(n.id);
      d.appendChild(el("div", "summary", n.title));
      d.appendChild(el("div", "meta", "【" + n.state_label + "】" + n.kind_label + " · " + n.scope_label + " · " + n.when));
      d.addEventListener("click", async () => startEdit(await api("/api/admin/notices/" + n.id)));
      box.appendChild(d);
    });
    if (selectId) startEdit(await api("/api/admin/notices/" + selectId));
  }
  $("nt-all").addEventListener("change", () => loadNotices());
  $("nt-new").addEventListener("click", () => startEdit(null));
  $("nt-community").addEventListener("change", () => buildingBoxes($("nt-community").value, []));
  $("nt-form").addEventListener("submit", async (ev) => {
    ev.preventDefault(); $("nt-error").textContent = ""; $("nt-ok").textContent = "";
    const body = { community_id: $("nt-community").value, kind: $("nt-kind").value, title: $("nt-title").value.trim(),
      buildings: [...$("nt-buildings").querySelectorAll("input:checked")].map((x) => Number(x.value)),
      starts_at: $("nt-start").value, ends_at: $("nt-end").value, text: $("nt-text").value };
    try {
      const n = current ? await api("/api/admin/notices/" + current.id, { method: "PUT", body: JSON.stringify(body) })
        : await api("/api/admin/notices", { method: "POST", body: JSON.stringify(body) });
      await loadNotices(n.id); $("nt-ok").textContent = current && current.history.length > 1 ? "已保存修改" : "已发布";
    } catch (e) { $("nt-error").textContent = "未保存：" + e.message; }
  });
  $("nt-withdraw").addEventListener("click", async () => {
    if (!current || !confirm("撤回这条通知？住户将不再看到它。")) return;
    try { const n = await api("/api/admin/notices/" + current.id + "/withdraw", { method: "POST" }); await loadNotices(n.id); $("nt-ok").textContent = "已撤回"; }
    catch (e) { $("nt-error").textContent = e.message; }
  });
}
// 运营数据 → 工单 (the work-order desk's figures, bot/desk.py): orders by status and category, the share that met each
// SLA (data/sla.yml), median time to the first response (dispatch) and to completion, the residents' ratings.
{
  const pct = (v) => (v == null ? "-" : Math.round(v * 100) + "%");
  const minutes = (v) => (v == null ? "-" : v < 120 ? Math.round(v) + " 分钟" : (v / 60).toFixed(1) + " 小时");
  function rows(id, counts) {
    const body = document.querySelector("#" + id + " tbody"); body.replaceChildren();
    Object.entries(counts).forEach(([k, v]) => { const tr = el("tr"); tr.appendChild(el("td", "", k)); tr.appendChild(el("td", "", String(v))); body.appendChild(tr); });
  }
  async function load() {
    let f; try { f = await api("/api/admin/work-order-figures"); } catch (e) { return; }
    const k = $("wo-kpis"); k.replaceChildren();
    [[String(f.total), "工单总数"], [String(f.open), "未完成"], [String(f.overdue), "超时"],
     [pct(f.response_within_sla), "按时派单"], [pct(f.completion_within_sla), "按时完成"],
     [minutes(f.median_minutes_to_response), "派单用时中位数"], [minutes(f.median_minutes_to_completion), "完成用时中位数"],
     [f.ratings.average == null ? "-" : f.ratings.average.toFixed(2), "维修评价（" + f.ratings.count + " 条）"]]
      .forEach(([v, label]) => { const d = el("div", "kpi"); d.appendChild(el("b", "", v)); d.appendChild(el("span", "", label)); k.appendChild(d); });
    rows("wo-by-status", f.by_status); rows("wo-by-category", f.by_category);
  }
  document.querySelectorAll(".tabs button").forEach((b) => b.addEventListener("click", () => { if (b.dataset.tab === "figures") load(); }));
}
