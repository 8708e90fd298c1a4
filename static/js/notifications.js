// A signed-in person's live notices: one websocket per page, reconnecting with backoff.
(function () {
  "use strict";
  var box = document.getElementById("live-notices");
  if (!box || !window.WebSocket) { return; }
  var delay = 1000;
  function show(message) {
    var el = document.createElement("div");
    el.className = "notice";
    el.setAttribute("role", "status");
    el.textContent = message;
    box.appendChild(el);
    setTimeout(function () { el.remove(); }, 15000);
  }
  function connect() {
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    var socket = new WebSocket(scheme + location.host + "/ws/notifications/");
    socket.onopen = function () { delay = 1000; };
    socket.onmessage = function (event) {
      var frame = JSON.parse(event.data);
      if (frame.type === "notification") { show(frame.payload.message); }
    };
    socket.onclose = function (event) {
      if (event.code === 4401) { return; }
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 30000);
    };
  }
  connect();
})();
