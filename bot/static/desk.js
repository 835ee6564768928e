// 工单台 (/desk; sign-in and the shared helpers: staff.js): filter the work orders, open one (details, photos,
// contact, history, the conversation it came from), assign a technician, move it on with a note. Every change is
// told to the resident by the server (bot/desk.py); refusals come back in Chinese and are shown as they are.
import { $, el } from "/static/dom.js";
import { api } from "/static/api.js";
import { start } from "/static/staff.js";
{
  const STATUS_ACTIONS = { "维修中": "开始维修", "已完成": "完成", "已取消": "取消工单", "已派单": "派单" };
  let me = null, selected = null, technicians = [], filtersReady = false;

  function option(value, text) { const o = el("option", "", text); o.value = value; return o; }
  function hhmm(isoText) { return isoText ? isoText.slice(5, 16).replace("T", " ") : ""; }

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
      const deadline = el("td");
      if (o.overdue) deadline.appendChild(el("span", "flag", o.overdue_label));
      else if (!["已完成", "已取消"].includes(o.status)) deadline.textContent = due + " 前";
      const urgency = el("td"); urgency.appendChild(el("span", o.urgency === "urgent" ? "flag urgent" : "", o.urgency_label));
      [el("td", "", o.number), el("td", "", o.community), el("td", "", o.location), el("td", "", o.category), urgency,
       el("td", "status", o.status), el("td", "", o.assignee || "—"), deadline].forEach((td) => tr.appendChild(td));
      tr.addEventListener("click", () => open(o.id));
      body.appendChild(tr);
    });
  }

  function field(dl, label, value) { dl.appendChild(el("dt", "", label)); const dd = el("dd", "", value || "—"); dl.appendChild(dd); return dd; }

  function render(o) {
    selected = o.id;
    document.querySelectorAll("#orders tbody tr").forEach((tr) => tr.classList.toggle("selected", tr.dataset.id === String(o.id)));
    $("d-title").textContent = o.number + " · " + o.status;
    $("detail").classList.remove("hidden");
    const dl = $("d-fields"); dl.replaceChildren();
    field(dl, "小区", o.community); field(dl, "地点", o.location); field(dl, "房屋", o.room);
    field(dl, "类别", o.category + " · " + o.urgency_label); field(dl, "问题", o.description);
    field(dl, "联系电话", o.contact_phone); if (o.household) field(dl, "业主", o.household.owner + " " + o.household.phone);
    field(dl, "期望时间", o.preferred_time); field(dl, "报修时间", hhmm(o.created_at));
    field(dl, "师傅", o.assignee);
    const resp = field(dl, "派单时限", hhmm(o.response_due) + (o.first_response_at ? "（" + hhmm(o.first_response_at) + " 已派单）" : ""));
    const done = field(dl, "完成时限", hhmm(o.completion_due) + (o.completed_at ? "（" + hhmm(o.completed_at) + " 完成）" : ""));
    if (o.overdue) (o.overdue_kind === "response" ? resp : done).appendChild(el("span", "flag", " " + o.overdue_label));
    if (o.escalated_at) field(dl, "已升级", hhmm(o.escalated_at) + " 已通知值班客服");
    if (o.chase_count) field(dl, "催单", o.chase_count + " 次");
    if (o.rating) field(dl, "业主评价", o.rating + " 分");
    const photos = $("d-photos"); photos.replaceChildren();
    (o.photos || []).forEach((src) => { const a = el("a"); a.href = src; a.target = "_blank"; const img = el("img"); img.src = src; img.alt = "报修照片"; a.appendChild(img); photos.appendChild(a); });
    // assign: agents and admins; technicians only move their own orders on
    const closed = o.next_statuses.length === 0;
    const dispatcher = me.role === "agent" || me.role === "admin";
    $("assign-box").classList.toggle("hidden", !dispatcher || closed);
    const sel = $("assign-tech"); sel.replaceChildren(option("", "选择维修师傅"));
    technicians.forEach((t) => sel.appendChild(option(String(t.id), t.name)));
    if (o.assignee_id) sel.value = String(o.assignee_id);
    $("assign-btn").textContent = o.assignee_id ? "改派" : "派单";
    const buttons = $("status-buttons"); buttons.replaceChildren();
    o.next_statuses.filter((s) => s !== "已派单").forEach((s) => {
      const b = el("button", s === "已取消" ? "btn secondary status-btn" : "btn status-btn", STATUS_ACTIONS[s] || s);
      b.type = "button"; b.dataset.status = s; b.addEventListener("click", () => move(s)); buttons.appendChild(b);
    });
    $("status-box").classList.toggle("hidden", closed);
    const events = $("events"); events.replaceChildren();
    o.events.forEach((e) => { const li = el("li"); li.appendChild(el("span", "at", hhmm(e.at))); li.appendChild(el("b", "", e.status + " "));
      li.appendChild(document.createTextNode(e.note + "（" + (e.actor === "resident" ? "业主" : e.actor === "system" ? "系统" : e.actor) + "）")); events.appendChild(li); });
    const conv = $("d-conv"); conv.replaceChildren();
    $("d-conv-link").textContent = o.conversation ? "会话 #" + o.conversation.id : "";
    if (!o.conversation) conv.textContent = "无（不是在线报修的工单）";
    else o.conversation.messages.forEach((m) => { const d = el("div", "cmsg " + m.sender); d.appendChild(el("span", "s", { resident: "业主", bot: "机器人", agent: "客服", system: "系统" }[m.sender] || m.sender));
      d.appendChild(document.createTextNode(m.text)); conv.appendChild(d); });
  }

  async function open(id) {
    $("desk-error").textContent = "";
    try { render(await api("/api/staff/work-orders/" + id)); } catch (e) { $("desk-error").textContent = e.message; }
  }

  async function change(path, body) {
    $("desk-error").textContent = "";
    try {
      render(await api("/api/staff/work-orders/" + selected + path, { method: "POST", body: JSON.stringify(body) }));
      $("assign-note").value = ""; $("status-note").value = "";
      loadOrders();
    } catch (e) { $("desk-error").textContent = e.message; }
  }

  function move(status) { change("/status", { status: status, note: $("status-note").value.trim() }); }

  $("assign-btn").addEventListener("click", () => {
    const id = parseInt($("assign-tech").value, 10);
    if (!id) { $("desk-error").textContent = "请选择维修师傅"; return; }
    change("/assign", { technician_id: id, note: $("assign-note").value.trim() });
  });
  $("filters").addEventListener("submit", (e) => { e.preventDefault(); loadOrders(); });
  ["f-status", "f-community", "f-category", "f-urgency", "f-overdue", "f-mine"].forEach((id) => $(id).addEventListener("change", loadOrders));

  start({
    signedIn: async (who) => {
      me = who;
      $("me").textContent = who.display_name + ({ admin: "（管理员）", technician: "（维修师傅）" }[who.role] || "");
      $("admin-link").classList.toggle("hidden", who.role !== "admin");
      $("agent-link").classList.toggle("hidden", who.role === "technician");
      if (who.role === "technician") $("f-mine").checked = true;
      if (who.role !== "technician") {  // only dispatchers assign (bot/permissions.py)
        try { technicians = (await api("/api/staff/work-orders/technicians")).technicians; } catch (e) { technicians = []; }
      }
      await loadOrders();
      setInterval(() => { loadOrders(); }, 30000);
    },
  });
}
