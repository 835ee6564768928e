// Sign-in and sign-out, shared by the staff pages (/agent, /admin, /desk).
import { $, el } from "/static/dom.js";
import { api } from "/static/api.js";

export function show(view) { $("login-view").classList.toggle("hidden", view !== "login"); $("app-view").classList.toggle("hidden", view !== "app"); }
// The login form until someone signs in, then the page. page.refuse(me): a reason this account cannot use the page;
// page.signedIn(me): called once the page is shown.
export function start(page) {
  loginForm();
  async function boot() {
    let me;
    try { me = await api("/api/auth/me"); } catch (e) { show("login"); return; }
    const refusal = page.refuse && page.refuse(me);
    if (refusal) { show("login"); $("login-error").textContent = refusal; return; }
    show("app"); page.signedIn(me);
  }
  $("login-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    try { await api("/api/auth/login", { method: "POST", body: JSON.stringify({ username: $("username").value, password: $("password").value }) }); boot(); }
    catch (err) { $("login-error").textContent = "登录失败：用户名或密码错误"; }
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
