// The 建议 and 投票 tabs of /admin (bot/api/voice.py). Their own module, so admin.js stays as it is: the tab buttons and
// panels are added here, and a click on any tab shows ours or hides them (a delegated listener: admin.js binds its
// listeners to the buttons present when it loads).
import { api } from "/static/api.js";
import { $, el, selectTab } from "/static/dom.js";

const OURS = { suggestions: "建议", polls: "投票" };
const SVG = "http://www.w3.org/2000/svg";
const tabs = document.querySelector(".tabs");
const view = $("app-view");
for (const [key, title] of Object.entries(OURS)) {
  const b = el("button", "", title); b.type = "button"; b.dataset.tab = key; tabs.appendChild(b);
  const panel = el("div", "admin hidden"); panel.id = "tab-" + key; panel.style.gridTemplateColumns = "1fr"; view.appendChild(panel);
}
let pollTimer = null;
tabs.addEventListener("click", (e) => {
  const b = e.target.closest("button"); if (!b) return;
  const mine = b.dataset.tab in OURS;
  if (mine) selectTab(tabs, view, b);
  Object.keys(OURS).forEach((k) => $("tab-" + k).classList.toggle("hidden", k !== b.dataset.tab));
  clearInterval(pollTimer); pollTimer = null;
  if (b.dataset.tab === "suggestions") loadSuggestions();
  if (b.dataset.tab === "polls") { loadPolls(); pollTimer = setInterval(refreshCounts, 3000); }  // the counts, live
});

// --- 建议 -------------------------------------------------------------------------------------------------------------
const sPanel = el("div", "panel");
sPanel.appendChild(el("h2", "", "住户建议"));
sPanel.appendChild(el("p", "status-line", "住户在聊天里提的建议，按内容相近的归在一起（最新的在前）。回复会发到住户的聊天窗口（网页或微信）。"));
const sFilter = el("select"); sFilter.id = "sg-status";
sPanel.appendChild(sFilter);
const sList = el("div"); sList.id = "sg-list"; sPanel.appendChild(sList);
$("tab-suggestions").appendChild(sPanel);
sFilter.addEventListener("change", loadSuggestions);

async function loadSuggestions() {
  let data;
  try { data = await api("/api/admin/suggestions" + (sFilter.value ? "?status=" + encodeURIComponent(sFilter.value) : "")); }
  catch (err) { sList.replaceChildren(el("div", "error", err.message)); return; }
  if (!sFilter.options.length) {
    [["", "全部状态"], ...Object.entries(data.statuses)].forEach(([v, t]) => { const o = el("option", "", t); o.value = v; sFilter.appendChild(o); });
  }
  sList.replaceChildren();
  if (!data.groups.length) { sList.appendChild(el("p", "status-line", "暂无建议")); return; }
  data.groups.forEach((g) => {
    const box = el("div", "sg-group"); box.style.cssText = "border-top:1px solid #eee;padding:8px 0";
    box.appendChild(el("h3", "", g.count > 1 ? `相似建议 ${g.count} 条：${g.text}` : g.text));
    g.examples.forEach((s) => box.appendChild(suggestionRow(s, data.statuses)));
    if (g.count > g.examples.length) box.appendChild(el("p", "status-line", `另有 ${g.count - g.examples.length} 条相似建议`));
    sList.appendChild(box);
  });
}

function suggestionRow(s, statuses) {
  const row = el("div", "sg-item"); row.dataset.number = s.number; row.style.cssText = "margin:6px 0 12px 12px";
  const where = [s.community, s.building ? s.building + "栋" : ""].filter(Boolean).join(" ");
  row.appendChild(el("div", "status-line", `${s.number} · ${where || "未知小区"} · ${(s.created_at || "").slice(0, 16).replace("T", " ")} · `));
  row.lastChild.appendChild(el("b", "sg-state", s.status_label));
  row.appendChild(el("div", "sg-text", s.text));
  if (s.reply) row.appendChild(el("div", "status-line sg-reply", "已回复：" + s.reply));
  const form = el("form"); form.style.cssText = "display:flex;gap:6px;margin-top:4px;flex-wrap:wrap";
  const text = el("input"); text.className = "sg-reply-text"; text.placeholder = "回复住户（会发到住户的聊天窗口）"; text.maxLength = 1000; text.style.flex = "1";
  const status = el("select"); status.className = "sg-reply-status";
  Object.entries(statuses).forEach(([v, t]) => { const o = el("option", "", t); o.value = v; o.selected = v === (s.status === "pending" ? "replied" : s.status); status.appendChild(o); });
  const send = el("button", "btn", "保存"); send.type = "submit";
  const error = el("div", "error");
  form.append(text, status, send, error);
  form.addEventListener("submit", async (e) => {
    e.preventDefault(); error.textContent = ""; send.disabled = true;
    try {
      await api(`/api/admin/suggestions/${s.id}`, { method: "POST", body: JSON.stringify({ status: status.value, reply: text.value }) });
      await loadSuggestions();
    } catch (err) { error.textContent = err.message; send.disabled = false; }
  });
  row.appendChild(form);
  return row;
}

