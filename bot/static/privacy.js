// The 审计与隐私 tab of /admin: the audit log of staff reads of household data (GET /api/admin/audit, filtered, paged,
// and the same filters as CSV) and a resident's request for their data — export as JSON, or erase with the request's
// reference (GET /api/admin/residents/data, POST /api/admin/residents/erase; both recorded in the log). Its own
// module, like voice.js: the tab button and panel are added here, and a delegated click listener shows or hides it.
import { api } from "/static/api.js";
import { $, el, selectTab } from "/static/dom.js";

const tabs = document.querySelector(".tabs");
const view = $("app-view");
const button = el("button", "", "审计与隐私"); button.type = "button"; button.dataset.tab = "privacy"; tabs.appendChild(button);
const tab = el("div", "admin hidden"); tab.id = "tab-privacy"; tab.style.gridTemplateColumns = "1fr"; view.appendChild(tab);
tabs.addEventListener("click", (e) => {
  const b = e.target.closest("button"); if (!b) return;
  if (b === button) { selectTab(tabs, view, b); loadAudit(1); }
  tab.classList.toggle("hidden", b !== button);
});

function input(id, placeholder, width) {
  const i = el("input"); i.id = id; i.placeholder = placeholder; i.style.cssText = `padding:6px;width:${width}px;margin-right:6px`; return i;
}

// --- 审计日志 ----------------------------------------------------------------------------------------------------------
const audit = el("div", "panel"); tab.appendChild(audit);
audit.appendChild(el("h2", "", "审计日志"));
audit.appendChild(el("p", "status-line", "员工查看住户资料（会话资料卡：房号、电话、账单；工单详情：地址、联系电话）以及导出、删除住户数据，都记录在这里：谁、何时、看了哪一户的哪条记录、原因（所在会话）。"));
const filters = el("form"); filters.id = "au-filters"; audit.appendChild(filters);
const action = el("select"); action.id = "au-action"; action.style.marginRight = "6px";
[["", "全部操作"], ["conversation_card", "打开会话资料卡"], ["work_order", "打开工单"], ["data_export", "导出住户数据"],
  ["data_erase", "删除住户数据"]].forEach(([v, t]) => { const o = el("option", "", t); o.value = v; action.appendChild(o); });
const household = input("au-household", "住户编号", 100);
const start = input("au-start", "开始日期", 130); start.type = "date";
const end = input("au-end", "结束日期", 130); end.type = "date";
const search = el("button", "btn secondary", "查询"); search.type = "submit";
const csv = el("a", "", "导出 CSV"); csv.id = "au-csv"; csv.setAttribute("download", ""); csv.style.marginLeft = "10px";
filters.append(action, household, start, end, search, csv);
const auditError = el("div", "error"); auditError.id = "au-error"; audit.appendChild(auditError);
const table = el("table"); table.id = "au-table"; audit.appendChild(table);
const head = el("tr"); ["时间", "员工", "操作", "住户编号", "记录", "原因"].forEach((h) => head.appendChild(el("th", "", h)));
table.appendChild(el("thead")).appendChild(head);
const body = el("tbody"); table.appendChild(body);
const pager = el("div", "status-line"); pager.id = "au-pager"; audit.appendChild(pager);

function auditQuery() {
  const p = new URLSearchParams();
  if (action.value) p.set("action", action.value);
  if (household.value.trim()) p.set("household_id", household.value.trim());
  if (start.value) p.set("start", start.value);
  if (end.value) p.set("end", end.value);
  return p;
}

