// The 员工 tab of /admin (bot/api/staff_admin.py): staff accounts — add (with a temporary password the member changes
// at first sign-in), role, the 小区 served, disable/enable, reset password — and each member's signed-in sessions.
// Its own module, like teams.js: it adds its tab button and panel, and a click on any tab shows ours or hides it.
import { api } from "/static/api.js";
import { $, el, selectTab } from "/static/dom.js";

const tabs = document.querySelector(".tabs");
const view = $("app-view");
const button = el("button", "", "员工"); button.type = "button"; button.dataset.tab = "staff"; tabs.appendChild(button);
const panel = el("div", "admin hidden"); panel.id = "tab-staff"; panel.style.gridTemplateColumns = "1fr"; view.appendChild(panel);
tabs.addEventListener("click", (e) => {
  const b = e.target.closest("button"); if (!b) return;
  if (b === button) selectTab(tabs, view, b);
  panel.classList.toggle("hidden", b !== button);
  if (b === button) load();
});

let communities = [], roles = [];
const options = (select, items, current) => {
  select.replaceChildren(...items.map((i) => { const o = el("option", "", i.name); o.value = i.id; return o; }));
  select.value = current == null ? "" : current;
};

// --- 添加员工 ---
const add = el("form", "panel"); add.id = "staff-add";
add.appendChild(el("h2", "", "添加员工"));
const input = (id, placeholder, type) => { const i = el("input"); i.id = id; i.placeholder = placeholder; i.type = type || "text"; i.required = true; return i; };
const username = input("staff-username", "用户名（字母、数字）"), displayName = input("staff-display-name", "姓名");
const password = input("staff-password", "初始密码（至少 10 个字符）", "password"); password.autocomplete = "new-password";
const role = el("select"); role.id = "staff-role";
const community = el("select"); community.id = "staff-community";
const addError = el("div", "error"); addError.id = "staff-add-error";
const addButton = el("button", "", "添加"); addButton.type = "submit";
add.append(username, displayName, password, role, community, addButton, addError,
  el("p", "hint", "新员工首次登录时必须修改初始密码。"));
panel.appendChild(add);
add.addEventListener("submit", async (e) => {
  e.preventDefault(); addError.textContent = "";
  try {
    await api("/api/admin/staff", { method: "POST", body: JSON.stringify({ username: username.value.trim(),
      display_name: displayName.value.trim(), password: password.value, role: role.value, community_id: community.value || null }) });
  } catch (err) { addError.textContent = err.message; return; }
  add.reset(); load();
});

// --- 员工列表 ---
const list = el("div", "panel"); list.appendChild(el("h2", "", "员工列表"));
const listError = el("div", "error"); listError.id = "staff-error"; list.appendChild(listError);
const table = el("table"); table.id = "staff-table";
const head = el("tr");
["用户名", "姓名", "角色", "服务小区", "状态", "在线会话", ""].forEach((t) => head.appendChild(el("th", "", t)));
table.appendChild(el("thead")).appendChild(head); const body = el("tbody"); table.appendChild(body);
list.appendChild(table);
const sessions = el("div", "panel hidden"); sessions.id = "staff-sessions";
panel.append(list, sessions);

async function change(id, what) {
  listError.textContent = "";
  try { await api("/api/admin/staff/" + id, { method: "PATCH", body: JSON.stringify(what) }); } catch (err) { listError.textContent = err.message; }
  load();
}

async function load() {
  let data;
  try { data = await api("/api/admin/staff"); } catch (err) { listError.textContent = err.message; return; }
  communities = [{ id: "", name: "全部小区" }, ...data.communities]; roles = data.roles;
  if (!role.options.length) { options(role, roles, "agent"); options(community, communities, ""); }
  body.replaceChildren();
  data.staff.forEach((s) => {
    const tr = el("tr"); tr.dataset.username = s.username;
    const own = s.id === data.you;  // the server refuses it too (own_account): another admin does it
    const roleSelect = el("select"); options(roleSelect, roles, s.role); roleSelect.disabled = own;
    if (own) roleSelect.title = "不能修改自己的角色";
    roleSelect.addEventListener("change", () => change(s.id, { role: roleSelect.value }));
    const communitySelect = el("select"); options(communitySelect, communities, s.community_id || "");
    communitySelect.addEventListener("change", () => change(s.id, { community_id: communitySelect.value }));
    const state = s.disabled ? "已停用" : (s.must_change_password ? "待修改初始密码" : "正常");
    const cells = [el("td", "", s.username), el("td", "", s.display_name), el("td"), el("td"), el("td", "", state),
      el("td", "", String(s.sessions)), el("td")];
    cells[2].appendChild(roleSelect); cells[3].appendChild(communitySelect);
    const toggle = el("button", "", s.disabled ? "启用" : "停用"); toggle.type = "button"; toggle.className = "toggle";
    toggle.addEventListener("click", () => change(s.id, { disabled: !s.disabled }));
    if (own) { toggle.disabled = true; toggle.title = "不能停用自己的账号"; }
    const reset = el("button", "", "重置密码"); reset.type = "button"; reset.className = "reset";
    reset.addEventListener("click", async () => {
      const value = prompt(`为 ${s.display_name} 设置新的初始密码（至少 10 个字符；对方下次登录时须修改）：`);
      if (!value) return;
      listError.textContent = "";
      try { await api(`/api/admin/staff/${s.id}/password`, { method: "POST", body: JSON.stringify({ password: value }) }); }
      catch (err) { listError.textContent = err.message; }
      load();
    });
    const show = el("button", "", "会话"); show.type = "button"; show.className = "sessions";
    show.addEventListener("click", () => showSessions(s));
    cells[6].append(toggle, reset, show);
    tr.append(...cells); body.appendChild(tr);
  });
}

async function showSessions(s) {
  sessions.classList.remove("hidden");
  let data;
  try { data = await api(`/api/admin/staff/${s.id}/sessions`); } catch (err) { listError.textContent = err.message; return; }
  const rows = data.sessions.map((x) => {
    const tr = el("tr");
    [x.created_at.replace("T", " "), x.expires_at.replace("T", " "), x.ip || "-", x.user_agent || "-"].forEach((v) => tr.appendChild(el("td", "", v)));
    const out = el("button", "", "退出登录"); out.type = "button";
    out.addEventListener("click", async () => {
      try { await api(`/api/admin/staff/${s.id}/sessions/${x.id}`, { method: "DELETE" }); } catch (err) { listError.textContent = err.message; }
      showSessions(s); load();
    });
    tr.appendChild(el("td")).appendChild(out);
    return tr;
  });
  const t = el("table"); const h = el("tr");
  ["登录时间（UTC）", "到期（UTC）", "IP", "浏览器", ""].forEach((x) => h.appendChild(el("th", "", x)));
  t.appendChild(el("thead")).appendChild(h); t.appendChild(el("tbody")).append(...rows);
  sessions.replaceChildren(el("h2", "", `${s.display_name} 的登录会话`), rows.length ? t : el("p", "", "没有在线的会话"));
}
