// The 团队 tab of /admin (bot/api/teams.py): teams (技能组) — name, the kinds of handoff each takes, 小区, members —
// and the supervisor's view of every agent's load. Its own module, like voice.js: it adds its tab button and panel,
// and a click on any tab shows ours or hides it (a delegated listener).
import { api } from "/static/api.js";
import { $, el, selectTab } from "/static/dom.js";

const tabs = document.querySelector(".tabs");
const view = $("app-view");
const button = el("button", "", "团队"); button.type = "button"; button.dataset.tab = "teams"; tabs.appendChild(button);
const panel = el("div", "admin hidden"); panel.id = "tab-teams"; panel.style.gridTemplateColumns = "1fr"; view.appendChild(panel);
let loadTimer = null;
tabs.addEventListener("click", (e) => {
  const b = e.target.closest("button"); if (!b) return;
  if (b === button) selectTab(tabs, view, b);
  panel.classList.toggle("hidden", b !== button);
  clearInterval(loadTimer); loadTimer = null;
  if (b === button) { loadTeams(); loadAgents(); loadFigures(); loadTimer = setInterval(loadAgents, 10000); }  // the load, kept current
});

// --- 客服负载 (the supervisor's view) ---
const load = el("div", "panel"); load.appendChild(el("h2", "", "客服负载"));
const loadTable = el("table"); loadTable.id = "agent-load";
const head = el("tr");
["客服", "状态", "进行中会话", "今日已处理", "今日平均处理时长", "情绪激动的会话", "团队"].forEach((t) => head.appendChild(el("th", "", t)));
loadTable.appendChild(el("thead")).appendChild(head); const loadBody = el("tbody"); loadTable.appendChild(loadBody);
load.appendChild(loadTable); panel.appendChild(load);
let agents = [];

function minutes(seconds) { return seconds == null ? "-" : (seconds < 60 ? seconds + " 秒" : Math.round(seconds / 60) + " 分钟"); }
async function loadAgents() {
  try { agents = (await api("/api/admin/agents")).agents; } catch (e) { return; }
  loadBody.replaceChildren();
  agents.forEach((a) => {
    const tr = el("tr"); tr.dataset.agent = a.id;
    [a.display_name, a.state_label, a.open_conversations + " / " + a.cap, String(a.handled_today), minutes(a.average_handling_seconds),
      String(a.angry_open), a.teams.join("、") || "-"].forEach((v) => tr.appendChild(el("td", "", v)));
    if (a.angry_open) tr.style.background = "#fff7e6";
    loadBody.appendChild(tr);
  });
  // the member choices follow the agents listed (kept as ticked: this runs every 10 seconds)
  drawMembers([...members.querySelectorAll("input:checked")].map((c) => Number(c.value)));
}

// --- 按团队 (the last 14 days' figures: /api/admin/figures teams) ---
const figs = el("div", "panel"); figs.appendChild(el("h2", "", "按团队（近 14 天转人工）"));
const figTable = el("table"); figTable.id = "team-figures"; figs.appendChild(figTable); panel.appendChild(figs);
async function loadFigures() {
  let data;
  try { data = await api("/api/admin/figures?days=14"); } catch (e) { return; }
  const h = el("tr"); ["团队", "转人工", "排队中", "已处理", "平均等待", "满意度"].forEach((x) => h.appendChild(el("th", "", x)));
  figTable.replaceChildren(h);
  (data.teams || []).forEach((t) => {
    const tr = el("tr");
    [t.team, String(t.handoffs), String(t.waiting), String(t.handled), minutes(t.average_wait_seconds),
      t.csat == null ? "-" : t.csat + " 分（" + t.ratings + " 条）"].forEach((v) => tr.appendChild(el("td", "", v)));
    figTable.appendChild(tr);
  });
}

// --- 团队 ---
const box = el("div", "panel"); box.appendChild(el("h2", "", "团队（技能组）"));
box.appendChild(el("p", "status-line", "转人工的原因决定团队：投诉、邻里纠纷、情绪激动 → 负责“投诉与纠纷”的团队；赔偿或收费争议 → “赔偿与收费争议”；" +
  "催工单、报故障 → “工单催办与维修”；紧急情况所有在线客服都能看到；其余进综合队列。团队没有人在线时转给其他客服，并如实告诉业主。"));
