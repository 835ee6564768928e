// Shared by the staff pages (/agent, /admin; loaded before their own script): $, el, api, sign-in and sign-out.
(function () {
  "use strict";
  const $ = (id) => document.getElementById(id);
  function el(tag, cls, text) { const e = document.createElement(tag); if (cls) e.className = cls; if (text !== undefined) e.textContent = text; return e; }
  // fetch JSON; a refusal throws an Error with the server's Chinese message, status, code (and problems for FAQ edits)
  async function api(path, opts) {
    const r = await fetch(path, Object.assign({ credentials: "same-origin", headers: { "content-type": "application/json" } }, opts || {}));
    const data = await r.json().catch(() => ({}));
    if (!r.ok) throw Object.assign(new Error(typeof data.detail === "string" ? data.detail : String(r.status)), { status: r.status, code: data.code, problems: data.problems });
    return data;
  }
  function show(view) { $("login-view").classList.toggle("hidden", view !== "login"); $("app-view").classList.toggle("hidden", view !== "app"); }
  // The login form until someone signs in, then the page. page.refuse(me): a reason this account cannot use the page;
  // page.signedIn(me): called once the page is shown.
  function start(page) {
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
  window.wuyeStaff = { $: $, el: el, api: api, show: show, start: start };
})();