// --- 投票 -------------------------------------------------------------------------------------------------------------
const pForm = el("form", "panel"); pForm.id = "pl-form";
pForm.appendChild(el("h2", "", "新建投票"));
function field(label, input) { const f = el("div", "field"); const l = el("label", "", label); l.htmlFor = input.id; f.append(l, input); pForm.appendChild(f); return input; }
const pQuestion = field("问题", Object.assign(el("input"), { id: "pl-question", maxLength: 200 }));
const pOptions = field("选项（每行一个，2–6 个）", Object.assign(el("textarea"), { id: "pl-options", rows: 4 }));
const pCommunity = field("小区", Object.assign(el("select"), { id: "pl-community" }));
const pBuildings = field("楼栋（用逗号分隔，不填 = 全小区）", Object.assign(el("input"), { id: "pl-buildings", placeholder: "例如 1,3" }));
const pOpens = field("开始时间（小区当地时间）", Object.assign(el("input"), { id: "pl-opens", type: "datetime-local" }));
const pCloses = field("截止时间", Object.assign(el("input"), { id: "pl-closes", type: "datetime-local" }));
const pPer = field("投票方式", Object.assign(el("select"), { id: "pl-per" }));
const pShow = Object.assign(el("input"), { id: "pl-show", type: "checkbox" });
const showLabel = el("label", "status-line"); showLabel.append(pShow, document.createTextNode(" 结束后住户可以看到结果")); pForm.appendChild(showLabel);
const pError = el("div", "error"); pError.id = "pl-error"; pForm.appendChild(pError);
const pSave = el("button", "btn", "创建投票"); pSave.type = "submit"; pSave.id = "pl-save"; pForm.appendChild(pSave);
const pList = el("div", "panel"); pList.id = "pl-list";
$("tab-polls").append(pForm, pList);
let pollsMeta = null;

