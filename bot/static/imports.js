// The 导入 tab of /admin (bot/api/imports.py): choose what to import, upload the ERP's file, read the dry run (counts
// and every problem by row and column), then confirm. Its own module, like voice.js, so admin.js stays as it is: the
// tab button and panel are added here, and a delegated click listener shows ours or hides it.
import { api } from "/static/api.js";
import { $, el, selectTab } from "/static/dom.js";

const KINDS = {
  households: ["住户", "小区、楼栋、单元、房号、业主姓名、手机号（可选：建筑面积）"],
  bills: ["账单", "小区、楼栋、单元、房号、账期、应收、实收（或 已缴：是/否；可选：收费项目、缴费日期）"],
  parking: ["车位月卡", "小区、楼栋、单元、房号、车牌、月卡到期（可选：车位号、卡类型）"],
  staff: ["员工账号", "用户名、姓名、角色（客服/管理员/维修师傅）（可选：小区，留空为全部；技能组，用、分隔；状态：在职/离职）"],
};
const tabs = document.querySelector(".tabs");
const view = $("app-view");
const button = el("button", "", "导入"); button.type = "button"; button.dataset.tab = "import"; tabs.appendChild(button);
const tab = el("div", "admin hidden"); tab.id = "tab-import"; tab.style.gridTemplateColumns = "1fr"; view.appendChild(tab);
async function loadCommunities() {  // the 小区 list the notices tab uses (GET /api/admin/notices), read at each opening
  try {
    const meta = await api("/api/admin/notices");
    const chosen = community.value;
    community.replaceChildren(anyCommunity);
    // a retired 小区 takes no import (the server refuses it): only those in service are offered
    for (const c of (meta.communities || []).filter((x) => !x.retired)) { const o = el("option", "", c.name); o.value = c.id; community.appendChild(o); }
    community.value = [...community.options].some((o) => o.value === chosen) ? chosen : "";
  } catch (e) { /* the select keeps "by the file's column"; the import itself reports a missing 小区 */ }
}
tabs.addEventListener("click", (e) => {
  const b = e.target.closest("button"); if (!b) return;
  if (b === button) loadCommunities();
  if (b === button) selectTab(tabs, view, b);
  tab.classList.toggle("hidden", b !== button);
});

const panel = el("div", "panel"); tab.appendChild(panel);
panel.appendChild(el("h2", "", "导入数据（住户、账单、车位月卡、员工账号）"));
panel.appendChild(el("p", "status-line", "上传物业系统导出的 CSV（UTF-8 或 GBK）或 Excel .xlsx，第 1 行为表头。先检查：有任何一行有问题就什么都不导入，并列出每一处问题；没有问题再确认导入。同一文件导入两次不会重复；下个月的文件会更新已有记录。住户手机号变更后，原来绑定该户的住户需要重新绑定。"));
const kind = el("select"); kind.id = "im-kind";
for (const [key, [title]] of Object.entries(KINDS)) { const o = el("option", "", title); o.value = key; kind.appendChild(o); }
// for a file without a 小区 column (one 小区's export): the 小区 of every row
const community = el("select"); community.id = "im-community";
const anyCommunity = el("option", "", "小区：按文件的“小区”列"); anyCommunity.value = ""; community.appendChild(anyCommunity);
const file = el("input"); file.type = "file"; file.id = "im-file"; file.accept = ".csv,.xlsx,text/csv";
const check = el("button", "btn", "检查文件"); check.type = "button"; check.id = "im-check";
const confirm = el("button", "btn hidden", "确认导入"); confirm.type = "button"; confirm.id = "im-confirm";
const row = el("div", "field"); [kind, community, file, check, confirm].forEach((x) => { row.appendChild(x); row.appendChild(document.createTextNode(" ")); });
panel.appendChild(row);
const columns = el("p", "status-line"); columns.id = "im-columns"; panel.appendChild(columns);
const error = el("div", "error"); error.id = "im-error"; panel.appendChild(error);
const summary = el("div", "status-line"); summary.id = "im-summary"; panel.appendChild(summary);
const problems = el("table", "hidden"); problems.id = "im-problems"; panel.appendChild(problems);
// new staff accounts' temporary passwords: the server shows them once (it keeps only their hashes)
const accounts = el("div", "hidden"); accounts.id = "im-accounts"; panel.appendChild(accounts);
const showColumns = () => {
  const staff = kind.value === "staff";
  columns.textContent = "表头：" + KINDS[kind.value][1] + (staff ? "（也可用英文：username, name, role, community, teams, status）" : "（也可用英文：community, building, unit, room …）");
  community.classList.toggle("hidden", staff);  // a staff file names each member's 小区 itself (empty: every 小区)
};
showColumns();
kind.addEventListener("change", () => { showColumns(); reset(); });
file.addEventListener("change", reset);
community.addEventListener("change", reset);

function reset() {
  confirm.classList.add("hidden"); error.textContent = ""; summary.textContent = ""; problems.classList.add("hidden");
}

