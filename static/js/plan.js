// A plan's page (templates/scheduling/plan_detail.html). While the plan is queued or running, a
// live bar: the plan's socket (/ws/plans/<id>/) sends its state on connect and on every update
// (phase, how close the best so far is to the best possible, time left); whenever the socket is closed or has been
// silent for a while (it could not open, it dropped, a proxy swallows it), the page polls the API. Cancel posts to the API without leaving the page. Once the plan is over
// the page reloads to show the proposal. On the proposal, "Send N invitations" counts the ticked
// rows. Without JavaScript the forms still work (Cancel and Send are plain POST forms).
(function () {
  "use strict";
  var box = document.getElementById("plan-progress");
  if (!box) { return; }
  var ACTIVE = { queued: true, running: true };
  var POLL_MS = 1000;
  // The solver reports twice a second while it searches: a socket quiet for longer is not trusted.
  var SILENT_MS = 2500;
  var apiUrl = box.getAttribute("data-api-url");
  var wsPath = box.getAttribute("data-ws-path");
  var socket = null;
  var watchdog = null;
  var lastFrame = 0;
  var reloading = false;

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    if (meta && meta.content) { return meta.content; }
    var match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  function field(name, value) {
    var el = box.querySelector('[data-field="' + name + '"]');
    if (el) { el.textContent = value === null || value === undefined ? "–" : String(value); }
  }

  // The socket's payload is flat; the API nests the solver's figures under `progress`.
  function render(state) {
    var progress = state.progress || state;
    var status = document.getElementById("plan-status");
    if (status && state.status) {
      status.textContent = state.status_label || state.status;
      status.className = "badge status " + state.status;
    }
    box.setAttribute("data-status", state.status || "");
    field("phase_label", progress.phase_label || progress.phase || "");
    var quality = document.getElementById("plan-quality");
    if (quality) { quality.hidden = !progress.quality; }
    field("quality", progress.quality || "");
    var left = typeof progress.seconds_left === "number" ? progress.seconds_left : null;
    var leftBox = document.getElementById("plan-left");
    if (leftBox) { leftBox.hidden = state.status === "queued"; }
    field("seconds_left", left === null ? "–" : Math.max(0, Math.round(left)));
    var bar = document.getElementById("plan-bar");
    if (bar && left !== null) {
      var limit = Number(bar.getAttribute("max")) || 1;
      bar.value = Math.max(0, Math.min(limit, limit - left));
    }
    var message = document.getElementById("plan-message");
    if (message && typeof state.message === "string") { message.textContent = state.message; }
    var cancel = document.getElementById("plan-cancel");
    if (cancel && state.cancel_requested) { cancel.disabled = true; }
    if (state.status && !ACTIVE[state.status] && !reloading) {
      reloading = true;
      stop();
      window.location.reload();
    }
  }

  function stop() {
    if (watchdog) { window.clearInterval(watchdog); watchdog = null; }
    if (socket) { socket.onclose = null; socket.close(); socket = null; }
  }

  function poll() {
    fetch(apiUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (state) { if (state) { render(state); } })
      .catch(function () { /* the next poll tries again */ });
  }

  // Every second: poll unless the socket is open and has spoken lately.
  function check() {
    if (reloading) { return; }
    if (!socket || Date.now() - lastFrame > SILENT_MS) { poll(); }
  }

  function connect() {
    lastFrame = Date.now();
    watchdog = window.setInterval(check, POLL_MS);
    if (!window.WebSocket) { socket = null; return; }
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    try {
      socket = new WebSocket(scheme + window.location.host + wsPath);
    } catch (e) {
      socket = null;
      return;
    }
    socket.onmessage = function (event) {
      var frame;
      try { frame = JSON.parse(event.data); } catch (e) { return; }
      lastFrame = Date.now();
      if (frame && frame.type === "state" && frame.payload) { render(frame.payload); }
    };
    socket.onclose = function () { socket = null; };
  }

  function watchCancel() {
    var form = document.getElementById("plan-cancel-form");
    if (!form) { return; }
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var button = document.getElementById("plan-cancel");
      if (button) { button.disabled = true; }
      fetch(apiUrl + "cancel/", {
        method: "POST",
        credentials: "same-origin",
        headers: { "X-CSRFToken": csrfToken(), Accept: "application/json" }
      })
        .then(function (response) { return response.json().then(function (body) { return [response.ok, body]; }); })
        .then(function (result) {
          if (result[0]) { render(result[1]); return; }
          var message = document.getElementById("plan-message");
          if (message && result[1] && result[1].error) { message.textContent = result[1].error.message; }
        })
        .catch(function () { form.submit(); });
    });
  }

  function watchTicks() {
    var form = document.getElementById("plan-send-form");
    var button = document.getElementById("plan-send");
    if (!form || !button) { return; }
    function count() {
      var ticked = form.querySelectorAll('input[name="row"]:checked').length;
      button.textContent = interpolate(
        ngettext("Send %(n)s invitation", "Send %(n)s invitations", ticked), { n: ticked }, true
      );
      button.disabled = ticked === 0;
    }
    form.addEventListener("change", count);
    // The ticked ids go as ONE field: a form of thousands of checkboxes would pass Django's
    // limit on form fields. The checkboxes are disabled so that they are not sent as well.
    form.addEventListener("submit", function () {
      var boxes = form.querySelectorAll('input[name="row"]');
      var ids = [];
      for (var i = 0; i < boxes.length; i++) {
        if (boxes[i].checked) { ids.push(boxes[i].value); }
      }
      var joined = form.querySelector('input[name="rows"]');
      if (!joined) {
        joined = document.createElement("input");
        joined.type = "hidden";
        joined.name = "rows";
        form.appendChild(joined);
      }
      joined.value = ids.join(",");
      for (var j = 0; j < boxes.length; j++) { boxes[j].disabled = true; }
    });
    // Back to this page from the history: the checkboxes are usable again.
    window.addEventListener("pageshow", function () {
      var boxes = form.querySelectorAll('input[name="row"]');
      for (var i = 0; i < boxes.length; i++) { boxes[i].disabled = false; }
      var joined = form.querySelector('input[name="rows"]');
      if (joined) { joined.parentNode.removeChild(joined); }
      count();
    });
    count();
  }

  watchTicks();
  if (ACTIVE[box.getAttribute("data-status")]) {
    watchCancel();
    connect();
  }
})();
