// The 小区 tab of /admin (bot/api/communities.py): the 小区 list, and a form to add one or edit its values (office
// phone, address, agent hours, emergency and on-duty phones, buildings …; its name too), retire it or bring it back,
// and its work-order time limits (SLA). The server validates with the whole knowledge base (the SLA file for the
// limits) and names the value at fault; the form shows that message as it is. Its own module, like
// imports.js, so admin.js stays as it is: the tab button and panel are added here.
import { api } from "/static/api.js";
import { $, el, selectTab } from "/static/dom.js";

const tabs = document.querySelector(".tabs");
const view = $("app-view");
const button = el("button", "", "小区"); button.type = "button"; button.dataset.tab = "communities"; tabs.appendChild(button);
const tab = el("div", "admin hidden"); tab.id = "tab-communities"; view.appendChild(tab);
const listPanel = el("div", "panel"); const formPanel = el("div", "panel"); tab.append(listPanel, formPanel);
const addButton = el("button", "btn secondary", "新建小区"); addButton.type = "button"; addButton.id = "cm-new";
const heading = el("h2", "", "小区 "); heading.appendChild(addButton); listPanel.appendChild(heading);
listPanel.appendChild(el("p", "status-line", "每个小区的电话、地址、人工客服时间等会填进知识库的答案；保存前按整个知识库检查，保存后立即生效。"));
const list = el("div"); list.id = "cm-list"; listPanel.appendChild(list);

const title = el("h2", "", "新建小区"); title.id = "cm-edit-title";
const form = el("form"); form.id = "cm-form";
const idField = el("div", "field"); const idLabel = el("label", "", "小区 ID（小写字母开头，小写字母和数字，保存后不能改）");
const idInput = el("input"); idInput.id = "cm-id"; idInput.maxLength = 32; idField.append(idLabel, idInput);
const fields = el("div"); fields.id = "cm-fields";
const extraKey = el("input"); extraKey.id = "cm-extra-key"; extraKey.placeholder = "新增资料名，如 on_duty_phone";
const extraButton = el("button", "btn secondary", "添加资料"); extraButton.type = "button";
const error = el("div", "error"); error.id = "cm-error"; const ok = el("div", "status-line"); ok.id = "cm-ok";
const save = el("button", "btn", "保存"); save.type = "submit"; save.id = "cm-save";
const retire = el("button", "btn secondary", "停用小区"); retire.type = "button"; retire.id = "cm-retire";
const restore = el("button", "btn secondary", "恢复服务"); restore.type = "button"; restore.id = "cm-restore";
form.append(idField, fields, extraKey, extraButton, error, ok, save, retire, restore);
// 工单时限: one row per category × urgency, the 小区's own limits or the default's (a value equal to the default
// follows the default)
const slaBox = el("div"); slaBox.id = "cm-sla";
const slaTable = el("table", "table"); slaTable.id = "cm-sla-table";
const slaError = el("div", "error"); slaError.id = "cm-sla-error"; const slaOk = el("div", "status-line"); slaOk.id = "cm-sla-ok";
const slaSave = el("button", "btn", "保存工单时限"); slaSave.type = "button"; slaSave.id = "cm-sla-save";
slaBox.append(el("h3", "", "工单时限（SLA）"),
  el("p", "status-line", "响应：派单的最晚时间；完成：修好的最晚时间。写作 30m、2h、1d 或 1h30m；与默认值相同的沿用默认。"),
  slaTable, slaError, slaOk, slaSave);
formPanel.append(title, form, slaBox);
let sla = null;

let state = { communities: [], version: null, required: [], labels: {} }, editing = null;

