// Agent console (sign-in and the shared helpers: staff.js): live queue (urgent first), claim → context card + live transcript, reply/note/resolve.
(function () {
  "use strict";
  const { $, el, api } = window.wuyeStaff;
  const PRIO = { urgent: "紧急", high: "高", normal: "普通" };
  let me = null, ws = null, current = null, knownUrgent = new Set(), firstQueue = true, titleTimer = null;

  function alertUrgent() {
    let on = false, n = 0; clearInterval(titleTimer);
    titleTimer = setInterval(() => { document.title = (on = !on) ? "【紧急】新的紧急会话" : "客服工作台"; if (++n > 20) { clearInterval(titleTimer); document.title = "客服工作台"; } }, 700);
    try {
      const ctx = new (window.AudioContext || window.webkitAudioContext)();
      [0, 0.3].forEach((t) => { const o = ctx.createOscillator(), g = ctx.createGain(); o.frequency.value = 880; o.connect(g); g.connect(ctx.destination);
        g.gain.value = 0.2; o.start(ctx.currentTime + t); o.stop(ctx.currentTime + t + 0.2); });
    } catch (e) { /* no audio device */ }
    document.body.dataset.urgentAlert = String(Date.now());
  }
  function renderQueue(queue) {
    const box = $("queue"); box.replaceChildren();
    $("qcount").textContent = "(" + queue.length + ")";
    let fresh = false;
    queue.forEach((q) => {
      if (q.priority === "urgent" && !knownUrgent.has(q.handoff_id)) { knownUrgent.add(q.handoff_id); if (!firstQueue) fresh = true; }
      const item = el("div", "qitem " + q.priority);
      item.dataset.handoff = q.handoff_id;
      const head = el("div"); head.appendChild(el("span", "prio " + q.priority, PRIO[q.priority] || q.priority));
      head.appendChild(document.createTextNode(" " + (q.room || "未绑定") + " · " + q.channel + (q.ticket ? " · 留言 " + q.ticket : "")));
      item.appendChild(head);
      item.appendChild(el("div", "summary", q.summary));
      item.appendChild(el("div", "meta", "原因：" + q.reasons.join("；") + " · 已等待 " + Math.round(q.waiting_seconds / 60) + " 分钟"));
      const b = el("button", "btn", "认领"); b.addEventListener("click", () => claim(q.handoff_id)); item.appendChild(b);
      const v = el("button", "btn secondary", "查看"); v.addEventListener("click", () => open(q.conversation_id)); item.appendChild(v);
      box.appendChild(item);
    });
    if (fresh) alertUrgent();
    firstQueue = false;
  }
  function renderMine(mineList) {
    const mine = $("mine"); mine.replaceChildren();
    mineList.forEach((c) => { const d = el("div", "qitem " + (c.priority || ""), "会话 #" + c.conversation_id + " · " + c.channel);
      d.addEventListener("click", () => open(c.conversation_id)); mine.appendChild(d); });
  }
  async function refresh() {
    try { const data = await api("/api/agent/queue"); renderQueue(data.queue); renderMine(data.mine); } catch (e) { /* signed out */ }
  }
  function connect() {
    const proto = location.protocol === "https:" ? "wss://" : "ws://";
    ws = new WebSocket(proto + location.host + "/ws/agent");
    ws.onopen = () => { $("conn").textContent = "● 在线"; if (current) ws.send(JSON.stringify({ type: "watch", conversation_id: current.id })); };
    ws.onmessage = (ev) => {
      const data = JSON.parse(ev.data);
      if (data.type === "queue") refresh();
      else if (data.type === "message" && current && data.conversation_id === current.id) appendMsg(data);
      else if (data.type === "status" && current && data.conversation_id === current.id) { current.status = data.status; updateControls(); }
    };
    ws.onclose = () => { $("conn").textContent = "○ 重新连接中…"; setTimeout(connect, 2000); };
  }
  setInterval(() => { if (ws && ws.readyState === 1) ws.send(JSON.stringify({ type: "ping" })); }, 20000);

  const seen = new Set();
  function appendMsg(m) {
    if (seen.has(m.id)) return; seen.add(m.id);
    const who = { resident: "业主", bot: "智能助手", agent: "客服 " + (m.agent || ""), system: "系统", note: "内部备注 " + (m.agent || "") }[m.sender] || m.sender;
    const d = el("div", "tmsg " + m.sender); d.appendChild(el("div", "who", who + " · " + m.at.slice(11, 16)));
    d.appendChild(el("div", "text", m.text)); $("log").appendChild(d); $("log").scrollTop = $("log").scrollHeight;
  }
  function renderCard(conv) {
    const card = $("card"); card.replaceChildren();
    const h = conv.handoff; if (!h) { card.textContent = "无转人工记录"; return; }
    const c = h.context || {}; const hh = c.household;
    const dl = el("dl");
    const add = (k, v) => { dl.appendChild(el("dt", "", k)); dl.appendChild(el("dd", "", v)); };
    add("优先级", PRIO[h.priority] || h.priority); add("转人工原因", (h.reasons || []).join("；"));
    add("情绪", c.emotion ? c.emotion.label + " " + (c.emotion.score || "") : "-");
    add("渠道", c.channel || conv.channel);
    if (hh) { add("房屋", hh.room); add("业主", hh.owner + " " + hh.phone); add("欠费", hh.fees_owed + " 元 " + (hh.unpaid_periods || []).join("、"));
      add("未完工单", (hh.open_work_orders || []).map((o) => o.number + " " + o.description + "（" + o.status + "）").join("；") || "无");
      add("近期转人工", String(hh.recent_handoffs_90d)); }
    else add("房屋", "未绑定（未验证身份）");
    add("识别结果", (c.readings || []).map((r) => r.text + " → " + (r.intent ? r.intent.name + " " + r.intent.confidence : "")).join("\n"));
    add("实体", (c.entities || []).map((e) => e.entity + "=" + e.value).join("，") || "无");
    add("机器人已答", (c.bot_answers || []).join("\n—\n") || "无");
    card.appendChild(dl);
  }
  function updateControls() {
    const mineOpen = current && current.status === "open" && current.assignee_id === me.id;
    $("replybox").classList.toggle("hidden", !mineOpen); $("actions").classList.toggle("hidden", !mineOpen);
  }
  async function open(conversationId) {
    const conv = await api("/api/agent/conversations/" + conversationId);
    current = conv; seen.clear(); $("log").replaceChildren();
    $("conv-title").textContent = "会话 #" + conv.id + " · " + (conv.status === "open" ? "处理中" : conv.status);
    conv.messages.forEach(appendMsg); renderCard(conv); updateControls();
    if (ws && ws.readyState === 1) ws.send(JSON.stringify({ type: "watch", conversation_id: conv.id }));
  }
  async function claim(handoffId) {
    try { const r = await api("/api/agent/handoffs/" + handoffId + "/claim", { method: "POST" }); await open(r.conversation_id); refresh(); }
    catch (e) { alert(e.code === "already_claimed" ? e.message : "认领失败：" + e.message); refresh(); }
  }
  async function sendReply() {
    const text = $("reply").value.trim(); if (!text || !current) return;
    $("reply").value = "";
    await api("/api/agent/conversations/" + current.id + "/messages", { method: "POST", body: JSON.stringify({ text: text, private: $("private").checked }) });
  }
  $("send").addEventListener("click", sendReply);
  $("reply").addEventListener("keydown", (e) => { if (e.key === "Enter") sendReply(); });
  $("resolve").addEventListener("click", async () => { await api("/api/agent/conversations/" + current.id + "/resolve", { method: "POST" }); await open(current.id); refresh(); });
  $("release").addEventListener("click", async () => { await api("/api/agent/conversations/" + current.id + "/release", { method: "POST" }); await open(current.id); refresh(); });
  window.wuyeStaff.start({
    signedIn: (signedIn) => {
      me = signedIn;
      $("me").textContent = me.display_name + (me.role === "admin" ? "（管理员）" : "");
      $("admin-link").classList.toggle("hidden", me.role !== "admin");
      connect(); refresh();
    },
  });
})();
