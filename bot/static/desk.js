// 工单台 (/desk; sign-in and the shared helpers: staff.js): filter the work orders, open one (details, photos,
// contact, history, the conversation it came from), assign a technician, move it on with a note; completing asks
// for a confirmation with a required note and an optional photo. Every change is told to the resident by the server
// (bot/work_orders/desk.py); refusals come back in Chinese and are shown as they are.
// The buttons are the order's own `actions` (what the signed-in role may do to it now, decided by the server), and
// the header's links follow the account's `capabilities`: no role names here.
// On a phone (≤ 480 px) the list fills the screen and an order opens full-screen at #order-<id>: 返回 and the
// browser's back both return to the list.
import { $, el } from "/static/dom.js";
import { api } from "/static/api.js";
import { start } from "/static/staff.js";
{
  const ACTIONS = { start: { status: "维修中", label: "开始维修" }, complete: { status: "已完成", label: "完成" },
                    cancel: { status: "已取消", label: "取消工单", secondary: true } };
  const PHONE = window.matchMedia("(max-width: 480px)");
  let selected = null, current = null, technicians = [], filtersReady = false;
  let shownHash = null, listScroll = 0, photoUrl = null, uploading = false;

  function option(value, text) { const o = el("option", "", text); o.value = value; return o; }
  function hhmm(isoText) { return isoText ? isoText.slice(5, 16).replace("T", " ") : ""; }
  function actor(name) { return name === "resident" ? "业主" : name === "system" ? "系统" : name; }
  function thumbs(box, urls, alt) {
    urls.forEach((src) => { const a = el("a"); a.href = src; a.target = "_blank"; a.rel = "noopener";
      const img = el("img"); img.src = src; img.alt = alt; a.appendChild(img); box.appendChild(a); });
  }

  function query() {
    const p = new URLSearchParams();
    const pairs = { status: $("f-status").value, community: $("f-community").value, building: $("f-building").value,
                    category: $("f-category").value, urgency: $("f-urgency").value, q: $("f-q").value.trim() };
    Object.entries(pairs).forEach(([k, v]) => { if (v) p.set(k, v); });
    if ($("f-overdue").checked) p.set("overdue", "true");
    if ($("f-mine").checked) p.set("mine", "true");
    return p.toString();
  }

  async function loadOrders() {
    let data;
    try { data = await api("/api/staff/work-orders?" + query()); } catch (e) { $("count").textContent = e.message; return; }
    if (!filtersReady) {
      data.statuses.forEach((s) => $("f-status").appendChild(option(s, s)));
      data.communities.forEach((c) => $("f-community").appendChild(option(c.id, c.name)));
      data.categories.forEach((c) => $("f-category").appendChild(option(c, c)));
      filtersReady = true;
    }
    $("count").textContent = "共 " + data.count + " 条";
    const body = $("orders").querySelector("tbody"); body.replaceChildren();
    data.orders.forEach((o) => {
      const tr = el("tr"); tr.dataset.id = String(o.id); tr.dataset.number = o.number;
      if (o.overdue) tr.classList.add("overdue");
      if (selected === o.id) tr.classList.add("selected");
      const due = o.status === "待受理" ? o.response_due_text : o.completion_due_text;
      const deadline = el("td", "c-deadline");
      if (o.overdue) deadline.appendChild(el("span", "flag", o.overdue_label));
      else if (!["已完成", "已取消"].includes(o.status)) deadline.textContent = due + " 前";
      const urgency = el("td", "c-urgency"); urgency.appendChild(el("span", o.urgency === "urgent" ? "flag urgent" : "", o.urgency_label));
      // the classes place each cell on the phone's card (desk.html); the table's columns on a wide screen
      [el("td", "c-number", o.number), el("td", "c-community", o.community), el("td", "c-location", o.location),
       el("td", "c-category", o.category), urgency, el("td", "status c-status", o.status),
       el("td", "c-assignee", o.assignee || "—"), deadline].forEach((td) => tr.appendChild(td));
      tr.addEventListener("click", () => showOrder(o.id));
      body.appendChild(tr);
    });
    // the order open beside (or over) the list, changed meanwhile by someone else (cancelled, reassigned): read again,
    // so its buttons are what may be done now; not while a 完成 confirmation is being written
    const shown = current && data.orders.find((o) => o.id === current.id);
    if (shown && (shown.status !== current.status || shown.updated_at !== current.updated_at) && $("complete-box").classList.contains("hidden")) open(current.id);
  }

  function field(dl, label, value) { dl.appendChild(el("dt", "", label)); const dd = el("dd", "", value || "—"); dl.appendChild(dd); return dd; }

  function render(o) {
    selected = o.id; current = o;
    document.querySelectorAll("#orders tbody tr").forEach((tr) => tr.classList.toggle("selected", tr.dataset.id === String(o.id)));
    $("d-title").textContent = o.number + " · " + o.status;
    $("detail").classList.remove("hidden");
    const dl = $("d-fields"); dl.replaceChildren();
    field(dl, "小区", o.community); field(dl, "地点", o.location); field(dl, "房屋", o.room);
    field(dl, "类别", o.category + " · " + o.urgency_label); field(dl, "问题", o.description);
    field(dl, "联系电话", o.contact_phone); if (o.household) field(dl, "业主", o.household.owner + " " + o.household.phone);
    field(dl, "期望时间", o.preferred_time_text); field(dl, "报修时间", hhmm(o.created_at));  // the words, not the stored form
    field(dl, "师傅", o.assignee);
    const resp = field(dl, "派单时限", hhmm(o.response_due) + (o.first_response_at ? "（" + hhmm(o.first_response_at) + " 已派单）" : ""));
    const done = field(dl, "完成时限", hhmm(o.completion_due) + (o.completed_at ? "（" + hhmm(o.completed_at) + " 完成）" : ""));
    if (o.overdue) (o.overdue_kind === "response" ? resp : done).appendChild(el("span", "flag", " " + o.overdue_label));
    if (o.escalated_at) field(dl, "已升级", hhmm(o.escalated_at) + " 已通知值班客服");
    if (o.chase_count) field(dl, "催单", o.chase_count + " 次");
    if (o.completion) {
      const dd = field(dl, "完成说明", o.completion.note + "（" + actor(o.completion.by) + " " + hhmm(o.completion.at) + "）");
      dd.id = "d-completion";
      const box = el("div", "completion-photos"); thumbs(box, o.completion.photos, "完成照片"); dd.appendChild(box);
    }
    if (o.rating) field(dl, "业主评价", o.rating + " 分");
    const photos = $("d-photos"); photos.replaceChildren(); thumbs(photos, o.photos || [], "报修照片");
    // what this account may do to this order now: the server's list, nothing guessed here
    const actions = o.actions || [];
    $("assign-box").classList.toggle("hidden", !actions.includes("assign"));
    const sel = $("assign-tech"); sel.replaceChildren(option("", "选择维修师傅"));
    // a technician of another 小区 could not see the order (the server refuses it too)
    technicians.filter((t) => !t.community_id || t.community_id === o.community_id).forEach((t) => sel.appendChild(option(String(t.id), t.name)));
    if (o.assignee_id) sel.value = String(o.assignee_id);
    $("assign-btn").textContent = o.assignee_id ? "改派" : "派单";
    const buttons = $("status-buttons"); buttons.replaceChildren();
    actions.filter((a) => ACTIONS[a]).forEach((a) => {
      const spec = ACTIONS[a];
      const b = el("button", spec.secondary ? "btn secondary status-btn" : "btn status-btn", spec.label);
      b.type = "button"; b.dataset.status = spec.status; b.dataset.action = a;
      b.addEventListener("click", () => (a === "complete" ? openComplete() : move(spec.status)));
      buttons.appendChild(b);
    });
    $("status-box").classList.toggle("hidden", buttons.childElementCount === 0);
    $("act-title").classList.toggle("hidden", actions.length === 0);
    closeComplete();
    const events = $("events"); events.replaceChildren();
    o.events.forEach((e) => { const li = el("li"); li.appendChild(el("span", "at", hhmm(e.at))); li.appendChild(el("b", "", e.status + " "));
      li.appendChild(document.createTextNode(e.note + "（" + actor(e.actor) + "）"));
      if (e.photos && e.photos.length) { const box = el("div"); thumbs(box, e.photos, "处理照片"); li.appendChild(box); }
      events.appendChild(li); });
    const conv = $("d-conv"); conv.replaceChildren();
    $("d-conv-link").textContent = o.conversation ? "会话 #" + o.conversation.id : "";
    if (!o.conversation) conv.textContent = "无（不是在线报修的工单）";
    else o.conversation.messages.forEach((m) => { const d = el("div", "cmsg " + m.sender); d.appendChild(el("span", "s", { resident: "业主", bot: "机器人", agent: "客服", system: "系统" }[m.sender] || m.sender));
      d.appendChild(document.createTextNode(m.text)); conv.appendChild(d); });
  }

  async function open(id) {
    $("desk-error").textContent = "";
    try { render(await api("/api/staff/work-orders/" + id)); }
    catch (e) { current = null; $("detail").classList.add("hidden"); $("d-title").textContent = "无法打开工单：" + e.message; }
  }

  // --- list ⇄ detail: the order in the address (#order-<id>), so the browser's back returns to the list ---------
  function route(force) {
    if (location.hash === shownHash && !force) return;
    shownHash = location.hash;
    const m = /^#order-(\d+)$/.exec(location.hash);
    $("desk").classList.toggle("detail-open", !!m);
    if (m) { open(parseInt(m[1], 10)); if (PHONE.matches) window.scrollTo(0, 0); }
    else if (PHONE.matches) window.scrollTo(0, listScroll);
  }

  function showOrder(id) {
    listScroll = window.scrollY;
    const hash = "#order-" + id;
    if (location.hash !== hash) history.pushState({ fromList: true }, "", hash);
    route(true);  // the same order tapped again is read again
  }

  function backToList() {
    if (history.state && history.state.fromList) { history.back(); return; }  // popstate routes
    history.replaceState(null, "", location.pathname + location.search);  // opened from a link: no list behind it
    route();
  }

  // --- moving an order on -------------------------------------------------------------------------------------
  async function change(path, body) {
    $("desk-error").textContent = "";
    try {
      render(await api("/api/staff/work-orders/" + selected + path, { method: "POST", body: JSON.stringify(body) }));
      $("assign-note").value = ""; $("status-note").value = "";
      loadOrders();
      return true;
    } catch (e) {
      if (e.status === 409 && selected) await open(selected);  // moved on by someone else: show it as it is now
      $("desk-error").textContent = e.message; return false;
    }
  }

  function move(status) { change("/status", { status: status, note: $("status-note").value.trim() }); }

  // completing: a confirmation with a required note (told to the resident) and an optional photo, uploaded when it
  // is chosen and sent with the note in one request (stored together or not at all, bot/work_orders/desk.py)
  function openComplete() {
    $("desk-error").textContent = "";
    $("complete-note").value = $("complete-note").value || $("status-note").value.trim();
    $("complete-box").classList.remove("hidden");
    $("status-box").classList.add("hidden"); $("assign-box").classList.add("hidden");
    $("complete-note").focus();
    $("complete-box").scrollIntoView({ block: "nearest" });
  }

  function closeComplete() {
    $("complete-box").classList.add("hidden");
    $("complete-note").value = ""; $("complete-photo").value = ""; $("complete-preview").replaceChildren();
    $("complete-photo-state").textContent = ""; photoUrl = null;
  }

  async function uploadPhoto(file) {
    const form = new FormData(); form.append("file", file);
    const r = await fetch("/api/staff/work-orders/photos", { method: "POST", body: form, credentials: "same-origin" });
    const data = await r.json().catch(() => ({}));
    if (!r.ok) throw new Error(typeof data.detail === "string" ? data.detail : "照片上传失败（" + r.status + "），请重试");
    return data.url;
  }

  $("complete-photo").addEventListener("change", async () => {
    const file = $("complete-photo").files[0];
    photoUrl = null; $("complete-preview").replaceChildren(); $("desk-error").textContent = "";
    if (!file) { $("complete-photo-state").textContent = ""; return; }
    uploading = true; $("complete-confirm").disabled = true; $("complete-photo-state").textContent = "照片上传中…";
    try {
      photoUrl = await uploadPhoto(file);
      thumbs($("complete-preview"), [photoUrl], "完成照片");
      $("complete-photo-state").textContent = "照片已上传，确认完成后一并保存";
    } catch (e) {
      $("complete-photo").value = ""; $("complete-photo-state").textContent = ""; $("desk-error").textContent = e.message;
    } finally { uploading = false; $("complete-confirm").disabled = false; }
  });

  $("complete-box").addEventListener("submit", async (e) => {
    e.preventDefault();
    if (uploading) return;
    const note = $("complete-note").value.trim();
    if (!note) { $("desk-error").textContent = "请填写完成说明：做了什么（会告知业主）"; $("complete-note").focus(); return; }
    $("complete-confirm").disabled = true;
    try { await change("/status", { status: ACTIONS.complete.status, note: note, photos: photoUrl ? [photoUrl] : [] }); }
    finally { $("complete-confirm").disabled = false; }
  });
  $("complete-back").addEventListener("click", () => { if (current) render(current); });

  $("assign-btn").addEventListener("click", () => {
    const id = parseInt($("assign-tech").value, 10);
    if (!id) { $("desk-error").textContent = "请选择维修师傅"; return; }
    change("/assign", { technician_id: id, note: $("assign-note").value.trim() });
  });
  $("filters").addEventListener("submit", (e) => { e.preventDefault(); loadOrders(); });
  ["f-status", "f-community", "f-category", "f-urgency", "f-overdue", "f-mine"].forEach((id) => $(id).addEventListener("change", loadOrders));
  $("back").addEventListener("click", backToList);
  window.addEventListener("popstate", () => route());
  window.addEventListener("hashchange", () => route());
  // the filters fold away on a phone (the list first) and are always open on a wide screen
  if (PHONE.matches) $("filter-box").open = false;
  PHONE.addEventListener("change", (e) => { if (!e.matches) $("filter-box").open = true; });

  start({
    signedIn: async (who) => {
      const can = (capability) => (who.capabilities || []).includes(capability);
      $("me").textContent = who.display_name + ({ admin: "（管理员）", technician: "（维修师傅）" }[who.role] || "");
      $("admin-link").classList.toggle("hidden", !can("admin"));
      $("agent-link").classList.toggle("hidden", !can("console"));
      if (!can("dispatch")) $("f-mine").checked = true;  // who only works their own orders starts on them
      if (can("dispatch")) {  // the technicians to assign to (bot/access/permissions.py)
        try { technicians = (await api("/api/staff/work-orders/technicians")).technicians; } catch (e) { technicians = []; }
      }
      await loadOrders();
      route(true);  // an address with #order-<id> opens that order
      setInterval(() => { loadOrders(); }, 30000);
    },
  });
}
