// The resident widget: WebSocket with reconnect (backoff) + history, REST fallback that keeps probing the WebSocket,
// a page-level outbox (localStorage) sent in order with client message ids, escaped rendering everywhere.
import { $, el } from "/static/dom.js";

{
  const messagesEl = $("messages"), input = $("input"), chips = $("chips"), typing = $("typing");
  const seen = new Set();          // stored message ids already drawn
  const ownRows = new Map();       // client id → the row drawn for a message typed in this page (class pending until stored)
  const OUTBOX_KEY = "wuye-widget-outbox";
  let outbox = readOutbox();       // [{cid, text, shown, photos, at}]: typed, not yet acknowledged, in order
  let ws = null, wsOk = false, retries = 0, failedOpens = 0, restMode = false, forcedRest = false, restOk = true;
  let trouble = false, sessionOk = false, inflight = null, inflightTimer = null, pollTimer = null, reconnectTimer = null;
  let pendingPhotos = [];
  // The resident's signed identity, kept by the page and sent with every call: embedded on another site, the frame
  // gets no SameSite=Lax cookie (bot/api/deps.py resident_token). Storage refused (partitioned, private mode): kept
  // for this page's life.
  // Embedded on another site, the browser may refuse this frame any storage (third-party storage blocked): the
  // embedding page (embed.js, first-party there) keeps the token for it, handed over with postMessage.
  const TOKEN_KEY = "wuye-widget-identity";
  const embedded = window.parent !== window;
  let token = null;
  try { token = localStorage.getItem(TOKEN_KEY); } catch (e) { token = null; }
  function keepToken(t) {
    token = t;
    try { localStorage.setItem(TOKEN_KEY, t); } catch (e) { /* refused: the embedding page keeps it */ }
    if (embedded) window.parent.postMessage({ type: "wuye-identity", token: t }, "*");
  }
  function tokenFromParent() {  // resolves at once outside a frame, or once the embedding page answers (≤ 0.5 s)
    return new Promise((resolve) => {
      if (!embedded || token) { resolve(); return; }
      const timer = setTimeout(resolve, 500);
      window.addEventListener("message", (e) => {
        if (e.source !== window.parent || !e.data || e.data.type !== "wuye-identity") return;
        if (typeof e.data.token === "string" && e.data.token) token = e.data.token;
        clearTimeout(timer); resolve();
      });
      window.parent.postMessage({ type: "wuye-ready" }, "*");
    });
  }
  function call(path, opts) {
    opts = Object.assign({ credentials: "same-origin" }, opts || {});
    if (token) opts.headers = Object.assign({}, opts.headers || {}, { "x-wuye-resident": token });
    return fetch(path, opts);
  }
  function fmtTime(iso) {
    const d = iso ? new Date(iso) : new Date();
    return String(d.getHours()).padStart(2, "0") + ":" + String(d.getMinutes()).padStart(2, "0");
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
    if (m.sender === "resident") setChips([]);  // the chips answered an earlier question: a new one is asked
    if (m.sender === "resident" && m.client_id && ownRows.has(m.client_id)) {  // drawn already as we typed it
      confirmOwn(m.client_id, m);
      return null;
    }
    // Stored, but its ack was lost (the socket died, the tab was closed): the server's copy is drawn below, so the
    // outbox must neither draw it again (drawOutbox runs after the history) nor send it again.
    if (m.sender === "resident" && m.client_id) forgetQueued(m.client_id);
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
      } else if (!mine) setChips(m.buttons);  // the newest message's own buttons, or none: never an earlier one's
    }
    ownRows.forEach((row) => { if (row.classList.contains("pending")) messagesEl.appendChild(row); });  // unsent stay last
    messagesEl.scrollTop = messagesEl.scrollHeight;
    return drawn;
  }
  // --- our own messages: drawn at once, queued (outbox, kept in localStorage), confirmed by the stored copy ---------
  function readOutbox() {
    try { const v = JSON.parse(localStorage.getItem(OUTBOX_KEY) || "[]"); return Array.isArray(v) ? v.filter((i) => i && i.cid) : []; }
    catch (e) { return []; }
  }
  function saveOutbox() {
    try { if (outbox.length) localStorage.setItem(OUTBOX_KEY, JSON.stringify(outbox)); else localStorage.removeItem(OUTBOX_KEY); }
    catch (e) { /* private mode: the queue lives in the page only */ }
  }
  function newClientId() {
    if (window.crypto && crypto.randomUUID) return "w-" + crypto.randomUUID();
    return "w-" + Date.now().toString(36) + "-" + Math.random().toString(36).slice(2, 12);
  }
  function ownState(cid, text) { const row = ownRows.get(cid); if (row && row.classList.contains("pending")) row.querySelector(".time").textContent = text; }
  function drawOwn(item) {  // an outbox item's row (once)
    if (ownRows.has(item.cid)) return;
    const row = el("div", "row mine pending"); row.dataset.cid = item.cid;
    const body = el("div", "body"), bubble = el("div", "bubble");
    bubble.textContent = item.shown;
    body.appendChild(bubble); body.appendChild(el("div", "time", "等待发送"));
    row.appendChild(el("div", "avatar", "我")); row.appendChild(body);
    messagesEl.appendChild(row); ownRows.set(item.cid, row);
    messagesEl.scrollTop = messagesEl.scrollHeight;
  }
  function drawOutbox() { outbox.forEach(drawOwn); }
  function dropFromOutbox(cid) { const before = outbox.length; outbox = outbox.filter((i) => i.cid !== cid); if (outbox.length !== before) saveOutbox(); }
  function confirmOwn(cid, m) {  // the server stored it: the row becomes the stored message
    const row = ownRows.get(cid); dropFromOutbox(cid);
    if (!row || row.dataset.id) return;
    if (m.id) row.dataset.id = String(m.id);
    row.querySelector(".bubble").textContent = m.text; row.querySelector(".time").textContent = fmtTime(m.at);
    row.classList.remove("pending");
  }
  function forgetQueued(cid) {  // an outbox item the server has stored: dropped, and no longer awaited
    if (!outbox.some((i) => i.cid === cid)) return;
    dropFromOutbox(cid);
    if (inflight && inflight.cid === cid) settle();
  }
  function failOwn(cid, detail) {  // refused (not stored): never sent again
    dropFromOutbox(cid);
    const row = ownRows.get(cid);
    if (row) { row.classList.remove("pending"); row.classList.add("failed"); row.querySelector(".time").textContent = "发送失败"; }
    render({ sender: "system", text: "发送失败：" + detail });
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
        const r = await call("/api/widget/rating", { method: "POST", credentials: "same-origin", headers: { "content-type": "application/json" },
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
      // a callback time once the resident gave a number; until then (or without one) a message the agents answer here
      const when = handoff.callback_text ? "，工作人员会在" + handoff.callback_text + " 前回电"
        : handoff.callback_at ? "，工作人员会在 " + handoff.callback_at.slice(0, 16).replace("T", " ") + " 前回电" : "";
      banner.textContent = when ? "已登记回电（编号 " + (handoff.ticket || "") + "）" + when
        : "已登记留言（编号 " + (handoff.ticket || "") + "），工作人员上线后会在这里回复您";
      banner.classList.remove("hidden");
      $("state").textContent = when ? "已登记回电" : "已登记留言";
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
    // the 小区 link the page was opened with (/?c=…, signed by the server: `wuye community-link`)
    const link = new URLSearchParams(location.search).get("c");
    const r = await call("/api/widget/session" + (link ? "?c=" + encodeURIComponent(link) : ""), { method: "POST" });
    sessionOk = r.ok;
    if (r.ok) {
      const data = await r.json().catch(() => ({}));
      if (data.token) keepToken(data.token);
      if (data.community_link === "invalid" && !seen.has("bad-link")) {
        seen.add("bad-link");
        render({ sender: "system", text: "这个小区链接无效，已按默认小区为您服务。请向物业索取正确的链接。" });
      }
      if (data.community_link === "retired" && !seen.has("retired-link")) {
        seen.add("retired-link");
        render({ sender: "system", text: "这个小区已停止在线服务，已按默认小区为您服务。如需帮助请联系物业。" });
      }
    }
  }
  async function loadHistory() {  // false when the server could not be reached
    let r;
    try { r = await call("/api/widget/history", { credentials: "same-origin" }); } catch (e) { setRestOk(false); return false; }
    if (r.status === 401) { sessionOk = false; ensureSession().catch(() => {}); return false; }
    if (!r.ok) { setRestOk(r.status < 500); return false; }
    setRestOk(true);
    applyHistory(await r.json());
    return true;
  }
  // --- the privacy notice (issue 26): a first visit (no history) sends nothing until the resident accepts it --------
  // The acceptance is kept on the server (the chat identity, POST /api/widget/privacy); this browser also remembers
  // it, so a new identity here (cookie and token lost) records it again without asking the same person twice.
  const PRIVACY_KEY = "wuye-widget-privacy";
  let privacyOk = false, privacyShown = false;
  function setComposer(on) { [input, $("send"), $("photo")].forEach((x) => { x.disabled = !on; }); }
  function rememberedPrivacy() { try { return localStorage.getItem(PRIVACY_KEY) === "accepted"; } catch (e) { return false; } }
  async function acceptPrivacy() {
    let r = null;
    try { r = await call("/api/widget/privacy", { method: "POST", credentials: "same-origin" }); } catch (e) { r = null; }
    if (!r || !r.ok) {
      if (r && r.status === 401) { sessionOk = false; ensureSession().catch(() => {}); }
      $("privacy-error").textContent = "网络异常，请稍后再试"; return false;
    }
    try { localStorage.setItem(PRIVACY_KEY, "accepted"); } catch (e) { /* the server keeps it */ }
    privacyOk = true; privacyShown = false;
    $("privacy-notice").classList.add("hidden"); setComposer(true);
    flush();
    return true;
  }
  function showPrivacy(p) {
    privacyShown = true; setComposer(false);
    $("privacy-text").textContent = "为了解答您的问题、办理报修和缴费等业务，我们会保存您的聊天记录（" + p.messages_days +
      " 天后删除）、您留下的联系电话（事项结束 " + p.phones_days + " 天后清除）和上传的照片（" + p.photos_days +
      " 天后删除）。只有物业工作人员为处理您的事项时才会查看，每次查看都有记录。您可以随时联系物业，要求导出或删除您的数据。";
    $("privacy-notice").classList.remove("hidden");
  }
  $("privacy-accept").addEventListener("click", () => { $("privacy-error").textContent = ""; acceptPrivacy(); });
  function checkPrivacy(h) {
    // a resident with a conversation already (from before the notice existed) is not stopped mid-conversation
    if (privacyOk || (h.privacy && h.privacy.accepted) || h.messages.length || !h.privacy) { privacyOk = true; return; }
    if (rememberedPrivacy()) { acceptPrivacy().then((ok) => { if (!ok) showPrivacy(h.privacy); }); return; }
    showPrivacy(h.privacy);
  }
  function applyHistory(h) {
    checkPrivacy(h);
    if (!h.messages.length && !outbox.length) { if (!seen.has("welcome")) welcome(); }
    h.messages.forEach(render);
    setStatus(h.status, h.agent, h.handoff);
    drawOutbox();  // after a reload: what was typed offline, below the history
    flush();
  }
  // --- the connection state: '网络已断开，正在重连…' while neither the WebSocket nor REST reaches the server ----------
  function online() { return wsOk || (restMode && restOk); }
  function updateOffline() {
    $("offline").classList.toggle("hidden", !trouble || online());
    document.body.dataset.transport = wsOk ? "websocket" : (restMode ? "rest" : "connecting");
    if (!online()) outbox.forEach((i) => { if (!inflight || inflight.cid !== i.cid) ownState(i.cid, "等待发送"); });
  }
  function setRestOk(ok) { restOk = ok; if (!ok) trouble = true; updateOffline(); }
  function scheduleReconnect() {  // exponential backoff with jitter: 0.5 s, 1 s, 2 s … at most 8 s
    clearTimeout(reconnectTimer);
    const delay = Math.min(500 * 2 ** Math.min(retries, 4), 8000) * (0.75 + Math.random() * 0.5);
    retries += 1;
    reconnectTimer = setTimeout(connect, delay);
  }
  async function connect() {
    if (forcedRest || (ws && ws.readyState <= 1)) return;
    if (!sessionOk) {
      try { await ensureSession(); } catch (e) { sessionOk = false; }
      if (!sessionOk) { trouble = true; updateOffline(); drawOutbox(); scheduleReconnect(); return; }
    }
    const proto = location.protocol === "https:" ? "wss://" : "ws://";
    let sock;
    try { sock = new WebSocket(proto + location.host + "/ws/chat", token ? ["wuye", "resident." + token] : undefined); } catch (e) { startRest(); scheduleReconnect(); return; }
    ws = sock;
    const opened = setTimeout(() => { if (sock.readyState !== 1) sock.close(); }, 5000);
    sock.onopen = () => {
      clearTimeout(opened); wsOk = true; retries = 0; failedOpens = 0; trouble = false;
      stopRest(); updateOffline();  // the history frame follows, then the outbox is flushed
    };
    sock.onmessage = (ev) => {
      if (ws !== sock) return;
      let data; try { data = JSON.parse(ev.data); } catch (e) { return; }
      if (data.type === "history") applyHistory(data);
      else if (data.type === "message") { if (data.sender !== "resident") showTyping(false); render(data); }
      else if (data.type === "status") setStatus(data.status, data.agent, data.handoff);
      else if (data.type === "typing") showTyping(data.on);
      else if (data.type === "ack") acknowledged(data.client_id);
      else if (data.type === "error") {
        const cid = data.client_id || (inflight && inflight.via === "ws" ? inflight.cid : null);
        if (cid) { if (inflight && inflight.cid === cid) settle(); failOwn(cid, data.detail); flush(); }
        else render({ sender: "system", text: "发送失败：" + data.detail });
      }
    };
    sock.onclose = (ev) => {
      clearTimeout(opened);
      if (ws !== sock) return;
      const everOpened = wsOk;
      ws = null; wsOk = false; trouble = true; showTyping(false);
      if (inflight && inflight.via === "ws") settle();  // not acknowledged: sent again (same client id) on reconnect
      if (ev.code === 4401) sessionOk = false;
      failedOpens = everOpened ? 0 : failedOpens + 1;
      if (failedOpens >= 3) startRest();  // WebSockets blocked (or the server down): REST meanwhile, probing goes on
      updateOffline();
      scheduleReconnect();
    };
  }
  function startRest() {  // polling; the WebSocket is still tried with backoff and takes over once it opens
    if (restMode) return;
    restMode = true; updateOffline();
    const poll = async () => { if (await loadHistory()) flush(); };
    poll(); pollTimer = setInterval(poll, 3000);  // agent replies arrive by polling while WebSockets are out
  }
  function stopRest() {
    if (forcedRest || !restMode) return;
    restMode = false; clearInterval(pollTimer); pollTimer = null; updateOffline();
  }
  // --- sending: the outbox goes out one message at a time, in order, each with its client id -------------------------
  function settle() { clearTimeout(inflightTimer); inflight = null; }
  function acknowledged(cid) {
    if (inflight && inflight.cid === cid) settle();
    ownState(cid, fmtTime());  // a resend of a stored message gets no echo: the row is final now
    const row = ownRows.get(cid); if (row) row.classList.remove("pending");
    dropFromOutbox(cid);
    flush();
  }
  function flush() {
    if (inflight || !outbox.length || !privacyOk) return;  // kept in the page's outbox until the notice is accepted
    const item = outbox[0];
    if (wsOk && ws && ws.readyState === 1) {
      inflight = { cid: item.cid, via: "ws" }; ownState(item.cid, "发送中…");
      ws.send(JSON.stringify({ type: "message", text: item.text, photos: item.photos || [], client_id: item.cid }));
      const sock = ws;  // no answer in 20 s: the socket is taken as dead and the message resent after reconnecting
      inflightTimer = setTimeout(() => { if (inflight && inflight.cid === item.cid && ws === sock) sock.close(); }, 20000);
    } else if (restMode) restSend(item);
  }
  async function restSend(item) {
    inflight = { cid: item.cid, via: "rest" }; ownState(item.cid, "发送中…"); showTyping(true);
    let r, data;
    try {
      r = await call("/api/widget/messages", { method: "POST", credentials: "same-origin", headers: { "content-type": "application/json" },
        body: JSON.stringify({ text: item.text, photos: item.photos || [], client_id: item.cid }) });
      data = await r.json().catch(() => ({}));
    } catch (e) { r = null; }
    showTyping(false);
    if (!inflight || inflight.cid !== item.cid) return;  // the WebSocket took over meanwhile
    settle();
    if (!r || r.status >= 500) { setRestOk(false); ownState(item.cid, "等待发送"); return; }  // kept: sent again later
    setRestOk(true);
    if (r.status === 401) { sessionOk = false; await ensureSession().catch(() => {}); setTimeout(flush, 500); return; }
    if (!r.ok) failOwn(item.cid, data.detail || r.status);
    else dropFromOutbox(item.cid);  // the history (next) confirms the row with the stored copy
    await loadHistory();
    flush();
  }
  function send(text, shown) {
    text = (text || "").trim();
    if (!text && !pendingPhotos.length) return;
    if (privacyShown) return;  // the welcome's buttons too: nothing is typed for sending before the notice is accepted
    setChips([]); closeRatingCards();
    const item = { cid: newClientId(), text: text, shown: shown || text || "[图片]", photos: pendingPhotos, at: new Date().toISOString() };
    pendingPhotos = [];
    outbox.push(item); saveOutbox(); drawOwn(item); flush();
    if (!online()) updateOffline();
  }
  $("composer").addEventListener("submit", (e) => { e.preventDefault(); const t = input.value; input.value = ""; send(t); });
  $("photo").addEventListener("change", async (e) => {
    const file = e.target.files[0];
    if (!file) return;
    const form = new FormData(); form.append("file", file);
    const r = await call("/api/widget/upload", { method: "POST", body: form, credentials: "same-origin" });
    const data = await r.json();
    if (!r.ok) { render({ sender: "system", text: "图片上传失败：" + data.detail }); return; }
    pendingPhotos.push(data.url);
    render({ sender: "system", text: "已添加一张照片，发送描述后随报修一起提交" });
    e.target.value = "";
  });
  setInterval(() => { if (wsOk && ws.readyState === 1) ws.send(JSON.stringify({ type: "ping" })); }, 20000);
  window.addEventListener("online", () => { retries = 0; if (!forcedRest) connect(); if (restMode) loadHistory().then(flush); });
  window.wuyeWidget = { send: send, transport: () => (wsOk ? "websocket" : (restMode ? "rest" : "connecting")),
    queued: () => outbox.map((i) => i.shown), privacy: () => (privacyOk ? "accepted" : (privacyShown ? "asked" : "unknown")) };
  // 通知公告: the live notices (停水/停电/电梯维保/活动…) for the resident's building, or the 小区's, as a banner on open.
  async function loadNotices() {
    const community = new URLSearchParams(location.search).get("community");
    try {
      const r = await call("/api/widget/notices" + (community ? "?community=" + encodeURIComponent(community) : ""), { credentials: "same-origin" });
      if (!r.ok) return;
      const data = await r.json(), box = $("notice-banner");
      box.replaceChildren();
      (data.notices || []).forEach((n) => {
        const item = el("div", "notice"); item.dataset.id = String(n.id);
        item.appendChild(el("div", "notice-title", "📢 " + n.title));
        item.appendChild(el("div", "notice-when", n.scope_label + " " + n.when + (n.state === "active" ? "（进行中）" : "")));
        item.appendChild(el("div", "notice-text", n.text));
        if (n.poll_id) {  // a notice inviting a vote: the bot offers the poll (router rule 0, /poll)
          const vote = el("button", "notice-poll", "参与投票"); vote.type = "button";
          vote.addEventListener("click", () => send("/poll " + n.poll_id, "参与投票")); item.appendChild(vote);
        }
        box.appendChild(item);
      });
      if (!(data.notices || []).length) { box.classList.add("hidden"); return; }
      const close = el("button", "notice-close", "×"); close.type = "button"; close.title = "收起通知";
      close.addEventListener("click", () => box.classList.add("hidden"));
      box.appendChild(close);
      box.classList.remove("hidden");
    } catch (e) { /* the banner is optional: the chat works without it */ }
  }
  tokenFromParent().then(ensureSession).catch(() => { sessionOk = false; }).then(() => {
    loadNotices();
    // a link to a poll (…/widget?poll=12, in a notice or a message): the bot offers it on open
    const poll = new URLSearchParams(location.search).get("poll");
    if (/^\d{1,9}$/.test(poll || "")) send("/poll " + poll, "参与投票");
    if (new URLSearchParams(location.search).get("transport") === "rest" || !("WebSocket" in window)) { forcedRest = true; startRest(); }
    else connect();
  });
}
