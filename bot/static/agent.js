// Agent console (sign-in and the shared helpers: staff.js): live queue (urgent first), claim → context card + live transcript, reply/note/resolve,
// 快捷回复 (type /shortcut or use the picker) and a knowledge-base search that inserts the answer for the resident's 小区.
// Only Chinese labels are shown: the API keeps codes and adds *_label fields (bot/labels.py).
import { $, el } from "/static/dom.js";
import { api } from "/static/api.js";
import { start } from "/static/staff.js";
{
  const PRIO = { urgent: "紧急", high: "高", normal: "普通" };
  const STATUS = { bot: "机器人接待", pending: "排队中", open: "处理中", resolved: "已解决", queued: "排队中", callback: "待回电", claimed: "处理中" };
  let quickReplies = [];
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
  // the queue as this agent sees it: their teams' items and the general queue; other teams' under 其他 on request
  let showOthers = false;
  function renderQueue(queue, others) {
    const box = $("queue"); box.replaceChildren();
    $("qcount").textContent = "(" + queue.length + ")";
    let fresh = false;
    others = others || [];
    $("others-toggle").classList.toggle("hidden", !others.length);
    $("others-toggle").textContent = (showOthers ? "收起" : "显示") + "其他团队的会话（" + others.length + "）";
    $("others").classList.toggle("hidden", !showOthers || !others.length);
    $("others").replaceChildren();
    if (others.length) $("others").appendChild(el("h3", "", "其他"));
    queue.map((q) => [box, q]).concat(others.map((q) => [$("others"), q])).forEach(([target, q]) => {
      if (q.priority === "urgent" && !knownUrgent.has(q.handoff_id)) { knownUrgent.add(q.handoff_id); if (!firstQueue) fresh = true; }
      const item = el("div", "qitem " + q.priority);
      item.dataset.handoff = q.handoff_id;
      const head = el("div"); head.appendChild(el("span", "prio " + q.priority, q.priority_label || PRIO[q.priority] || "普通"));
      head.appendChild(document.createTextNode(" " + (q.status_label || STATUS[q.status] || "") + " · " + (q.room || "未绑定") + " · " + (q.channel_label || "") + (q.ticket ? " · 留言 " + q.ticket : "")));
      if (q.callback_text) {  // the time promised to the resident; past it, the promise is broken: flagged
        const late = Date.parse(q.callback_at) < Date.now();
        head.appendChild(el("span", "due" + (late ? " late" : ""), " · " + (late ? "回电已超时（承诺 " + q.callback_text + " 前）" : "回电 " + q.callback_text + " 前")));
      }
      item.appendChild(head);
      item.appendChild(el("div", "summary", q.summary));
      item.appendChild(el("div", "meta", "原因：" + (q.reasons_labels || []).join("；") + " · 已等待 " + Math.round(q.waiting_seconds / 60) + " 分钟" +
        (q.team_label ? " · 团队：" + q.team_label : "")));
      const b = el("button", "btn", "认领"); b.addEventListener("click", () => claim(q.handoff_id)); item.appendChild(b);
      const v = el("button", "btn secondary", "查看"); v.addEventListener("click", () => open(q.conversation_id)); item.appendChild(v);
      target.appendChild(item);
    });
    if (fresh) alertUrgent();
    firstQueue = false;
  }
  function renderMine(mineList) {
    const mine = $("mine"); mine.replaceChildren();
    // what tells two of them apart at a glance: the room, the callback ticket and its promised time, the reason
    mineList.forEach((c) => { const d = el("div", "qitem " + (c.priority || ""));
      d.dataset.conversation = String(c.conversation_id);
      d.appendChild(el("div", "", "会话 #" + c.conversation_id + " · " + (c.priority_label || "") + " · " + (c.room || "未绑定") + " · " + (c.channel_label || "") +
        (c.ticket ? " · 留言 " + c.ticket : "") + (c.callback_text ? " · 回电 " + c.callback_text + " 前" : "")));
      if (c.reasons_labels && c.reasons_labels.length) d.appendChild(el("div", "meta", "原因：" + c.reasons_labels.join("、")));
      d.addEventListener("click", () => open(c.conversation_id)); mine.appendChild(d); });
  }
  let myTeamIds = new Set();
  function renderTeams(myTeams) {
    myTeamIds = new Set((myTeams || []).map((t) => t.id));
    $("my-teams").textContent = (myTeams || []).length ? "我的团队：" + myTeams.map((t) => t.name).join("、") : "";
  }
  async function refresh() {
    try {
      const data = await api("/api/agent/queue"); renderQueue(data.queue, data.others); renderMine(data.mine); renderMe(data.me);
      renderTeams(data.my_teams);
    } catch (e) { /* signed out */ }
  }
  // A queue frame of /ws/agent is the whole (in-scope) queue: split here as the server splits GET /api/agent/queue
  // (bot/realtime/live.py agent_queue_json: urgent, then my teams', then the general queue, each in queue order;
  // other teams' under 其他), instead of reading the whole queue again per console per change. The agent's own
  // conversations and state follow with a small read, at once after a quiet moment and at most every 3 s.
  function splitQueue(items) {
    const own = items.filter((q) => q.team_id == null || myTeamIds.has(q.team_id));
    const rank = (q) => (q.priority !== "urgent" ? 2 : 0) + (q.team_id == null ? 1 : 0);
    own.sort((a, b) => rank(a) - rank(b));  // stable: queue order within
    return [own, items.filter((q) => q.team_id != null && !myTeamIds.has(q.team_id))];
  }
  let mineTimer = null, mineAt = 0;
  async function refreshMine() {
    mineAt = Date.now(); mineTimer = null;
    try { const data = await api("/api/agent/queue?queue=false"); renderMine(data.mine); renderMe(data.me); renderTeams(data.my_teams); }
    catch (e) { /* signed out */ }
  }
  function refreshMineSoon() {
    if (mineTimer) return;
    mineTimer = setTimeout(refreshMine, Math.max(0, 3000 - (Date.now() - mineAt)));
  }
  // 在线 / 忙碌 / 小休 / 离线, the load against the cap, and a gentle prompt after a run of angry conversations
  let dismissedStreak = Number(sessionStorage.getItem("wuye-break-dismissed") || 0);
  function renderMe(state) {
    if (!state) return;
    $("agent-state").value = state.state;
    document.body.dataset.agentState = state.state;
    $("load").textContent = "会话 " + state.open_conversations + "/" + state.cap;
    const show = !!state.break_prompt && state.angry_streak > dismissedStreak;
    $("break-text").textContent = state.break_prompt || "";
    $("break-prompt").classList.toggle("hidden", !show);
  }
  async function setState(value) {
    try { renderMe(await api("/api/agent/state", { method: "POST", body: JSON.stringify({ state: value }) })); }
    catch (e) { alert("状态没有改成：" + e.message); refresh(); }
  }
  $("agent-state").addEventListener("change", () => setState($("agent-state").value));
  $("take-break").addEventListener("click", () => setState("break"));
  $("dismiss-break").addEventListener("click", () => {
    // asked again only after one more angry conversation
    dismissedStreak = Number(($("break-text").textContent.match(/\d+/) || [0])[0]);
    sessionStorage.setItem("wuye-break-dismissed", String(dismissedStreak)); $("break-prompt").classList.add("hidden");
  });
  $("others-toggle").addEventListener("click", () => { showOthers = !showOthers; refresh(); });
  function connect() {
    const proto = location.protocol === "https:" ? "wss://" : "ws://";
    ws = new WebSocket(proto + location.host + "/ws/agent");
    ws.onopen = () => { $("conn").textContent = "● 在线"; if (current) ws.send(JSON.stringify({ type: "watch", conversation_id: current.id })); };
    ws.onmessage = (ev) => {
      const data = JSON.parse(ev.data);
      if (data.type === "queue" && Array.isArray(data.queue)) { const [own, others] = splitQueue(data.queue); renderQueue(own, others); refreshMineSoon(); }
      else if (data.type === "queue") refresh();
      else if (data.type === "message" && current && data.conversation_id === current.id) appendMsg(data);
      else if (data.type === "status" && current && data.conversation_id === current.id) { current.status = data.status; current.status_label = data.status_label; showTitle(); updateControls(); }
    };
    ws.onclose = (ev) => {
      // 4401: signed out (here or in another tab) or the session expired; 4403: this account has no console
      if (ev.code === 4401 || ev.code === 4403) { location.reload(); return; }
      $("conn").textContent = "○ 重新连接中…"; setTimeout(connect, 2000);
    };
  }
  setInterval(() => { if (ws && ws.readyState === 1) ws.send(JSON.stringify({ type: "ping" })); }, 20000);

  const seen = new Set();
  function appendMsg(m) {
    if (seen.has(m.id)) return; seen.add(m.id);
    const who = { resident: "业主", bot: "智能助手", agent: "客服 " + (m.agent || ""), system: "系统", note: "内部备注 " + (m.agent || "") }[m.sender] || m.sender;
    const d = el("div", "tmsg " + m.sender); d.appendChild(el("div", "who", who + " · " + m.at.slice(11, 16)));
    const text = el("div", "text", m.flag ? m.flag.masked_text : m.text);
    if (m.flag) {  // an insult or a threat (the bot's emotion cues): masked until the agent chooses to read it
      text.classList.add("masked"); text.title = "点击显示原文"; text.setAttribute("role", "button"); text.tabIndex = 0;
      const reveal = () => { text.textContent = m.text; text.classList.remove("masked"); text.removeAttribute("role"); text.title = ""; };
      text.addEventListener("click", reveal, { once: true });
      text.addEventListener("keydown", (e) => { if (e.key === "Enter") reveal(); });
    }
    d.appendChild(text); $("log").appendChild(d); $("log").scrollTop = $("log").scrollHeight;
  }
  function renderCard(conv) {
    const card = $("card"); card.replaceChildren();
    const h = conv.handoff; if (!h) { card.textContent = "无转人工记录"; return; }
    const c = h.context || {}; const hh = c.household;
    const dl = el("dl");
    const add = (k, v) => { dl.appendChild(el("dt", "", k)); dl.appendChild(el("dd", "", v)); };
    const L = h.context_labels || {};
    add("优先级", h.priority_label || PRIO[h.priority] || "普通"); add("状态", h.status_label || STATUS[h.status] || "");
    add("转人工原因", (h.reasons_labels || []).join("；") || "无");
    // a callback ticket (留言): the number to call and when it was promised, or that the answer goes in the chat
    const cb = h.callback;
    if (cb) add("回电", "留言 " + h.ticket + " · " + (cb.phone ? cb.phone + (cb.window ? "，" + cb.window : "") +
      (cb.text ? "，承诺 " + cb.text + " 前回电" : "") : "未留电话，请在会话中回复"));
    const emo = L.emotion;
    if (emo) {
      const dd = el("dd", "emotion"); const pct = Math.round((emo.score || 0) * 100);
      const meter = el("span", "meter " + (emo.label || "")); const fill = el("span"); fill.style.width = pct + "%"; meter.appendChild(fill);
      meter.title = "把握 " + pct + "%"; dd.appendChild(meter); dd.appendChild(document.createTextNode(emo.label_zh + " " + pct + "%" + ((emo.cues_labels || []).length ? "（" + emo.cues_labels.join("、") + "）" : "")));
      dl.appendChild(el("dt", "", "情绪")); dl.appendChild(dd);
    } else add("情绪", "-");
    add("渠道", L.channel || conv.channel_label || "");
    if (hh) { add("房屋", hh.room); add("业主", hh.owner + " " + hh.phone); add("欠费", hh.fees_owed + " 元 " + (hh.unpaid_periods || []).join("、"));
      // the visit time asked for, in words (a card stored before it was added has none)
      add("未完工单", (hh.open_work_orders || []).map((o) => o.number + " " + o.description + "（" + o.status +
        (o.preferred_time_text ? "，期望上门：" + o.preferred_time_text : "") + "）").join("；") || "无");
      add("近期转人工", String(hh.recent_handoffs_90d)); }
    else add("房屋", "未绑定（未验证身份）");
    add("识别结果", (L.readings || []).map((r) => r.text + " → " + r.intent_label + (r.confidence != null ? " " + Math.round(r.confidence * 100) + "%" : "")).join("\n") || "无");
    add("实体", (L.entities || []).map((e) => e.label + "：" + e.value).join("，") || "无");
    add("机器人已答", (c.bot_answers || []).join("\n—\n") || "无");
    card.appendChild(dl);
    if (conv.triage) renderTriage(conv);
    if (c.incident) renderIncident(c.incident.id, conv.id);
  }
  // A borderline emergency whose resident has not answered 是 / 不是 yet: the agent handling it may answer in the
  // resident's place (after a call, or when the chat makes it plain) — page the on-duty phone now, or settle that there
  // is no danger so the timeout pages nobody.
  function renderTriage(conv) {
    const box = el("div", "triage"); box.id = "triage-box"; box.setAttribute("role", "group"); box.setAttribute("aria-label", "紧急确认");
    const due = conv.triage.due ? new Date(conv.triage.due) : null;
    const at = due && !isNaN(due) ? String(due.getHours()).padStart(2, "0") + ":" + String(due.getMinutes()).padStart(2, "0") : "";
    box.appendChild(el("h3", "", "⚠️ 疑似紧急，业主尚未确认"));
    box.appendChild(el("div", "sub", (at ? at + " 前" : "超时") + "业主仍未回复将自动通知值班。您已了解情况的话，可以替业主确认："));
    const mine = conv.status === "open" && conv.assignee_id === me.id;
    const error = el("div", "error");
    const choose = (danger) => async () => {
      box.querySelectorAll("button").forEach((b) => { b.disabled = true; });
      error.textContent = "";
      try {
        const r = await api("/api/agent/conversations/" + conv.id + "/triage", { method: "POST", body: JSON.stringify({ danger: danger }) });
        // the card again (priority and reasons changed), with what was done under it
        if (current && current.id === conv.id) await open(conv.id);
        const done = el("div", "done", danger ? (r.paged ? "已通知值班人员" : "未能发送值班短信（已达通知上限），请直接电话联系值班") : "已按非紧急处理，不会自动通知值班");
        done.id = "triage-done"; $("card").appendChild(done);
        refresh();
      } catch (e) { error.textContent = e.message; box.querySelectorAll("button").forEach((b) => { b.disabled = false; }); }
    };
    const yes = el("button", "btn danger", "确认紧急，立即通知值班"); yes.id = "triage-danger"; yes.type = "button";
    const no = el("button", "btn secondary", "不是紧急，取消自动通知"); no.id = "triage-calm"; no.type = "button";
    yes.addEventListener("click", choose(true)); no.addEventListener("click", choose(false));
    if (mine) { box.appendChild(yes); box.appendChild(no); } else box.appendChild(el("div", "sub", "认领会话后可替业主确认。"));
    box.appendChild(error);
    $("card").appendChild(box);
  }
  // An outage several residents reported (停水/停电…): who reported it, and one resolution that every reporter is sent
  // (widget, WeChat, integrations) — the incident, not just this conversation.
  async function renderIncident(id, conversationId) {
    let inc;
    try { inc = await api("/api/agent/incidents/" + id); } catch (e) { return; }
    if (!current || current.id !== conversationId) return;  // another conversation was opened meanwhile
    const old = $("incident-box"); if (old) old.remove();
    const box = el("div", "incident"); box.id = "incident-box";
    box.appendChild(el("h3", "", "📢 " + inc.scope_label + inc.category_label + "（" + inc.status_label + "）"));
    box.appendChild(el("div", "sub", inc.reports + " 位业主报告" + (inc.work_orders.length ? "；工单 " + inc.work_orders.join("、") : "")));
    const list = el("ul", "reporters");
    (inc.reporters || []).forEach((r) => {
      const li = el("li", "", "");
      if (inc.status === "open") { const cb = el("input"); cb.type = "checkbox"; cb.value = r.conversation_id; cb.className = "split-pick"; li.appendChild(cb); }
      li.appendChild(document.createTextNode((r.room || "未绑定业主") + " · " + (r.at || "").slice(11, 16) + " · " + (r.text || "") + (r.told_resolved_at ? " ✓ 已通知" : "")));
      list.appendChild(li);
    });
    box.appendChild(list);
    if (inc.status !== "open") { box.appendChild(el("div", "sub", "处理结果：" + (inc.resolution || ""))); $("card").appendChild(box); return; }
    const text = el("textarea"); text.id = "incident-resolution"; text.rows = 2; text.maxLength = 1000;
    text.placeholder = "处理结果，会发送给全部 " + inc.reports + " 位报告的业主（例如：7栋已恢复供水，感谢耐心等待）";
    const button = el("button", "btn", "解决事件并通知全部业主"); button.id = "incident-resolve"; button.type = "button";
    const error = el("div", "error");
    button.addEventListener("click", async () => {
      const resolution = text.value.trim();
      if (!resolution) { error.textContent = "请填写处理结果"; return; }
      button.disabled = true; error.textContent = "";
      try {
        const r = await api("/api/agent/incidents/" + id + "/resolve", { method: "POST", body: JSON.stringify({ resolution: resolution }) });
        current.openIncident = false;
        await renderIncident(id, conversationId);
        $("incident-box").appendChild(el("div", "done", "已通知 " + r.told + " 位业主"));
        refresh();
      } catch (e) { error.textContent = e.message; button.disabled = false; }
    });
    box.appendChild(text); box.appendChild(button); box.appendChild(error);
    // one problem reported as two incidents: merged, so one resolution tells all; reports of another problem: split
    const tools = el("div", "incident-tools");
    const split = el("button", "btn secondary", "拆分所选报告为新事件"); split.id = "incident-split"; split.type = "button";
    split.addEventListener("click", async () => {
      const ids = [...box.querySelectorAll(".split-pick:checked")].map((c) => Number(c.value));
      if (!ids.length) { error.textContent = "请先勾选要拆分出去的报告"; return; }
      try { const r = await api("/api/agent/incidents/" + id + "/split", { method: "POST", body: JSON.stringify({ conversation_ids: ids }) });
        await renderIncident(id, conversationId); $("incident-box").appendChild(el("div", "done", "已拆分为新事件 #" + r.new.id + "（" + r.new.reports + " 位业主）")); }
      catch (e) { error.textContent = e.message; }
    });
    tools.appendChild(split);
    let others = [];
    try { others = (await api("/api/agent/incidents")).incidents.filter((o) => o.id !== id && o.status === "open" && o.category === inc.category && o.community_id === inc.community_id); } catch (e) { /* no merge offered */ }
    if (others.length) {
      const pick = el("select"); pick.id = "incident-merge-into";
      others.forEach((o) => { const opt = el("option", "", "#" + o.id + " " + o.scope_label + o.category_label + "（" + o.reports + " 位业主）"); opt.value = o.id; pick.appendChild(opt); });
      const merge = el("button", "btn secondary", "并入所选事件"); merge.id = "incident-merge"; merge.type = "button";
      merge.addEventListener("click", async () => {
        try { const r = await api("/api/agent/incidents/" + id + "/merge", { method: "POST", body: JSON.stringify({ into: Number(pick.value) }) });
          current.openIncident = false; await renderIncident(r.incident.id, conversationId);
          $("incident-box").appendChild(el("div", "done", "已并入事件 #" + r.incident.id + "，共 " + r.incident.reports + " 位业主")); refresh(); }
        catch (e) { error.textContent = e.message; }
      });
      tools.appendChild(pick); tools.appendChild(merge);
    }
    box.appendChild(tools);
    current.openIncident = true;
    $("card").appendChild(box);
  }
  function updateControls() {
    const mineOpen = current && current.status === "open" && current.assignee_id === me.id;
    $("replybox").classList.toggle("hidden", !mineOpen); $("actions").classList.toggle("hidden", !mineOpen);
  }
  async function open(conversationId) {
    const conv = await api("/api/agent/conversations/" + conversationId);
    current = conv; seen.clear(); $("log").replaceChildren(); hideQuickReplies(); loadQuickReplies();
    showTitle();
    conv.messages.forEach(appendMsg); renderCard(conv); updateControls();
    if (ws && ws.readyState === 1) ws.send(JSON.stringify({ type: "watch", conversation_id: conv.id }));
  }
  async function claim(handoffId) {
    try { const r = await api("/api/agent/handoffs/" + handoffId + "/claim", { method: "POST" }); await open(r.conversation_id); refresh(); }
    catch (e) { alert(e.code === "already_claimed" ? e.message : "认领失败：" + e.message); refresh(); }
  }
  async function sendReply() {
    const text = $("reply").value.trim(); if (!text || !current) return;
    $("reply").value = ""; hideQuickReplies();
    await api("/api/agent/conversations/" + current.id + "/messages", { method: "POST", body: JSON.stringify({ text: text, private: $("private").checked }) });
  }
  function showTitle() {
    if (current) $("conv-title").textContent = "会话 #" + current.id + " · " + (current.status_label || STATUS[current.status] || "");
  }
  $("send").addEventListener("click", sendReply);

  // --- 快捷回复: "/shortcut" in the reply box (Tab, Enter or a click inserts), or the picker button ---
  // rendered for the open conversation's 小区 ({emergency_phone}… in a reply): reloaded when another one is opened
  async function loadQuickReplies() { try { quickReplies = (await api("/api/agent/quick-replies" + (current ? "?conversation_id=" + current.id : ""))).quick_replies; } catch (e) { quickReplies = []; } }
  let qrMatches = [], qrActive = 0;
  function slashToken() { const m = /(^|\s)\/(\S*)$/.exec($("reply").value); return m ? m[2] : null; }
  function showQuickReplies(filter) {
    const box = $("qr-list"); box.replaceChildren();
    qrMatches = quickReplies.filter((q) => filter === null || q.shortcut.startsWith(filter) || q.title.includes(filter));
    qrActive = 0;
    if (!qrMatches.length) { box.classList.add("hidden"); return; }
    qrMatches.forEach((q, i) => {
      const item = el("div", "qr-item" + (i === 0 ? " active" : "")); item.dataset.shortcut = q.shortcut; item.setAttribute("role", "option");
      item.appendChild(el("b", "", "/" + q.shortcut)); item.appendChild(document.createTextNode(q.title)); item.appendChild(el("small", "", q.rendered || q.text));
      item.addEventListener("mousedown", (e) => { e.preventDefault(); insertQuickReply(q); });
      box.appendChild(item);
    });
    box.classList.remove("hidden");
  }
  function hideQuickReplies() { $("qr-list").classList.add("hidden"); qrMatches = []; }
  function insertQuickReply(q) {
    const input = $("reply"); const token = slashToken();
    const text = q.rendered || q.text;
    input.value = token !== null ? input.value.replace(/\/\S*$/, text) : (input.value ? input.value + " " : "") + text;
    hideQuickReplies(); input.focus();
  }
  $("reply").addEventListener("input", () => { const t = slashToken(); if (t === null) hideQuickReplies(); else showQuickReplies(t); });
  $("reply").addEventListener("keydown", (e) => {
    const open = !$("qr-list").classList.contains("hidden") && qrMatches.length;
    if (open && (e.key === "ArrowDown" || e.key === "ArrowUp")) {
      e.preventDefault(); qrActive = (qrActive + (e.key === "ArrowDown" ? 1 : qrMatches.length - 1)) % qrMatches.length;
      $("qr-list").querySelectorAll(".qr-item").forEach((n, i) => n.classList.toggle("active", i === qrActive)); return;
    }
    if (open && !e.isComposing && (e.key === "Enter" || e.key === "Tab")) { e.preventDefault(); insertQuickReply(qrMatches[qrActive]); return; }
    if (e.key === "Escape") { hideQuickReplies(); return; }
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); sendReply(); }
  });
  document.addEventListener("click", (e) => { if (!e.target.closest("#qr-list, #qr-toggle, #reply")) hideQuickReplies(); });
  $("qr-toggle").addEventListener("click", async () => {
    if (!$("qr-list").classList.contains("hidden")) { hideQuickReplies(); return; }
    await loadQuickReplies(); showQuickReplies(null);
  });

  // --- 知识库: search titles and questions; 插入 puts the answer, rendered for this resident's 小区, in the reply box ---
  $("kb-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const q = $("kb-q").value.trim(); const box = $("kb-results"); box.replaceChildren(); if (!q) return;
    let data;
    try { data = await api("/api/agent/knowledge?q=" + encodeURIComponent(q) + (current ? "&conversation_id=" + current.id : "")); }
    catch (err) { box.appendChild(el("div", "error", "搜索失败：" + err.message)); return; }
    $("kb-community").textContent = "按小区「" + data.community.name + "」显示答案";
    if (!data.results.length) box.appendChild(el("div", "sub", "没有找到相关条目"));
    data.results.forEach((r) => {
      const item = el("div", "kb-item"); item.dataset.id = r.id;
      item.appendChild(el("b", "", r.title)); item.appendChild(el("div", "answer", r.answer));
      if (r.questions.length) item.appendChild(el("div", "sub", "问法：" + r.questions.join(" / ")));
      const b = el("button", "btn", "插入回复"); b.type = "button";
      b.addEventListener("click", () => { const input = $("reply"); input.value = (input.value ? input.value + "\n" : "") + r.answer; input.focus(); });
      item.appendChild(b); box.appendChild(item);
    });
  });
  $("resolve").addEventListener("click", async () => {
    // resolving the conversation does not resolve the outage: its reporters would hear nothing
    if (current.openIncident && !confirm("这个会话关联的事件还没有解决，报告的业主不会收到处理结果。仍然只结束这个会话吗？")) return;
    await api("/api/agent/conversations/" + current.id + "/resolve", { method: "POST" }); await open(current.id); refresh();
  });
  $("release").addEventListener("click", async () => { await api("/api/agent/conversations/" + current.id + "/release", { method: "POST" }); await open(current.id); refresh(); });
  start({
    refuse: (who) => who.role === "technician" && "维修师傅账号请使用工单台（/desk）",
    signedIn: (signedIn) => {
      me = signedIn;
      $("me").textContent = me.display_name + (me.role === "admin" ? "（管理员）" : "");
      $("admin-link").classList.toggle("hidden", me.role !== "admin");
      connect(); refresh(); loadQuickReplies();
    },
  });
}
