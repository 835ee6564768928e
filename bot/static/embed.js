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
  frame.src = origin + "/";
  frame.title = "物业在线客服";
  frame.style.cssText = "position:fixed;right:20px;bottom:76px;width:375px;max-width:calc(100vw - 40px);height:620px;" +
    "max-height:calc(100vh - 100px);border:0;border-radius:12px;box-shadow:0 8px 24px rgba(0,0,0,.25);" +
    "z-index:2147483000;display:none;background:#ededed";
  button.addEventListener("click", function () {
    frame.style.display = frame.style.display === "none" ? "block" : "none";
  });
  document.body.appendChild(frame);
  document.body.appendChild(button);
})();
