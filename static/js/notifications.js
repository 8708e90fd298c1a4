// A signed-in person's live notices: one websocket per page, reconnecting with backoff. A stored
// notification (its frame has an id) also updates the header menu: the unread count and the
// latest few. Without JavaScript the menu still works: it is a <details> with plain links and forms.
//
// Requests for help do not fade like the other notices: a request a technologist was asked to
// answer (`assist_request`) is a banner with Accept (a plain POST form) and Dismiss, and a
// manager's alert (`assist_unanswered`) a banner with Open. When the request is taken, cancelled
// or closed (`assist_closed`), its banner says so and loses its Accept button. A sound toggle,
// off by default and remembered in localStorage, beeps on each new request.
(function () {
  "use strict";
  var box = document.getElementById("live-notices");
  if (!box || !window.WebSocket) { return; }
  var MENU_SIZE = 8;
  var SOUND_KEY = "wescan.assist.sound";
  var delay = 1000;
  var audio = null;

  function show(message) {
    var el = document.createElement("div");
    el.className = "notice";
    el.setAttribute("role", "status");
    el.textContent = message;
    box.appendChild(el);
    setTimeout(function () { el.remove(); }, 15000);
  }

  // A live notice's time as the server writes the others in the menu ("3 Dec 2026, 23:43
  // Europe/Brussels"): in the viewer's own zone (the menu's data-notif-zone, the one their pages
  // use, not the browser's), the month in the page's language, on the 24-hour clock.
  var CLOCK = null;
  function menuZone() {
    var list = document.querySelector("#notif-menu [data-notif-list]");
    return (list && list.getAttribute("data-notif-zone")) || "UTC";
  }
  function clock(moment) {
    if (isNaN(moment.getTime())) { return ""; }
    var zone = menuZone();
    try {
      CLOCK = CLOCK || new Intl.DateTimeFormat(document.documentElement.lang || "en", {
        day: "numeric", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit",
        hourCycle: "h23", timeZone: zone
      });
      var part = {};
      CLOCK.formatToParts(moment).forEach(function (p) { part[p.type] = p.value; });
      return part.day + " " + part.month + " " + part.year + ", " + part.hour + ":" + part.minute + " " + zone;
    } catch (e) {
      return moment.toISOString().slice(0, 16).replace("T", " ") + " UTC";
    }
  }

  function updateMenu(payload) {
    var menu = document.getElementById("notif-menu");
    if (!menu || typeof payload.id !== "number") { return; }
    var count = menu.querySelector("[data-notif-count]");
    if (count && typeof payload.unread === "number") {
      count.textContent = String(payload.unread);
      count.hidden = payload.unread === 0;
      var summary = menu.querySelector("summary");
      if (summary) {
        summary.setAttribute("aria-label", interpolate(
          ngettext("Notifications, %(unread)s unread", "Notifications, %(unread)s unread", payload.unread),
          { unread: payload.unread }, true));
      }
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
    var label = document.createElement("span");
    label.className = "visually-hidden";
    label.textContent = gettext("Received") + " ";
    var time = document.createElement("time");
    time.setAttribute("data-notif-time", "");
    time.dateTime = payload.created_at || new Date().toISOString();
    time.textContent = clock(new Date(time.dateTime));
    when.appendChild(label);
    when.appendChild(time);
    item.appendChild(link);
    item.appendChild(when);
    list.insertBefore(item, list.firstChild);
    while (list.children.length > MENU_SIZE) { list.removeChild(list.lastChild); }
  }

  // --- Requests for help ------------------------------------------------------------------------

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    if (meta && meta.content) { return meta.content; }
    var match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  // Only addresses on this site: a frame never sends the browser elsewhere.
  function localPath(url) {
    return typeof url === "string" && /^\/(?![\/\\])/.test(url) ? url : "";
  }

  function soundOn() {
    try { return window.localStorage.getItem(SOUND_KEY) === "on"; } catch (e) { return false; }
  }

  function paintSound(button) {
    var on = soundOn();
    button.setAttribute("aria-pressed", on ? "true" : "false");
    button.textContent = on ? gettext("Sound on") : gettext("Sound off");
    button.title = on ? gettext("A beep on each new request for help: click to mute") : gettext("Beep on each new request for help");
  }

  function setSound(on) {
    try { window.localStorage.setItem(SOUND_KEY, on ? "on" : "off"); } catch (e) { /* private mode */ }
    Array.prototype.forEach.call(box.querySelectorAll("button.assist-sound"), paintSound);
    if (on) { beep(); }
  }

  // A short sine beep; a browser that has not seen a click on this page may keep it silent.
  function beep() {
    var Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) { return; }
    try {
      audio = audio || new Context();
      if (audio.state === "suspended" && audio.resume) { audio.resume(); }
      var now = audio.currentTime;
      var tone = audio.createOscillator();
      var gain = audio.createGain();
      tone.type = "sine";
      tone.frequency.value = 880;
      gain.gain.setValueAtTime(0.0001, now);
      gain.gain.exponentialRampToValueAtTime(0.2, now + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, now + 0.35);
      tone.connect(gain);
      gain.connect(audio.destination);
      tone.start(now);
      tone.stop(now + 0.4);
    } catch (e) { /* no sound is no harm */ }
  }

  function findBanner(assistId) {
    var banners = box.querySelectorAll(".assist-banner");
    for (var i = 0; i < banners.length; i += 1) {
      if (banners[i].getAttribute("data-assist-id") === assistId) { return banners[i]; }
    }
    return null;
  }

  function button(text, className, onClick) {
    var el = document.createElement("button");
    el.type = "button";
    el.className = className;
    el.textContent = text;
    el.addEventListener("click", onClick);
    return el;
  }

  function showBanner(payload, options) {
    var data = payload.data || {};
    var assistId = String(data.assist || "");
    var el = document.createElement("div");
    el.className = "assist-banner" + (payload.kind === "assist_unanswered" ? " assist-alert" : "");
    el.setAttribute("data-assist-id", assistId);
    el.setAttribute("role", "alert");
    var text = document.createElement("p");
    text.className = "assist-banner-text";
    text.textContent = payload.message;
    el.appendChild(text);
    var actions = document.createElement("div");
    actions.className = "assist-banner-actions";
    var acceptUrl = localPath(data.accept_url);
    var openUrl = localPath(payload.url);
    if (payload.kind === "assist_request" && acceptUrl) {
      var form = document.createElement("form");
      form.method = "post";
      form.action = acceptUrl;
      form.className = "assist-accept-form";
      var token = document.createElement("input");
      token.type = "hidden";
      token.name = "csrfmiddlewaretoken";
      token.value = csrfToken();
      var accept = document.createElement("button");
      accept.type = "submit";
      accept.className = "assist-accept";
      accept.textContent = gettext("Accept");
      form.appendChild(token);
      form.appendChild(accept);
      actions.appendChild(form);
    } else if (openUrl) {
      var open = document.createElement("a");
      open.className = "button assist-open";
      open.href = openUrl;
      open.textContent = pgettext("request for help", "Open");
      actions.appendChild(open);
    }
    actions.appendChild(button(gettext("Dismiss"), "secondary assist-dismiss", function () { el.remove(); }));
    var sound = button("", "secondary assist-sound", function () { setSound(!soundOn()); });
    paintSound(sound);
    actions.appendChild(sound);
    el.appendChild(actions);
    var existing = assistId && findBanner(assistId);
    if (existing) {
      existing.replaceWith(el);
      return;
    }
    box.insertBefore(el, box.firstChild);
    if (soundOn() && !(options && options.quiet)) { beep(); }
  }

  function closeBanner(payload) {
    var data = payload.data || {};
    var el = findBanner(String(data.assist || ""));
    if (!el) {
      show(payload.message);
      return;
    }
    el.classList.add("assist-closed");
    var text = el.querySelector(".assist-banner-text");
    if (text) { text.textContent = payload.message; }
    var form = el.querySelector(".assist-accept-form");
    if (form) { form.remove(); }
  }

  function receive(payload) {
    updateMenu(payload);
    if (payload.kind === "assist_request" || payload.kind === "assist_unanswered") {
      showBanner(payload);
    } else if (payload.kind === "assist_closed") {
      closeBanner(payload);
    } else {
      show(payload.message);
    }
  }

  // Requests for help that are still waiting for this person, asked before this page opened (or
  // while its socket was away): the same banner, without the beep.
  function catchUp() {
    if (!window.fetch) { return; }
    fetch("/api/v1/assist-requests/?open=1", {
      credentials: "same-origin", headers: { Accept: "application/json" }
    }).then(function (response) {
      return response.ok ? response.json() : null;
    }).then(function (body) {
      var items = body && (Array.isArray(body) ? body : body.results);
      if (!items) { return; }
      items.forEach(function (item) {
        if (!item.may_accept || findBanner(String(item.id))) { return; }
        showBanner({
          kind: "assist_request",
          message: item.message,
          url: "/assist/",
          data: { assist: item.id, accept_url: "/assist/" + item.id + "/accept/" }
        }, { quiet: true });
      });
    }).catch(function () { /* the page works without it */ });
  }

  function connect() {
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    var socket = new WebSocket(scheme + location.host + "/ws/notifications/");
    socket.onopen = function () { delay = 1000; catchUp(); };
    socket.onmessage = function (event) {
      var frame;
      try { frame = JSON.parse(event.data); } catch (e) { return; }
      if (frame.type !== "notification" || !frame.payload) { return; }
      receive(frame.payload);
    };
    socket.onclose = function (event) {
      if (event.code === 4401) { return; }
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 30000);
    };
  }
  connect();
})();
