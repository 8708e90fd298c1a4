// A signed-in person's live notices: one websocket per page, reconnecting with backoff. A stored
// notification (its frame has an id) also updates the header menu: the unread count and the
// latest few. Without JavaScript the menu still works: it is a <details> with plain links and forms.
(function () {
  "use strict";
  var box = document.getElementById("live-notices");
  if (!box || !window.WebSocket) { return; }
  var MENU_SIZE = 8;
  var delay = 1000;

  function show(message) {
    var el = document.createElement("div");
    el.className = "notice";
    el.setAttribute("role", "status");
    el.textContent = message;
    box.appendChild(el);
    setTimeout(function () { el.remove(); }, 15000);
  }

  function updateMenu(payload) {
    var menu = document.getElementById("notif-menu");
    if (!menu || typeof payload.id !== "number") { return; }
    var count = menu.querySelector("[data-notif-count]");
    if (count && typeof payload.unread === "number") {
      count.textContent = String(payload.unread);
      count.hidden = payload.unread === 0;
      var summary = menu.querySelector("summary");
      if (summary) { summary.setAttribute("aria-label", "Notifications, " + payload.unread + " unread"); }
    }
    var upTo = menu.querySelector("[data-notif-up-to]");
    if (upTo && !(Number(upTo.value) >= payload.id)) { upTo.value = String(payload.id); }
    var list = menu.querySelector("[data-notif-list]");
    if (!list) { return; }
    var empty = list.querySelector("[data-notif-empty]");
    if (empty) { empty.remove(); }
    var item = document.createElement("li");
    item.className = "notif unread";
    var link = document.createElement("a");
    link.href = payload.open_url || "/notifications/";
    link.textContent = payload.message.length > 160 ? payload.message.slice(0, 159) + "…" : payload.message;
    var when = document.createElement("span");
    when.className = "muted notif-time";
    var time = document.createElement("time");
    time.dateTime = payload.created_at || "";
    time.textContent = "just now";
    when.appendChild(time);
    item.appendChild(link);
    item.appendChild(when);
    list.insertBefore(item, list.firstChild);
    while (list.children.length > MENU_SIZE) { list.removeChild(list.lastChild); }
  }

  function connect() {
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    var socket = new WebSocket(scheme + location.host + "/ws/notifications/");
    socket.onopen = function () { delay = 1000; };
    socket.onmessage = function (event) {
      var frame;
      try { frame = JSON.parse(event.data); } catch (e) { return; }
      if (frame.type !== "notification" || !frame.payload) { return; }
      updateMenu(frame.payload);
      show(frame.payload.message);
    };
    socket.onclose = function (event) {
      if (event.code === 4401) { return; }
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 30000);
    };
  }
  connect();
})();