const list = el("div"); list.id = "team-list"; box.appendChild(list);
const form = el("form"); form.id = "team-form"; form.autocomplete = "off";
box.appendChild(el("h3", "", "新建或编辑团队")); box.appendChild(form); panel.appendChild(box);
const name = el("input"); name.id = "team-name"; name.maxLength = 32; name.placeholder = "名称，例如 投诉专员"; name.required = true;
const kinds = el("div"); kinds.id = "team-kinds";
const communities = el("input"); communities.id = "team-communities"; communities.placeholder = "小区 ID，逗号分隔（留空：全部小区）";
const members = el("div"); members.id = "team-members";
const error = el("div", "error"); const ok = el("div", "status-line");
const save = el("button", "btn", "保存团队"); save.type = "submit";
const reset = el("button", "btn secondary", "新建"); reset.type = "button";
[el("label", "", "名称"), name, el("label", "", "负责的转人工类型"), kinds, el("label", "", "小区"), communities,
  el("label", "", "成员"), members, error, ok, save, reset].forEach((n) => form.appendChild(n));
let editing = null, kindOptions = [];

function drawMembers(chosen) {
  members.replaceChildren();
  agents.forEach((a) => {
    const l = el("label", "", ""); const c = el("input"); c.type = "checkbox"; c.value = a.id; c.checked = chosen.includes(a.id);
    l.appendChild(c); l.appendChild(document.createTextNode(" " + a.display_name + "  ")); members.appendChild(l);
  });
}
function edit(team) {
  editing = team ? team.id : null; error.textContent = ""; ok.textContent = "";
  name.value = team ? team.name : ""; communities.value = team ? team.communities.join(",") : "";
  kinds.replaceChildren();
  kindOptions.forEach((k) => {
    const l = el("label"); const c = el("input"); c.type = "checkbox"; c.value = k.id; c.checked = !!team && team.kinds.includes(k.id);
    l.appendChild(c); l.appendChild(document.createTextNode(" " + k.label + "  ")); kinds.appendChild(l);
  });
  drawMembers(team ? team.members.map((m) => m.id) : []);
}
async function loadTeams() {
  let data;
  try { data = await api("/api/admin/teams"); } catch (e) { list.replaceChildren(el("div", "error", e.message)); return; }
  kindOptions = data.kinds;
  const t = el("table"); const h = el("tr");
  ["团队", "负责类型", "小区", "成员", ""].forEach((x) => h.appendChild(el("th", "", x))); t.appendChild(h);
  data.teams.forEach((team) => {
    const tr = el("tr"); tr.dataset.team = team.id;
    [team.name, team.kinds_labels.join("、") || "（仅成员分组）", team.communities.join("、") || "全部",
      team.members.map((m) => m.display_name).join("、") || "-"].forEach((v) => tr.appendChild(el("td", "", v)));
    const actions = el("td");
    const e1 = el("button", "btn secondary", "编辑"); e1.type = "button"; e1.addEventListener("click", () => edit(team));
    const d = el("button", "btn danger", "删除"); d.type = "button";
    d.addEventListener("click", async () => {
      if (!confirm("删除团队「" + team.name + "」？排队中的会话会转入综合队列。")) return;
      try { await api("/api/admin/teams/" + team.id, { method: "DELETE" }); loadTeams(); loadAgents(); } catch (err) { error.textContent = err.message; }
    });
    actions.appendChild(e1); actions.appendChild(d); tr.appendChild(actions); t.appendChild(tr);
  });
  list.replaceChildren(t);
  if (editing === null) edit(null);
}
reset.addEventListener("click", () => edit(null));
form.addEventListener("submit", async (e) => {
  e.preventDefault(); error.textContent = ""; ok.textContent = "";
  const body = { name: name.value.trim(), kinds: [...kinds.querySelectorAll("input:checked")].map((c) => c.value),
    communities: communities.value.split(/[,，\s]+/).filter(Boolean),
    member_ids: [...members.querySelectorAll("input:checked")].map((c) => Number(c.value)) };
  try {
    const r = await api(editing ? "/api/admin/teams/" + editing : "/api/admin/teams", { method: editing ? "PUT" : "POST", body: JSON.stringify(body) });
    editing = r.id; ok.textContent = "已保存"; loadTeams(); loadAgents();
  } catch (err) { error.textContent = err.message; }
});
