// Sign-in and sign-out, shared by the staff pages (/agent, /admin, /desk).
import { $, el } from "/static/dom.js";
import { api } from "/static/api.js";

export function show(view) { $("login-view").classList.toggle("hidden", view !== "login"); $("app-view").classList.toggle("hidden", view !== "app"); }
// The login form until someone signs in, then the page. page.refuse(me): a reason this account cannot use the page;
// page.signedIn(me): called once the page is shown; page.firstRun: on a deployment with no staff yet, the first
// admin's form (with the setup token the server printed) instead of the login form.
export function start(page) {
  loginForm();
  async function boot() {
    let me;
    try { me = await api("/api/auth/me"); } catch (e) { show("login"); if (page.firstRun) offerFirstRun(boot); return; }
    // a password an admin set (new account, reset) opens nothing until changed: every other API answers 403
    if (me.must_change_password) { show("login"); changePasswordForm(boot); return; }
    const refusal = page.refuse && page.refuse(me);
    if (refusal) { show("login"); $("login-error").textContent = refusal; return; }
    show("app"); mySessionsButton(); page.signedIn(me);
  }
  $("login-view").addEventListener("submit", async (e) => {
    if (e.target.id !== "login-form") return;  // the change-password form handles its own
    e.preventDefault();
    try { await api("/api/auth/login", { method: "POST", body: JSON.stringify({ username: $("username").value, password: $("password").value }) }); boot(); }
    catch (err) { $("login-error").textContent = err.status === 401 ? "登录失败：用户名或密码错误" : err.message; }  // locked, disabled: the server's words
  });
  $("logout").addEventListener("click", async () => { await api("/api/auth/logout", { method: "POST" }); location.reload(); });
  boot();
}

// The same sign-in form on every staff page, under the page's own title (data-title of #login-view).
function loginForm() {
  const view = $("login-view");
  const form = el("form"); form.id = "login-form";
  const user = el("input"); user.id = "username"; user.placeholder = "用户名"; user.autocomplete = "username"; user.required = true;
  const password = el("input"); password.id = "password"; password.type = "password"; password.placeholder = "密码";
  password.autocomplete = "current-password"; password.required = true;
  const error = el("div", "error"); error.id = "login-error";
  const button = el("button", "", "登录"); button.type = "submit";
  form.append(user, password, error, button);
  view.replaceChildren(el("h1", "", view.dataset.title || "登录"), form);
}

// A fresh deployment (no staff account yet, bot/access/first_run.py): the first admin, created with the one-time
// setup token from the server's log or `wuye init --web`, then signed in.
async function offerFirstRun(done) {
  let setup;
  try { setup = await api("/api/auth/setup"); } catch (e) { return; }
  if (!setup.needed) return;
  const view = $("login-view");
  const form = el("form"); form.id = "setup-form";
  const input = (id, placeholder, type, autocomplete) => {
    const x = el("input"); x.id = id; x.placeholder = placeholder; x.type = type; x.autocomplete = autocomplete;
    x.required = true; return x;
  };
  const token = input("setup-token", "首次设置令牌（见服务器日志）", "text", "off");
  const user = input("setup-username", "管理员用户名（字母、数字）", "text", "username");
  const name = input("setup-display-name", "姓名", "text", "name");
  const password = input("setup-password", "密码（至少 10 个字符，不能全是数字）", "password", "new-password");
  const again = input("setup-password-again", "再输入一次密码", "password", "new-password");
  const error = el("div", "error"); error.id = "setup-error";
  const button = el("button", "", "创建管理员"); button.type = "submit";
  form.append(el("p", "", "这是一个新系统，还没有任何员工账号。请用服务器启动时打印在日志里的“首次设置令牌”（或在服务器上运行 wuye init --web 取得）创建第一个管理员。"),
    token, user, name, password, again, error, button);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (password.value !== again.value) { error.textContent = "两次输入的密码不一致"; return; }
    try {
      await api("/api/auth/setup", { method: "POST", body: JSON.stringify({ token: token.value.trim(), username: user.value.trim(), display_name: name.value.trim(), password: password.value }) });
    } catch (err) { error.textContent = err.message; return; }
    loginForm(); done();
  });
  view.replaceChildren(el("h1", "", "首次设置：创建管理员"), form);
}

// The first sign-in after an admin created the account or reset its password: choose one's own (bot/access/accounts.py
// checks it: at least 10 characters, not all digits, not the username), then the page opens.
function changePasswordForm(done) {
  const view = $("login-view");
  const form = el("form"); form.id = "password-form";
  const field = (id, placeholder, autocomplete) => {
    const input = el("input"); input.id = id; input.type = "password"; input.placeholder = placeholder;
    input.autocomplete = autocomplete; input.required = true; return input;
  };
  const old = field("old-password", "当前（初始）密码", "current-password");
  const fresh = field("new-password", "新密码（至少 10 个字符，不能全是数字）", "new-password");
  const again = field("new-password-again", "再输入一次新密码", "new-password");
  const error = el("div", "error"); error.id = "password-error";
  const button = el("button", "", "修改密码"); button.type = "submit";
  form.append(el("p", "", "为了账号安全，首次登录请先修改管理员设置的初始密码。"), old, fresh, again, error, button);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (fresh.value !== again.value) { error.textContent = "两次输入的新密码不一致"; return; }
    try {
      await api("/api/auth/password", { method: "POST", body: JSON.stringify({ old_password: old.value, new_password: fresh.value }) });
    } catch (err) { error.textContent = err.message; return; }
    loginForm(); done();
  });
  view.replaceChildren(el("h1", "", "请修改初始密码"), form);
}

// 我的会话: the member's own signed-in sessions (this browser marked), each but this one can be signed out from here.
function mySessionsButton() {
  if ($("my-sessions")) return;
  const button = el("button", "", "我的会话"); button.id = "my-sessions"; button.type = "button";
  $("logout").before(button);
  const box = el("div", "panel hidden"); box.id = "my-sessions-panel";
  box.style.cssText = "position:fixed;top:48px;right:16px;z-index:50;background:#fff;max-width:560px;box-shadow:0 4px 16px rgba(0,0,0,.15)";
  document.body.appendChild(box);
  async function render() {
    let data;
    try { data = await api("/api/auth/sessions"); } catch (err) { box.replaceChildren(el("div", "error", err.message)); return; }
    const list = el("ul");
    data.sessions.forEach((x) => {
      const li = el("li", "", `${x.created_at.replace("T", " ")} 登录 · ${x.ip || "未知地址"} · ${(x.user_agent || "").slice(0, 40)}`);
      if (x.current) li.appendChild(el("strong", "", "（当前）"));
      else {
        const out = el("button", "", "退出"); out.type = "button";
        out.addEventListener("click", async () => { await api("/api/auth/sessions/" + x.id, { method: "DELETE" }).catch(() => {}); render(); });
        li.appendChild(out);
      }
      list.appendChild(li);
    });
    box.replaceChildren(el("h3", "", "我的登录会话"), list);
  }
  button.addEventListener("click", () => { box.classList.toggle("hidden"); if (!box.classList.contains("hidden")) render(); });
}