function localInput(d) { const p = (n) => String(n).padStart(2, "0"); return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`; }

async function loadPolls() {
  let data;
  try { data = await api("/api/admin/polls"); } catch (err) { pList.replaceChildren(el("div", "error", err.message)); return; }
  // the 小区 in service (a retired one takes no new poll), read at each opening: one retired meanwhile is gone
  const chosen = pCommunity.value; pCommunity.replaceChildren();
  data.communities.forEach((c) => { const o = el("option", "", c.name); o.value = c.id; pCommunity.appendChild(o); });
  if ([...pCommunity.options].some((o) => o.value === chosen)) pCommunity.value = chosen;
  if (!pollsMeta) {
    pollsMeta = data;
    Object.entries(data.per).forEach(([v, t]) => { const o = el("option", "", t); o.value = v; pPer.appendChild(o); });
    const now = new Date(); pOpens.value = localInput(now); pCloses.value = localInput(new Date(now.getTime() + 7 * 864e5));
  }
  renderPolls(data.polls);
}

// The live refresh changes only the charts and totals in place (a select or a click under way is left alone); a poll
// added or gone elsewhere draws the list again.
async function refreshCounts() {
  if ($("tab-polls").classList.contains("hidden")) return;
  let polls;
  try { polls = (await api("/api/admin/polls")).polls; } catch (err) { return; }  // the next tick tries again
  const shown = [...pList.querySelectorAll(".pl-poll")].map((b) => b.dataset.poll);
  if (shown.join() !== polls.map((p) => String(p.id)).join()) { renderPolls(polls); return; }
  polls.forEach((p) => {
    const box = pList.querySelector(`.pl-poll[data-poll='${p.id}']`);
    box.querySelector(".pl-chart").replaceWith(barChart(p.options));
    box.querySelector(".pl-total").textContent = String(p.total);
  });
}

function renderPolls(polls) {
  pList.replaceChildren(el("h2", "", "投票结果"));
  if (!polls.length) { pList.appendChild(el("p", "status-line", "还没有投票")); return; }
  polls.forEach((p) => {
    const box = el("div", "pl-poll"); box.dataset.poll = String(p.id); box.style.cssText = "border-top:1px solid #eee;padding:8px 0";
    box.appendChild(el("h3", "", p.question));
    box.appendChild(el("div", "status-line", `${p.community} ${p.scope} · ${p.per_label} · ${p.state_label} · ${p.opens_at.slice(0, 16).replace("T", " ")} 至 ${p.closes_at.slice(0, 16).replace("T", " ")} · 共 `));
    box.lastChild.appendChild(el("b", "pl-total", String(p.total))); box.lastChild.appendChild(document.createTextNode(" 票"));
    box.appendChild(barChart(p.options));
    const csv = el("a", "", "导出 CSV"); csv.href = `/api/admin/polls/${p.id}/results.csv`; box.appendChild(csv);
    if (p.state !== "closed") {
      box.appendChild(noticeLink(p));
      const close = el("button", "btn secondary", "立即结束"); close.type = "button"; close.style.marginLeft = "10px";
      close.addEventListener("click", async () => { try { await api(`/api/admin/polls/${p.id}/close`, { method: "POST" }); loadPolls(); } catch (err) { alert(err.message); } });
      box.appendChild(close);
    }
    pList.appendChild(box);
  });
}

// 在通知里加投票入口: a live notice of the poll's 小区 links to it (PUT /api/admin/notices/{id} poll_id); residents then
// see 参与投票 under the notice in the widget and with the bot's answer about it.
function noticeLink(p) {
  const wrap = el("div", "pl-link"); wrap.style.margin = "6px 0";
  const pick = el("select", "pl-notice"); const none = el("option", "", "选择一条通知…"); none.value = ""; pick.appendChild(none);
  const add = el("button", "btn secondary", "在通知里加投票入口"); add.type = "button"; add.style.marginLeft = "6px";
  const said = el("span", "status-line pl-link-status"); said.style.marginLeft = "6px";
  api("/api/admin/notices?community=" + encodeURIComponent(p.community_id)).then((d) => d.notices.forEach((n) => {
    const o = el("option", "", n.title + (n.poll_id === p.id ? "（已加入）" : "")); o.value = String(n.id); pick.appendChild(o);
  })).catch(() => {});
  add.addEventListener("click", async () => {
    if (!pick.value) { said.textContent = "请先选择一条通知"; return; }
    try {
      const n = await api(`/api/admin/notices/${pick.value}`, { method: "PUT", body: JSON.stringify({ poll_id: p.id }) });
      said.textContent = `已加到通知“${n.title}”`;
    } catch (err) { said.textContent = err.message; }
  });
  wrap.append(pick, add, said);
  return wrap;
}

// Horizontal bars, one per option (its votes at the end, a <title> with the share), scaled to the largest.
function barChart(options) {
  const node = (tag, attrs) => { const n = document.createElementNS(SVG, tag); Object.entries(attrs || {}).forEach(([k, v]) => n.setAttribute(k, v)); return n; };
  const W = 520, L = 130, row = 26, max = Math.max(1, ...options.map((o) => o.votes)), total = options.reduce((a, o) => a + o.votes, 0);
  const svg = node("svg", { class: "pl-chart", width: W, height: options.length * row + 6, role: "img" });
  options.forEach((o, i) => {
    const g = node("g", { class: "pl-bar", "data-option": String(o.number), "data-votes": String(o.votes) });
    const y = i * row + 4, w = Math.round((W - L - 60) * o.votes / max);
    const label = node("text", { x: L - 8, y: y + 15, "text-anchor": "end", "font-size": 12 }); label.textContent = `${o.number}. ${o.text}`.slice(0, 16);
    const bar = node("rect", { x: L, y, width: Math.max(w, 1), height: row - 8, fill: "#1677ff" });
    const title = node("title"); title.textContent = `${o.text}：${o.votes} 票（${total ? Math.round(o.votes / total * 100) : 0}%）`; bar.appendChild(title);
    const count = node("text", { x: L + Math.max(w, 1) + 6, y: y + 15, "font-size": 12 }); count.textContent = String(o.votes);
    g.append(label, bar, count); svg.appendChild(g);
  });
  return svg;
}

pForm.addEventListener("submit", async (e) => {
  e.preventDefault(); pError.textContent = "";
  const parts = pBuildings.value.split(/[,，、\s]+/).filter(Boolean);
  if (parts.some((b) => !/^\d{1,3}$/.test(b))) { pError.textContent = "楼栋只能填数字，例如 1,3"; return; }
  const body = { question: pQuestion.value, options: pOptions.value.split("\n").map((s) => s.trim()).filter(Boolean),
    community_id: pCommunity.value, buildings: parts.map(Number), opens_at: pOpens.value, closes_at: pCloses.value,
    per: pPer.value, show_results: pShow.checked };
  pSave.disabled = true;
  try {
    await api("/api/admin/polls", { method: "POST", body: JSON.stringify(body) });
    pQuestion.value = ""; pOptions.value = ""; pBuildings.value = "";
    await loadPolls();
  } catch (err) { pError.textContent = err.message; } finally { pSave.disabled = false; }
});
