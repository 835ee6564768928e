// The resident widget: WebSocket with reconnect + history, REST fallback, escaped rendering everywhere.
(function () {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const messagesEl = $("messages"), input = $("input"), chips = $("chips"), typing = $("typing");
  const seen = new Set();
  let ws = null, wsOk = false, retries = 0, restMode = false, pendingPhotos = [];

  function fmtTime(iso) {
    const d = iso ? new Date(iso) : new Date();
    return String(d.getHours()).padStart(2, "0") + ":" + String(d.getMinutes()).padStart(2, "0");
  }
  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;  // never innerHTML: residents' and agents' text is untrusted
    return e;
  }
  function setChips(buttons) {
    chips.replaceChildren();
    (buttons || []).forEach((b) => {
      const c = el("button", "chip", b.title);
      c.type = "button";
      c.addEventListener("click", () => send(b.payload, b.title));
      chips.appendChild(c);
    });
  }
  function render(m) {  // returns the element drawn (null when the message was already shown)
    if (m.id && seen.has(m.id)) return null;
    if (m.id) seen.add(m.id);
    if (m.sender === "note") return null;
    let drawn;
    if (m.sender === "system") {
      drawn = el("div", "system", m.text);
      messagesEl.appendChild(drawn);
    } else {
      const mine = m.sender === "resident";
      const row = el("div", "row " + (mine ? "mine" : "theirs") + (m.sender === "agent" ? " agent" : ""));
      const avatar = el("div", "avatar", mine ? "我" : (m.sender === "agent" ? "人" : "助"));
      const body = el("div", "body");
      if (!mine) body.appendChild(el("div", "label", m.sender === "agent" ? "人工客服 " + (m.agent || "") : "智能助手"));
      const bubble = el("div", "bubble");
      bubble.textContent = m.text;
      body.appendChild(bubble);
      body.appendChild(el("div", "time", fmtTime(m.at)));
      row.appendChild(avatar);
      row.appendChild(body);
      messagesEl.appendChild(row);
      drawn = row;
      if (mine) closeRatingCards();
      if (!mine && m.buttons && m.buttons.length && m.buttons.every((b) => /^\/rate \d+ [1-5]$/.test(b.payload))) {
        setChips([]); messagesEl.appendChild(ratingCard(m.buttons));
      } else if (!mine && m.buttons && m.buttons.length) setChips(m.buttons);
    }
    messagesEl.scrollTop = messagesEl.scrollHeight;
    return drawn;
  }
  // 满意度评价: the offer's five /rate buttons drawn as a card (score + optional comment) posted to /api/widget/rating;
  // a later message of the resident closes it (typing the digit works too: the bot takes it as that button).
  function ratingCard(buttons) {
    const handoffId = Number(buttons[0].payload.split(" ")[1]);
    const card = el("div", "rating-card"); card.dataset.handoff = String(handoffId);
    card.appendChild(el("div", "", "请为本次人工服务打分"));
    const stars = el("div", "stars"); let score = 0;
    buttons.forEach((b) => {
      const value = Number(b.payload.split(" ")[2]);
      const star = el("button", "star", "★ " + value); star.type = "button"; star.title = b.title; star.dataset.score = String(value);
      star.addEventListener("click", () => { score = value; stars.querySelectorAll("button").forEach((x) => x.classList.toggle("on", Number(x.dataset.score) <= value)); hint.textContent = b.title.replace(/^\d+\s*/, ""); submit.disabled = false; });
      stars.appendChild(star);
    });
    const hint = el("div", "hint", "");
    const comment = el("input"); comment.type = "text"; comment.maxLength = 500; comment.placeholder = "意见或建议（选填）";
    const submit = el("button", "submit", "提交评价"); submit.type = "button"; submit.disabled = true;
    const error = el("div", "error", "");
    submit.addEventListener("click", async () => {
      submit.disabled = true; error.textContent = ""; card.dataset.sent = "1";  // kept open while it is being sent
      try {
        const r = await fetch("/api/widget/rating", { method: "POST", credentials: "same-origin", headers: { "content-type": "application/json" },
          body: JSON.stringify({ handoff_id: handoffId, score: score, comment: comment.value.trim() || null }) });
        const data = await r.json().catch(() => ({}));
        if (!r.ok) { error.textContent = data.detail || "提交失败，请稍后再试"; if (r.status !== 409) { submit.disabled = false; delete card.dataset.sent; } return; }
        card.replaceChildren(el("div", "done", "已提交评价，感谢您的反馈！"));
        if (restMode) loadHistory();
      } catch (e) { error.textContent = "网络异常，请稍后再试"; submit.disabled = false; delete card.dataset.sent; }
    });
    [stars, hint, comment, submit, error].forEach((x) => card.appendChild(x));
    return card;
  }
  function closeRatingCards() { messagesEl.querySelectorAll(".rating-card:not([data-sent])").forEach((c) => c.remove()); }
  // The real state of the conversation: bot, queued (with the position), a callback registered, or an agent.
  function setStatus(status, agent, handoff) {
    const banner = $("agent-banner");
    if (status === "open") {
      banner.textContent = "人工客服 " + (agent || "") + " 已接入";
      banner.classList.remove("hidden");
      $("state").textContent = "人工客服 " + (agent || "") + " 正在为您服务";
    } else if (status === "pending" && handoff && handoff.status === "callback") {
      // the 小区's wall-clock time: the ISO string carries the 小区's offset (2026-11-28T12:00:00+08:00)
      const when = handoff.callback_at ? "，工作人员会在 " + handoff.callback_at.slice(0, 16).replace("T", " ") + " 前回电" : "";
      banner.textContent = "已登记回电（编号 " + (handoff.ticket || "") + "）" + when;
      banner.classList.remove("hidden");
      $("state").textContent = "已登记回电";
    } else if (status === "pending") {
      const position = handoff && handoff.queue_position ? "，当前第 " + handoff.queue_position + " 位" : "";
      banner.textContent = "排队中" + position + "，正在为您转接人工客服，请稍候…";
      banner.classList.remove("hidden");
      $("state").textContent = "排队中";
    } else {
      banner.classList.add("hidden");
      $("state").textContent = "智能助手为您服务";
    }
  }
  function welcome() {
    render({ id: "welcome", sender: "bot", text: "您好！我是物业在线客服，可以帮您查物业费、报修、办停车、解答常见问题。", at: null,
      buttons: [
        { title: "物业几点上班", payload: "物业几点上班" }, { title: "物业费怎么交", payload: "物业费怎么交" },
        { title: "我要报修", payload: "我要报修" }, { title: "停车月卡怎么办", payload: "停车月卡怎么办" },
        { title: "门禁卡补办", payload: "门禁卡丢了怎么办" }] });
  }
  function showTyping(on) { typing.classList.toggle("hidden", !on); }

  async function ensureSession() {
    await fetch("/api/widget/session", { method: "POST", credentials: "same-origin" });
  }
  async function loadHistory() {
    const r = await fetch("/api/widget/history", { credentials: "same-origin" });
    if (!r.ok) return;
    applyHistory(await r.json());
  }
  function applyHistory(h) {
    if (!h.messages.length) { if (!seen.has("welcome")) welcome(); }
    h.messages.forEach(render);
    setStatus(h.status, h.agent, h.handoff);
  }
  function connect() {
    if (restMode) return;
    const proto = location.protocol === "https:" ? "wss://" : "ws://";
    try { ws = new WebSocket(proto + location.host + "/ws/chat"); } catch (e) { return fallback(); }
    const opened = setTimeout(() => { if (!wsOk) { ws.close(); } }, 5000);
    ws.onopen = () => { wsOk = true; retries = 0; clearTimeout(opened); $("offline").classList.add("hidden"); };
    ws.onmessage = (ev) => {
      const data = JSON.parse(ev.data);
      if (data.type === "history") applyHistory(data);
      else if (data.type === "message") { if (data.sender !== "resident") showTyping(false); render(data); }
      else if (data.type === "status") setStatus(data.status, data.agent, data.handoff);
      else if (data.type === "typing") showTyping(data.on);
      else if (data.type === "error") render({ sender: "system", text: "发送失败：" + data.detail });
    };
    ws.onclose = () => {
      const everOpened = wsOk;
      wsOk = false;
      showTyping(false);
      if (!everOpened && retries >= 2) return fallback();
      $("offline").classList.remove("hidden");
      retries += 1;
      setTimeout(connect, Math.min(1000 * 2 ** retries, 10000));
    };
  }
  function fallback() {
    restMode = true;
    $("offline").classList.add("hidden");
    document.body.dataset.transport = "rest";
    loadHistory();
    setInterval(loadHistory, 3000);  // agent replies arrive by polling when WebSockets are blocked
  }
  async function send(text, shown) {
    text = (text || "").trim();
    if (!text && !pendingPhotos.length) return;
    setChips([]);
    const photos = pendingPhotos; pendingPhotos = [];
    if (wsOk && ws.readyState === 1) {
      ws.send(JSON.stringify({ type: "message", text: text, photos: photos }));
      return;
    }
    // drawn at once for responsiveness, replaced by the stored copy when the history comes back
    const pending = render({ sender: "resident", text: shown || text || "[图片]", at: new Date().toISOString() });
    showTyping(true);
    try {
      const r = await fetch("/api/widget/messages", { method: "POST", credentials: "same-origin",
        headers: { "content-type": "application/json" }, body: JSON.stringify({ text: text, photos: photos }) });
      const data = await r.json();
      if (!r.ok) { render({ sender: "system", text: "发送失败：" + (data.detail || r.status) }); return; }
      if (pending) pending.remove();
      await loadHistory();
    } catch (e) {
      render({ sender: "system", text: "网络异常，请稍后再试" });
    } finally { showTyping(false); }
  }
  $("composer").addEventListener("submit", (e) => { e.preventDefault(); const t = input.value; input.value = ""; send(t); });
  $("photo").addEventListener("change", async (e) => {
    const file = e.target.files[0];
    if (!file) return;
    const form = new FormData(); form.append("file", file);
    const r = await fetch("/api/widget/upload", { method: "POST", body: form, credentials: "same-origin" });
    const data = await r.json();
    if (!r.ok) { render({ sender: "system", text: "图片上传失败：" + data.detail }); return; }
    pendingPhotos.push(data.url);
    render({ sender: "system", text: "已添加一张照片，发送描述后随报修一起提交" });
    e.target.value = "";
  });
  setInterval(() => { if (wsOk && ws.readyState === 1) ws.send(JSON.stringify({ type: "ping" })); }, 20000);
  window.wuyeWidget = { send: send, transport: () => (restMode ? "rest" : (wsOk ? "websocket" : "connecting")) };
  // 通知公告: the live notices (停水/停电/电梯维保/活动…) for the resident's building, or the 小区's, as a banner on open.
  async function loadNotices() {
    const community = new URLSearchParams(location.search).get("community");
    try {
      const r = await fetch("/api/widget/notices" + (community ? "?community=" + encodeURIComponent(community) : ""), { credentials: "same-origin" });
      if (!r.ok) return;
      const data = await r.json(), box = $("notice-banner");
      box.replaceChildren();
      (data.notices || []).forEach((n) => {
        const item = el("div", "notice"); item.dataset.id = String(n.id);
        item.appendChild(el("div", "notice-title", "📢 " + n.title));
        item.appendChild(el("div", "notice-when", n.scope_label + " " + n.when + (n.state === "active" ? "（进行中）" : "")));
        item.appendChild(el("div", "notice-text", n.text));
        box.appendChild(item);
      });
      if (!(data.notices || []).length) { box.classList.add("hidden"); return; }
      const close = el("button", "notice-close", "×"); close.type = "button"; close.title = "收起通知";
      close.addEventListener("click", () => box.classList.add("hidden"));
      box.appendChild(close);
      box.classList.remove("hidden");
    } catch (e) { /* the banner is optional: the chat works without it */ }
  }
  ensureSession().then(() => {
    loadNotices();
    if (new URLSearchParams(location.search).get("transport") === "rest" || !("WebSocket" in window)) fallback();
    else connect();
  });
})();