function showPasswords(list) {
  accounts.replaceChildren();
  accounts.classList.toggle("hidden", !list.length);
  if (!list.length) return;
  accounts.appendChild(el("p", "error", "新账号的初始密码只显示这一次：请下载或抄下后交给本人，首次登录须修改。"));
  const table = el("table"); table.id = "im-passwords";
  const head = el("tr"); ["用户名", "姓名", "初始密码"].forEach((t) => head.appendChild(el("th", "", t)));
  const thead = el("thead"); thead.appendChild(head); table.appendChild(thead);
  const body = el("tbody");
  for (const a of list) { const tr = el("tr"); [a.username, a.display_name, a.password].forEach((t) => tr.appendChild(el("td", "", t))); body.appendChild(tr); }
  table.appendChild(body); accounts.appendChild(table);
  const download = el("button", "btn", "下载初始密码（CSV）"); download.type = "button"; download.id = "im-passwords-csv";
  download.addEventListener("click", () => {
    // a cell Excel would read as a formula (=, +, -, @) gets a quote first, as the server's CSV exports do
    const cell = (v) => { const t = String(v); return '"' + (/^[=+\-@]/.test(t) ? "'" + t : t).replace(/"/g, '""') + '"'; };
    const lines = ["用户名,姓名,初始密码", ...list.map((a) => [a.username, a.display_name, a.password].map(cell).join(","))];
    // with a BOM: Excel on Chinese Windows opens UTF-8 as GBK otherwise
    const url = URL.createObjectURL(new Blob(["\ufeff" + lines.join("\r\n")], { type: "text/csv" }));
    const link = el("a"); link.href = url; link.download = "员工初始密码.csv"; link.click();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  });
  accounts.appendChild(download);
}

async function send(dryRun) {
  const form = new FormData();
  form.append("file", file.files[0]);
  form.append("dry_run", dryRun ? "true" : "false");
  if (community.value && kind.value !== "staff") form.append("community", community.value);
  const r = await fetch("/api/admin/import/" + kind.value, { method: "POST", body: form, credentials: "same-origin" });
  const data = await r.json().catch(() => ({}));
  return { ok: r.ok, data };
}

function show(data) {
  summary.textContent = data.detail || "";
  problems.replaceChildren();
  const errors = data.errors || [];
  problems.classList.toggle("hidden", !errors.length);
  if (!errors.length) return;
  const head = el("tr"); ["行", "列", "问题"].forEach((t) => head.appendChild(el("th", "", t)));
  const thead = el("thead"); thead.appendChild(head); problems.appendChild(thead);
  const body = el("tbody");
  for (const e of errors) {
    const tr = el("tr"); [String(e.row), e.column, e.message].forEach((t) => tr.appendChild(el("td", "", t))); body.appendChild(tr);
  }
  problems.appendChild(body);
  if ((data.errors_total || 0) > errors.length) summary.textContent += `（只列出前 ${errors.length} 处）`;
}

check.addEventListener("click", async () => {
  reset();
  if (!file.files.length) { error.textContent = "请先选择文件"; return; }
  check.disabled = true;
  try {
    const { ok, data } = await send(true);
    show(data);
    if (ok) { summary.textContent = data.detail + "。确认无误后点“确认导入”。"; confirm.classList.remove("hidden"); }
  } catch (e) { error.textContent = "上传失败：" + e.message; } finally { check.disabled = false; }
});

confirm.addEventListener("click", async () => {
  confirm.disabled = true;
  try {
    const { data } = await send(false);
    show(data);
    showPasswords(data.passwords || []);
    confirm.classList.add("hidden");
  } catch (e) { error.textContent = "上传失败：" + e.message; } finally { confirm.disabled = false; }
});

// an ERP's key: the API 密钥 tab makes chat keys; this one may only import (POST /api/import/{kind})
const erp = el("div", "panel"); tab.appendChild(erp);
erp.appendChild(el("h2", "", "ERP 导入密钥"));
erp.appendChild(el("p", "status-line", "物业 ERP 可以定时调用 POST /api/import/households|bills|parking（上传同样的文件，或发送 JSON rows），请求头 Authorization: Bearer <密钥>。这个密钥只能导入，不能对话；在“API 密钥”里可以吊销。"));
const keyName = el("input"); keyName.id = "im-key-name"; keyName.maxLength = 64; keyName.placeholder = "名称，例如 收费系统";
const keyMake = el("button", "btn", "创建导入密钥"); keyMake.type = "button";
const keyOut = el("code"); keyOut.id = "im-key"; keyOut.style.wordBreak = "break-all"; keyOut.style.userSelect = "all";
const keyError = el("div", "error");
[keyName, keyMake].forEach((x) => { erp.appendChild(x); erp.appendChild(document.createTextNode(" ")); });
erp.appendChild(keyError); erp.appendChild(keyOut);
keyMake.addEventListener("click", async () => {
  keyError.textContent = ""; keyOut.textContent = "";
  try {
    const k = await api("/api/admin/api-keys", { method: "POST", body: JSON.stringify({ name: keyName.value.trim(), scopes: ["import"] }) });
    keyOut.textContent = k.key;
    keyError.textContent = "密钥只显示这一次，请立即复制保存。";
  } catch (e) { keyError.textContent = e.message; }
});
