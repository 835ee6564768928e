// One script tag embeds the widget: <script src="https://物业域名/embed.js" async></script>
(function () {
  "use strict";
  var src = document.currentScript && document.currentScript.src;
  var origin = src ? new URL(src).origin : location.origin;
  var button = document.createElement("button");
  button.textContent = "在线客服";
  button.setAttribute("aria-label", "打开物业在线客服");
  button.style.cssText = "position:fixed;right:20px;bottom:20px;z-index:2147483000;border:0;border-radius:24px;" +
    "padding:12px 18px;background:#07c160;color:#fff;font-size:15px;box-shadow:0 4px 12px rgba(0,0,0,.2);cursor:pointer";
  var frame = document.createElement("iframe");
  // data-community="<signed 小区 link>" on the script tag (`wuye community-link ID` prints the whole line)
  var link = document.currentScript && document.currentScript.getAttribute("data-community");
  frame.src = origin + "/" + (link ? "?c=" + encodeURIComponent(link) : "");
  frame.title = "物业在线客服";
  frame.style.cssText = "position:fixed;right:20px;bottom:76px;width:375px;max-width:calc(100vw - 40px);height:620px;" +
    "max-height:calc(100vh - 100px);border:0;border-radius:12px;box-shadow:0 8px 24px rgba(0,0,0,.25);" +
    "z-index:2147483000;display:none;background:#ededed";
  button.addEventListener("click", function () {
    frame.style.display = frame.style.display === "none" ? "block" : "none";
  });
  // The widget's identity, kept here (first-party on this site) for a frame the browser may refuse storage of its
  // own: handed to the frame when it asks, and kept when it sends a new one. Only our frame is listened to.
  var KEY = "wuye-widget-identity";
  window.addEventListener("message", function (e) {
    if (e.origin !== origin || e.source !== frame.contentWindow || !e.data) return;
    if (e.data.type === "wuye-ready") {
      var kept = null;
      try { kept = localStorage.getItem(KEY); } catch (x) { kept = null; }
      frame.contentWindow.postMessage({ type: "wuye-identity", token: kept }, origin);
    } else if (e.data.type === "wuye-identity" && typeof e.data.token === "string") {
      try { localStorage.setItem(KEY, e.data.token); } catch (x) { /* private mode: this visit only */ }
    }
  });
  document.body.appendChild(frame);
  document.body.appendChild(button);
})();