async function loadAudit(page) {
  const p = auditQuery();
  csv.href = "/api/admin/audit.csv?" + p.toString();  // the same filters, as a file
  p.set("page", String(page));
  let data;
  try { data = await api("/api/admin/audit?" + p.toString()); } catch (e) { auditError.textContent = "查询失败：" + e.message; return; }
  auditError.textContent = "";
  body.replaceChildren(...data.entries.map((r) => {
    const tr = el("tr", "au-row"); tr.dataset.id = String(r.id); tr.dataset.action = r.action;
    // r.at comes with the 小区's offset: its first 19 characters are the wall-clock time staff keep
    [r.at.slice(0, 19).replace("T", " "), r.staff, r.action_label, r.household_id == null ? "—" : String(r.household_id),
      r.record_label, r.reason].forEach((t) => tr.appendChild(el("td", "", t)));
    return tr;
  }));
  if (!data.entries.length) { const tr = el("tr"); const td = el("td", "", "没有符合条件的记录"); td.colSpan = 6; tr.appendChild(td); body.appendChild(tr); }
  const pages = Math.max(1, Math.ceil(data.total / data.per_page));
  pager.replaceChildren(el("span", "", `共 ${data.total} 条，第 ${page} / ${pages} 页 `));
  if (page > 1) { const b = el("button", "btn secondary", "上一页"); b.type = "button"; b.onclick = () => loadAudit(page - 1); pager.appendChild(b); }
  if (page < pages) { const b = el("button", "btn secondary", "下一页"); b.type = "button"; b.onclick = () => loadAudit(page + 1); pager.appendChild(b); }
}
filters.addEventListener("submit", (e) => { e.preventDefault(); loadAudit(1); });

// --- 住户数据请求 ------------------------------------------------------------------------------------------------------
const request = el("div", "panel"); tab.appendChild(request);
request.appendChild(el("h2", "", "住户申请导出或删除个人数据"));
request.appendChild(el("p", "status-line", "按住户编号（整户，含绑定该户的所有聊天身份）或聊天身份编号（一位住户）。导出为 JSON 文件；删除会清除聊天记录、电话、报修描述和照片、建议内容，并解除绑定，账单等物业台账保留。两者都记入审计日志。"));
const form = el("form"); form.id = "pv-form"; request.appendChild(form);
const targetKind = el("select"); targetKind.id = "pv-kind"; targetKind.style.marginRight = "6px";
[["household_id", "住户编号"], ["identity_id", "聊天身份编号"]].forEach(([v, t]) => { const o = el("option", "", t); o.value = v; targetKind.appendChild(o); });
const target = input("pv-id", "编号", 110);
const reason = input("pv-reason", "申请说明（删除时必填，如：住户书面申请 #7）", 320); reason.maxLength = 60;
const exportButton = el("button", "btn secondary", "导出数据"); exportButton.type = "button"; exportButton.id = "pv-export";
const eraseButton = el("button", "btn danger", "删除数据"); eraseButton.type = "button"; eraseButton.id = "pv-erase";
eraseButton.style.marginLeft = "6px";
form.append(targetKind, target, reason, exportButton, eraseButton);
const requestError = el("div", "error"); requestError.id = "pv-error"; request.appendChild(requestError);
const requestOk = el("div", "status-line"); requestOk.id = "pv-ok"; request.appendChild(requestOk);

function targetBody() {
  const id = Number(target.value.trim());
  if (!Number.isInteger(id) || id < 1) throw new Error("请填写编号（正整数）");
  return { [targetKind.value]: id };
}

exportButton.addEventListener("click", async () => {
  requestError.textContent = ""; requestOk.textContent = "";
  try {
    const t = targetBody();
    const data = await api("/api/admin/residents/data?" + new URLSearchParams(t).toString());
    const link = el("a"); link.download = `wuye-${targetKind.value === "household_id" ? "household" : "identity"}-${Object.values(t)[0]}.json`;
    link.href = URL.createObjectURL(new Blob([JSON.stringify(data, null, 2)], { type: "application/json" }));
    document.body.appendChild(link); link.click(); link.remove();
    requestOk.textContent = "已导出（已记入审计日志）";
    loadAudit(1);
  } catch (e) { requestError.textContent = "未导出：" + e.message; }
});

eraseButton.addEventListener("click", async () => {
  requestError.textContent = ""; requestOk.textContent = "";
  try {
    const t = targetBody();
    if (!reason.value.trim()) throw new Error("请填写申请说明");
    if (!confirm("确定删除这位住户的个人数据？删除后无法恢复。")) return;
    const r = await api("/api/admin/residents/erase", { method: "POST", body: JSON.stringify({ ...t, reason: reason.value.trim() }) });
    requestOk.textContent = `已删除：消息 ${r.erased.messages} 条，工单 ${r.erased.work_orders} 张，聊天身份 ${r.erased.identities} 个（已记入审计日志）`;
    loadAudit(1);
  } catch (e) { requestError.textContent = "未删除：" + e.message; }
});