function addField(key, value) {
  const d = el("div", "field"); const label = el("label", "", (state.labels[key] ? state.labels[key] + " " : "") + key
    + (state.required.includes(key) ? "（必填）" : ""));
  const input = el("input"); input.dataset.key = key; input.value = value || ""; input.maxLength = 500; input.style.width = "100%";
  label.htmlFor = input.id = "cm-v-" + key; d.append(label, input); fields.appendChild(d);
}
function showForm(community) {
  editing = community ? community.id : null; error.textContent = ""; ok.textContent = "";
  title.textContent = community ? "编辑小区：" + community.name + (community.retired ? "（已停用）" : "") : "新建小区";
  retire.classList.toggle("hidden", !community || community.retired); restore.classList.toggle("hidden", !community || !community.retired);
  slaBox.classList.toggle("hidden", !community); slaError.textContent = ""; slaOk.textContent = "";
  if (community) loadSla(community.id).catch((err) => { slaError.textContent = err.message; });
  idInput.value = community ? community.id : ""; idInput.disabled = !!community;
  fields.replaceChildren();
  // a new 小区 gets the first one's value names, empty: every value the answers need, and the optional ones to fill
  const template = community ? community.values : Object.fromEntries(Object.keys((state.communities[0] || {}).values || {}).map((k) => [k, ""]));
  for (const key of new Set([...state.required, ...Object.keys(template)])) addField(key, template[key]);
}
async function load(selectId) {
  state = await api("/api/admin/communities");
  list.replaceChildren();
  state.communities.forEach((c) => { const d = el("div", "faqitem" + (c.retired ? " retired" : "")); d.dataset.id = c.id;
    d.appendChild(el("div", "", (c.retired ? "【已停用】" : "") + c.name)); d.appendChild(el("small", "", c.id + " · " + (c.values.office_phone || "")));
    d.addEventListener("click", () => showForm(c)); list.appendChild(d); });
  const selected = state.communities.find((c) => c.id === selectId);
  if (selected) showForm(selected); else if (!editing) showForm(null);
}
extraButton.addEventListener("click", () => {
  const key = extraKey.value.trim(); if (!key || fields.querySelector(`[data-key="${CSS.escape(key)}"]`)) return;
  addField(key, ""); extraKey.value = "";
});
form.addEventListener("submit", async (e) => {
  e.preventDefault(); error.textContent = ""; ok.textContent = "";
  const values = {};
  // an empty optional value is left out (removed); an empty required one is sent, so the server names it
  fields.querySelectorAll("input[data-key]").forEach((i) => { if (i.value.trim() || state.required.includes(i.dataset.key)) values[i.dataset.key] = i.value; });
  try {
    const id = editing || idInput.value.trim();
    if (editing) await api("/api/admin/communities/" + encodeURIComponent(editing), { method: "PUT", body: JSON.stringify({ values, version: state.version }) });
    else await api("/api/admin/communities", { method: "POST", body: JSON.stringify({ id, values, version: state.version }) });
    editing = id; await load(id); ok.textContent = "已保存，立即生效";
  } catch (err) { error.textContent = err.message; }
});
async function setRetired(retired) {
  error.textContent = ""; ok.textContent = "";
  if (retired && !confirm("停用后，这个小区的链接不再接待新住户，也不能再给它添加员工；已有的住户、工单和记录全部保留。确定停用？")) return;
  try {
    await api("/api/admin/communities/" + encodeURIComponent(editing) + (retired ? "/retire" : "/restore"), { method: "POST", body: JSON.stringify({ version: state.version }) });
    await load(editing); ok.textContent = retired ? "已停用（记录全部保留）" : "已恢复服务";
  } catch (err) { error.textContent = err.message; }
}
retire.addEventListener("click", () => setRetired(true));
restore.addEventListener("click", () => setRetired(false));

async function loadSla(id) {
  sla = await api("/api/admin/communities/" + encodeURIComponent(id) + "/sla");
  slaTable.replaceChildren();
  const head = el("tr"); ["类别", "紧急程度", "响应", "完成", "默认"].forEach((t) => head.appendChild(el("th", "", t))); slaTable.appendChild(head);
  sla.rows.forEach((r) => {
    const tr = el("tr"); tr.dataset.category = r.category; tr.dataset.urgency = r.urgency;
    tr.append(el("td", "", r.category), el("td", "", r.urgency_label));
    for (const field of ["response", "completion"]) {
      const input = el("input"); input.value = r[field]; input.size = 6; input.maxLength = 16; input.dataset.field = field;
      input.id = `cm-sla-${r.category}-${r.urgency}-${field}`;
      const td = el("td"); td.appendChild(input); tr.appendChild(td);
    }
    tr.appendChild(el("td", "", r.default_response + " / " + r.default_completion + (r.own ? "" : "（沿用）")));
    slaTable.appendChild(tr);
  });
}
slaSave.addEventListener("click", async () => {
  slaError.textContent = ""; slaOk.textContent = "";
  const rows = [...slaTable.querySelectorAll("tr[data-category]")].map((tr) => ({ category: tr.dataset.category, urgency: tr.dataset.urgency,
    response: tr.querySelector("[data-field=response]").value, completion: tr.querySelector("[data-field=completion]").value }));
  try {
    await api("/api/admin/communities/" + encodeURIComponent(editing) + "/sla", { method: "PUT", body: JSON.stringify({ rows, version: sla.version }) });
    await loadSla(editing); slaOk.textContent = "工单时限已保存，新工单立即使用";
  } catch (err) { slaError.textContent = err.message; }
});
addButton.addEventListener("click", () => showForm(null));
tabs.addEventListener("click", (e) => {
  const b = e.target.closest("button"); if (!b) return;
  if (b === button) {
    selectTab(tabs, view, b);
    load(editing).catch((err) => { error.textContent = err.message; });
  }
  tab.classList.toggle("hidden", b !== button);
});
