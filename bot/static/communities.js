// The 小区 tab of /admin (bot/api/communities.py): the 小区 list, and a form to add one or edit its values (office
// phone, address, agent hours, emergency and on-duty phones, buildings …). The server validates with the whole
// knowledge base and names the value at fault; the form shows that message as it is. Its own module, like
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
form.append(idField, fields, extraKey, extraButton, error, ok, save);
formPanel.append(title, form);

let state = { communities: [], version: null, required: [], labels: {} }, editing = null;

function addField(key, value) {
  const d = el("div", "field"); const label = el("label", "", (state.labels[key] ? state.labels[key] + " " : "") + key
    + (state.required.includes(key) ? "（必填）" : ""));
  const input = el("input"); input.dataset.key = key; input.value = value || ""; input.maxLength = 500; input.style.width = "100%";
  label.htmlFor = input.id = "cm-v-" + key; d.append(label, input); fields.appendChild(d);
}
function showForm(community) {
  editing = community ? community.id : null; error.textContent = ""; ok.textContent = "";
  title.textContent = community ? "编辑小区：" + community.name : "新建小区";
  idInput.value = community ? community.id : ""; idInput.disabled = !!community;
  fields.replaceChildren();
  // a new 小区 gets the first one's value names, empty: every value the answers need, and the optional ones to fill
  const template = community ? community.values : Object.fromEntries(Object.keys((state.communities[0] || {}).values || {}).map((k) => [k, ""]));
  for (const key of new Set([...state.required, ...Object.keys(template)])) addField(key, template[key]);
}
async function load(selectId) {
  state = await api("/api/admin/communities");
  list.replaceChildren();
  state.communities.forEach((c) => { const d = el("div", "faqitem"); d.dataset.id = c.id;
    d.appendChild(el("div", "", c.name)); d.appendChild(el("small", "", c.id + " · " + (c.values.office_phone || "")));
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
addButton.addEventListener("click", () => showForm(null));
tabs.addEventListener("click", (e) => {
  const b = e.target.closest("button"); if (!b) return;
  if (b === button) {
    selectTab(tabs, view, b);
    load(editing).catch((err) => { error.textContent = err.message; });
  }
  tab.classList.toggle("hidden", b !== button);
});
