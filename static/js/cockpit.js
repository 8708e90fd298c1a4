// The live cockpit console: one websocket to the relay (/ws/cockpit/<id>/?role=&since=), the
// scanner's console state rendered as it changes, control, commands, STOP, chat, presence, and
// the request for a senior's help (`assist` frames out, `assist` events in), each remote person's
// link to the relay (the page echoes the relay's `probe` at once; `link` events carry the figures),
// and the pre-scan checklist local staff confirm before the first sequence.
// Protocol: cockpit/schemas.py. Session events carry a per-session seq: they are applied in seq
// order; after a gap the page asks for `resync`, and after a reconnect it connects with
// `since=<last seq>`, so nothing is missed. Every text from the wire goes through textContent.
// Which buttons show is the relay's word alone: every frame that can change what this person may
// do carries `moves` (cockpit/rules.py, the table the services enforce), and each button shows
// exactly when its move is in the last list received; the console's state only says when a
// button is useful (contrast asked for, protocol finished).
// Every text a person reads is in their language: gettext()/interpolate() from the djangojs
// catalogue (/jsi18n/<lang>.js, loaded before this script); protocol values stay English.
// Screen readers hear each change once: the console's and the session's state in polite live
// regions (the status badges), alarms and STOP in alert regions, each written only when its text
// changes (setText), never rewritten with the text it already holds.
(function () {
  "use strict";
  var root = document.getElementById("cockpit");
  var live = document.getElementById("console-live");
  if (!root || !live || !window.WebSocket || !window.JSON) { return; }
  live.hidden = false;

  var gettext = window.gettext || function (text) { return text; };
  var pgettext = window.pgettext || function (context, text) { return text; };
  var ngettext = window.ngettext || function (one, many, count) { return count === 1 ? one : many; };
  var interpolate = window.interpolate || function (text, values) {
    return text.replace(/%\((\w+)\)s/g, function (match, key) { return String(values[key]); });
  };
  function fmt(text, values) { return interpolate(text, values, true); }

  var ROLE = root.dataset.role;
  var USER_ID = Number(root.dataset.userId);
  var SOCKET_PATH = root.dataset.socketPath;
  // Every time shown is the scanning site's, 24-hour, labelled ("14:05 Brussels"), written the
  // page's language's way (never the browser's locale by accident).
  var LANGUAGE = document.documentElement.lang || "en";
  var TIME_ZONE = root.dataset.timeZone || undefined;
  var ZONE_LABEL = root.dataset.zoneLabel || "";
  var TIME_FORMAT = (function () {
    var options = { hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZone: TIME_ZONE };
    try { return new Intl.DateTimeFormat(LANGUAGE, options); } catch (e) {
      delete options.timeZone;  // an unknown zone: the browser's own, still 24-hour
      return new Intl.DateTimeFormat(LANGUAGE, options);
    }
  })();
  // Numbers written the page's language's way ("0,10" in nl and fr), one formatter per precision.
  var NUMBER_FORMATS = {};
  function numberFormat(low, high) {
    var key = low + ":" + high;
    if (!NUMBER_FORMATS[key]) {
      var options = { minimumFractionDigits: low, maximumFractionDigits: high };
      try { NUMBER_FORMATS[key] = new Intl.NumberFormat(LANGUAGE, options); } catch (e) {
        NUMBER_FORMATS[key] = new Intl.NumberFormat("en", options);
      }
    }
    return NUMBER_FORMATS[key];
  }
  // A number as the scanner gave it (up to two decimals), or the value itself if it is none.
  function number(value) {
    return typeof value === "number" && isFinite(value) ? numberFormat(0, 2).format(value)
      : value === undefined || value === null ? "—" : String(value);
  }
  // The console's parameters as people read them, with their unit; the keys stay the protocol's.
  var PARAMETER_LABELS = {
    tr_ms: gettext("TR (ms)"), te_ms: gettext("TE (ms)"), flip_angle_deg: gettext("Flip angle (°)"),
    slice_thickness_mm: gettext("Slice thickness (mm)"), slices: gettext("Slices")
  };
  function parameterLabel(name) { return PARAMETER_LABELS[name] || name; }
  var CONTROL_ROLES = ["operator", "local", "assistant"];   // who can be handed control
  var ROLE_LABELS = {
    scanner: gettext("scanner"), operator: gettext("operator"), local: gettext("local staff"),
    assistant: gettext("assistant"), observer: gettext("observer")
  };
  // The console's states as people read them; the protocol's values (the keys) stay English.
  var STATUS_LABELS = {
    idle: pgettext("console state", "Idle"), running: pgettext("console state", "Running"),
    paused: pgettext("console state", "Paused"),
    waiting_contrast: pgettext("console state", "Waiting for contrast"),
    stopped: pgettext("console state", "Stopped"), finished: pgettext("console state", "Finished")
  };
  var SEQUENCE_LABELS = {
    pending: pgettext("sequence state", "pending"), running: pgettext("sequence state", "running"),
    paused: pgettext("sequence state", "paused"), done: pgettext("sequence state", "done"),
    aborted: pgettext("sequence state", "aborted")
  };
  var SESSION_LABELS = {
    waiting: gettext("Waiting for the first sequence"), live: gettext("Exam in progress"),
    ended: gettext("Ended")
  };
  var CONTRAST_LABELS = {
    none: gettext("Not needed now"), requested: gettext("Requested: waiting for local staff to confirm"),
    confirmed: gettext("Confirmed by local staff"), injected: gettext("Injected")
  };
  // The scanner's alarms by code (its own message, in English, only for a code not known here).
  var ALARM_LABELS = {
    squeeze_ball: gettext("The patient pressed the squeeze ball: scan paused. Talk to the patient."),
    motion: gettext("Motion detected: images may be degraded; consider a rescan."),
    sar_exceeded: gettext("SAR monitor tripped: scan paused. Lower the flip angle or lengthen TR.")
  };
  var COMMAND_LABELS = {
    start: gettext("start"), pause: gettext("pause"), resume: gettext("resume"),
    abort: gettext("abort the sequence"), next_sequence: gettext("next sequence"),
    adjust: gettext("adjust"), move_table: gettext("move the table"),
    request_contrast: gettext("request contrast"), stop: pgettext("console command", "stop"),
    confirm_contrast: gettext("confirm contrast")
  };
  // Closes after which reconnecting cannot help: what to tell the person.
  var FINAL_CLOSES = {
    4401: gettext("You are signed out: sign in again to rejoin the cockpit."),
    4403: gettext("You may not join this cockpit in this role."),
    4404: gettext("This cockpit session does not exist."),
    4410: gettext("This session has ended.")
  };
  var MAX_DELAY = 15000;
  var CHAT_KEPT = 200;
  var LOG_KEPT = 60;

  var socket = null;
  var delay = 1000;
  var finished = false;       // closed for good (ended, refused): no reconnect
  var farewell = "";          // why the relay is about to close this socket for good
  var lastSeq = null;         // the highest session seq applied; null before the first snapshot
  var pending = {};           // events that arrived ahead of a gap, by seq
  var resyncing = false;
  var clientSeq = 0;
  var sentFrom = {};          // our frame's seq -> the area its error is shown in
  var chatDrafts = {};        // our chat frame's seq -> its text (put back if refused)
  var commandNames = {};      // a command event's seq -> its name (for the scanner's ack)
  var state = null;           // the latest full console state, with deltas applied
  var control = null;
  var session = null;
  var presence = [];
  var assist = null;          // the request for help shown (session.assist, then `assist` events)
  var assistSending = false;  // our `assist` frame is on its way
  var links = {};             // "id:role" -> {person, rtt_ms, jitter_ms, level} (link events)
  var REMOTE_ROLES = ["operator", "assistant"];   // whose link is checked (cockpit/selectors.py)
  // The moves open to this person now: the page's own list first, then each frame's `moves`.
  var moves = (root.dataset.moves || "").split(" ").filter(Boolean);
  var alarmsKnown = {};       // the codes of the alarms announced already (and still on)
  // When a `stop` event was last announced ("STOP by …"): the scanner's own "stopped" follows it
  // within moments, after any state it sent before it read the STOP, and is not announced again.
  var stopEventAt = -Infinity;
  var STOP_ECHO_MS = 10000;

  function $(id) { return document.getElementById(id); }
  function make(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }
  function clear(node) { while (node.firstChild) { node.removeChild(node.firstChild); } }
  // A live region speaks when its text changes: write a node only when the text is new.
  function setText(node, text) {
    text = text === undefined || text === null ? "" : String(text);
    if (node && node.textContent !== text) { node.textContent = text; }
  }
  function setClass(node, className) {
    if (node && node.className !== className) { node.className = className; }
  }
  // Alarms and STOPs: the alert region speaks each new one once, at once.
  function announce(text) {
    var box = $("cockpit-alert");
    if (!box || !text) { return; }
    if (box.textContent === text) { box.textContent = ""; }  // the same words again: a new alert
    box.textContent = text;
  }
  function who(p) {
    if (!p) { return gettext("someone"); }
    return fmt(gettext("%(name)s (%(role)s)"), {
      name: p.name, role: ROLE_LABELS[p.role] || p.role || gettext("participant")
    });
  }
  // The exam's outcome and ending in this page's language (a `session` event is worded by
  // whoever's request ended it): cockpit.outcome.outcome_label's wording.
  function outcomeLabel(o) {
    if (!o) { return ""; }
    var counts = { done: o.done, total: o.total };
    if (o.outcome === "completed") { return gettext("Completed"); }
    if (o.outcome === "partial" && typeof o.done === "number") {
      return fmt(gettext("Completed — partial (%(done)s of %(total)s sequences)"), counts);
    }
    if (o.outcome === "aborted" && typeof o.done === "number") {
      return fmt(gettext("Aborted (%(done)s of %(total)s sequences done)"), counts);
    }
    return o.label || "";
  }
  var ENDING_LABELS = {
    closed: gettext("Closed once the protocol was finished"), early: gettext("Ended early"),
    booking: gettext("Ended from the booking")
  };
  function endingLabel(o) { return (o && (ENDING_LABELS[o.ending] || o.ending_label)) || ""; }
  function youSuffix(text, p) {
    return isMe(p) ? fmt(gettext("%(person)s — you"), { person: text }) : text;
  }
  function isMe(p) { return !!p && p.id === USER_ID; }
  function may(move) { return moves.indexOf(move) >= 0; }
  function takeMoves(frame) { if (Array.isArray(frame.moves)) { moves = frame.moves.slice(); } }
  function num(value, digits) {
    return typeof value === "number" && isFinite(value) ? numberFormat(digits, digits).format(value) : "—";
  }
  function clock(seconds) {
    if (typeof seconds !== "number" || !isFinite(seconds)) { return "—"; }
    var s = Math.max(0, Math.round(seconds));
    var m = Math.floor(s / 60);
    s = s % 60;
    return m + ":" + (s < 10 ? "0" : "") + s;
  }
  function siteTime(d) { return TIME_FORMAT.format(d) + (ZONE_LABEL ? " " + ZONE_LABEL : ""); }
  function timeOf(iso) {
    var d = iso ? new Date(iso) : new Date();
    if (isNaN(d.getTime())) { d = new Date(); }
    return siteTime(d);
  }
  function hhmm(iso) {
    var d = new Date(iso);
    if (isNaN(d.getTime())) { return ""; }
    return siteTime(d);
  }
  function labelOf(name, args) {
    if (name === "adjust" && args) {
      return fmt(gettext("adjust %(parameter)s to %(value)s"), { parameter: parameterLabel(args.parameter), value: number(args.value) });
    }
    if (name === "move_table" && args) {
      return fmt(gettext("move the table to %(position)s mm"), { position: number(args.position_mm) });
    }
    return COMMAND_LABELS[name] || name;
  }

  // --- Errors, next to the controls they came from ----------------------------------------------

  function showError(area, message) {
    // STOP's own box sits with STOP, before the header (outside #cockpit).
    var box = document.querySelector('[data-error-for="' + area + '"]') ||
      root.querySelector('[data-error-for="console"]');
    if (!box) { return; }
    box.textContent = message;
    box.hidden = !message;
  }

  // --- Connection ---------------------------------------------------------------------------------

  function setConnection(kind, text) {
    var node = $("conn-state");
    setClass(node, "conn " + kind);
    setText(node, text);
    root.dataset.connection = kind;
  }

  function socketUrl() {
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    var url = scheme + location.host + SOCKET_PATH + "?role=" + encodeURIComponent(ROLE);
    if (lastSeq !== null) { url += "&since=" + lastSeq; }
    return url;
  }

  function connect() {
    if (finished) { return; }
    pending = {};
    resyncing = false;
    socket = new WebSocket(socketUrl());
    socket.onopen = function () {
      delay = 1000;
      setConnection("live", gettext("Live"));
      var stop = $("stop-button");
      if (stop) { stop.disabled = false; }
    };
    socket.onmessage = function (event) {
      var frame;
      try { frame = JSON.parse(event.data); } catch (e) { return; }
      if (!frame || typeof frame.type !== "string") { return; }
      receive(frame);
    };
    socket.onclose = function (event) {
      socket = null;
      if (farewell) {
        // A senior whose help is done has left the room: nothing of it stays on screen.
        finished = true;
        var gone = make("p", "message info", farewell + " ");
        var back = make("a", "", gettext("Your requests for help"));
        back.href = "/assist/history/";
        gone.appendChild(back);
        gone.id = "assist-farewell";
        live.hidden = true;
        live.parentNode.insertBefore(gone, live);
        return;
      }
      if (FINAL_CLOSES[event.code]) {
        finished = true;
        setConnection("closed", FINAL_CLOSES[event.code]);
        render();
        return;
      }
      var wait = event.code === 4409 ? Math.max(delay, 10000) : delay;
      setConnection("reconnecting", fmt(event.code === 4409
        ? gettext("This session is not open yet; trying again (in %(seconds)s s)")
        : gettext("Reconnecting… (in %(seconds)s s)"), { seconds: Math.round(wait / 1000) }));
      setTimeout(connect, wait);
      delay = Math.min(delay * 2, MAX_DELAY);
    };
  }

  function send(type, payload, area) {
    if (!socket || socket.readyState !== WebSocket.OPEN) {
      showError(area, type === "stop"
        ? gettext("Not connected: the STOP did not reach the scanner. Use the scanner's own stop button.")
        : gettext("Not connected: wait until the console is live again."));
      return 0;
    }
    clientSeq += 1;
    sentFrom[clientSeq] = area;
    showError(area, "");
    socket.send(JSON.stringify({ type: type, seq: clientSeq, payload: payload || {} }));
    return clientSeq;
  }

  // --- Frames in ------------------------------------------------------------------------------------

  function receive(frame) {
    var p = frame.payload || {};
    switch (frame.type) {
      case "welcome":
        takeMoves(frame);
        session = p.session || session;
        control = p.control || control;
        if (p.session) { takeAssist(p.session.assist, true); }
        if (lastSeq !== null && typeof p.seq === "number" && p.seq < lastSeq) {
          // The relay's numbering started again (its store was reset): start from a snapshot.
          lastSeq = null;
          send("resync", { since: 0 }, "console");
        }
        render();
        return;
      case "snapshot":
        takeMoves(frame);
        applySnapshot(p);
        showResynced(p.resync);
        return;
      case "error":
        if (p.code === "assist_ended") { farewell = p.message; return; }  // the close follows
        // A frame refused by the rate limit is dropped unread (ref null): it was our latest.
        var ref = p.ref === null && p.code === "rate_limited" ? clientSeq : p.ref;
        var area = sentFrom[ref] || "console";
        if (chatDrafts[ref] !== undefined && !$("chat-text").value) {
          $("chat-text").value = chatDrafts[ref];
        }
        showError(area, p.message || gettext("That did not work."));
        if (area === "assist") { assistSending = false; renderAssist(); }
        return;
      case "pong":
        return;
      case "probe":
        // The link check: echoed at once, outside the page's own numbering of frames.
        if (socket && socket.readyState === WebSocket.OPEN) {
          socket.send(JSON.stringify({ type: "echo", seq: null, payload: { probe: p.id } }));
        }
        return;
    }
    if (typeof frame.seq !== "number") { return; }
    if (lastSeq === null) { pending[frame.seq] = frame; return; }  // wait for the snapshot
    if (frame.seq <= lastSeq) { return; }                           // seen already
    if (frame.seq > lastSeq + 1) {
      pending[frame.seq] = frame;
      askResync();
      return;
    }
    apply(frame);
    lastSeq = frame.seq;
    drain();
  }

  function noteSeq() { root.dataset.seq = lastSeq === null ? "" : String(lastSeq); }

  function drain() {
    while (lastSeq !== null && pending[lastSeq + 1]) {
      var next = pending[lastSeq + 1];
      delete pending[lastSeq + 1];
      apply(next);
      lastSeq = next.seq;
    }
    var waiting = false;
    Object.keys(pending).forEach(function (key) {
      if (Number(key) <= lastSeq) { delete pending[key]; } else { waiting = true; }
    });
    if (!waiting) { resyncing = false; }
    noteSeq();
  }

  function askResync() {
    if (resyncing) { return; }
    resyncing = true;
    send("resync", { since: lastSeq }, "console");
    setTimeout(function () { resyncing = false; }, 5000);
  }

  // A snapshot that answers a `since` says why the events in between could not be sent one by
  // one: the console jumped, and the person is told what they may have missed.
  var RESYNCED = {
    behind: gettext("This screen was away longer than the server keeps events: the console was brought up to date. What happened meanwhile is listed under Activity."),
    lost: gettext("The server lost the session's latest events: the console was brought up to date from the scanner's last state. What happened just before may be missing, from Activity too."),
    shed: gettext("This screen stopped keeping up, so the server paused it: the console was brought up to date. What happened meanwhile is listed under Activity.")
  };

  function showResynced(why) {
    var box = $("console-resynced");
    if (!box) { return; }
    clear(box);
    if (!why) { return; }
    var text = Object.prototype.hasOwnProperty.call(RESYNCED, why) ? RESYNCED[why] : RESYNCED.behind;
    box.appendChild(make("p", "message info", text));
  }

  function applySnapshot(p) {
    state = p.state || null;
    control = p.control || control;
    session = p.session || session;
    if (p.session) { takeAssist(p.session.assist, true); }
    presence = p.presence || [];
    links = {};
    (p.links || []).forEach(function (l) { if (l.person) { links[linkKey(l.person)] = l; } });
    var list = $("chat-list");
    clear(list);
    (p.chat || []).forEach(addChat);
    renderActivity(p.activity || []);
    lastSeq = typeof p.seq === "number" ? p.seq : 0;
    resyncing = false;
    drain();
    render();
  }

  function apply(frame) {
    var p = frame.payload || {};
    takeMoves(frame);  // in seq order, with the event that changed them
    outcomeApply(frame.type, p);  // after the moves: a STOP's reason form follows them
    switch (frame.type) {
      case "state":
        if (p.full && p.state) {
          state = p.state;
        } else if (p.changes && state) {
          Object.keys(p.changes).forEach(function (key) { state[key] = p.changes[key]; });
        }
        renderState();
        break;
      case "command":
        commandNames[frame.seq] = p.name;
        log(commandText(p));
        break;
      case "ack":
        if (!p.ok) {
          var refused = fmt(gettext("The scanner refused “%(command)s”: %(reason)s"), {
            command: labelOf(commandNames[p.ref] || gettext("command")),
            reason: p.reason || gettext("no reason given")
          });
          showError("console", refused);
          log(refused);
        }
        break;
      case "stop":
        log(fmt(gettext("STOP by %(person)s"), { person: who(p.by) }));
        stopEventAt = performance.now();
        announce(fmt(gettext("STOP by %(person)s: the scan is stopped."), { person: who(p.by) }));
        break;
      case "control":
      case "approval":
        control = {
          controller: p.controller || null,
          requested_by: p.requested_by || null,
          local_override: !!p.local_override,
          join_approved: !!p.join_approved,
          join_approved_by: p.join_approved_by || null
        };
        log(describeControl(p));
        showFallback(p);
        renderControl();
        break;
      case "chat":
        addChat(p);
        break;
      case "presence":
        presence = p.participants || [];
        if (p.joined && !isMe(p.joined)) { log(fmt(gettext("%(person)s joined"), { person: who(p.joined) })); }
        if (p.left && !isMe(p.left)) { log(fmt(gettext("%(person)s left"), { person: who(p.left) })); }
        renderPresence();
        renderControl();
        break;
      case "session":
        session = p;
        takeAssist(p.assist, false);
        render();
        break;
      case "assist":
        applyAssist(p);
        break;
      case "link":
        if (p.person) {
          var before = links[linkKey(p.person)];
          links[linkKey(p.person)] = p;
          if (p.level !== "ok" && (!before || before.level !== p.level)) {
            log(fmt(gettext("%(person)s: %(link)s"), { person: who(p.person), link: linkText(p) }));
          }
        }
        renderLinks();
        break;
    }
  }

  function commandText(p) {
    return fmt(gettext("%(person)s: %(command)s"), { person: who(p.by), command: labelOf(p.name, p.args) });
  }

  function describeControl(p) {
    var by = { person: who(p.by) };
    switch (p.action) {
      case "request": return fmt(p.controller && p.by && p.by.id === p.controller.id
        ? gettext("%(person)s took control (nobody held it)") : gettext("%(person)s asked for control"), by);
      case "grant":
        return fmt(gettext("%(person)s gave control to %(controller)s"), { person: by.person, controller: who(p.controller) });
      case "release": return fmt(gettext("%(person)s released control"), by);
      case "take_over": return fmt(gettext("%(person)s took control over"), by);
      case "override": return fmt(gettext("%(person)s took the scanner back"), by);
      case "approve": return fmt(gettext("%(person)s approved the operator's join"), by);
      case "stop": return fmt(gettext("%(person)s stopped the scan: local staff hold the scanner until they grant control"), by);
      case "fallback": return describeFallback(p) || p.message || gettext("The controller's link was lost: local staff hold the scanner");
      default: return p.action
        ? fmt(gettext("%(person)s: %(action)s"), { person: by.person, action: p.action })
        : fmt(gettext("%(person)s: control changed"), by);
    }
  }

  // Control fell back to local staff: who lost their link and why, in the reader's language (the
  // event's own `message` is English, for the API, and what an older event has). A reason this
  // page does not know: null.
  function describeFallback(p) {
    var why;
    switch (p.reason) {
      case "closed": why = gettext("their connection closed"); break;
      case "silent": why = fmt(gettext("nothing heard from them for %(seconds)s s"), { seconds: p.seconds }); break;
      case "absent": why = fmt(gettext("not connected for %(seconds)s s"), { seconds: p.seconds }); break;
      default: return null;
    }
    var values = {
      person: (p.lost && p.lost.name) || gettext("The person holding control"),
      why: why,
      holder: p.controller && p.controller.name
    };
    var told = values.holder
      ? fmt(gettext("%(person)s lost their link to the cockpit (%(why)s): control fell back to local staff (%(holder)s)."), values)
      : fmt(gettext("%(person)s lost their link to the cockpit (%(why)s): control fell back to local staff."), values);
    return told + " " + gettext("Nobody remote can command the scanner until local staff grant control again.");
  }

  // --- Rendering ------------------------------------------------------------------------------------

  function render() {
    renderSession();
    renderControl();
    renderState();
    renderPresence();
    renderAssist();
    renderLinks();
    renderChecklist();
    renderOutcome();
  }

  function ended() { return finished || (!!session && session.status === "ended"); }

  function renderSession() {
    if (!session) { return; }
    var badge = $("session-status");
    setText(badge, SESSION_LABELS[session.status] || session.status);
    setClass(badge, "badge session-status " + session.status);
    if (session.status === "ended") {
      finished = true;
      var why = session.ended_reason
        ? fmt(gettext("This session has ended: %(reason)s"), { reason: session.ended_reason })
        : gettext("This session has ended.");
      setConnection("closed", session.outcome
        ? fmt(gettext("%(ended)s %(outcome)s."), { ended: why, outcome: outcomeLabel(session.outcome) }) : why);
    }
  }

  function iHold() {
    return !!control && !!control.controller && control.controller.id === USER_ID &&
      control.controller.role === ROLE;
  }

  function toggle(selector, visible, text) {
    // document: "Take the scanner back" sits with STOP, before the header (outside #cockpit).
    var node = document.querySelector(selector);
    if (!node) { return; }
    node.hidden = !visible;
    if (text !== undefined) { setText(node, text); }
  }

  function renderControl() {
    if (!control) { return; }
    var holder = control.controller;
    var mine = iHold();
    var asked = control.requested_by;
    var holderText = holder ? (mine ? youSuffix(who(holder), holder) : who(holder)) : "";
    setText($("control-holder"), holder
      ? fmt(control.local_override
        ? gettext("Control: %(person)s. Local staff hold the scanner: only they hand control over.")
        : gettext("Control: %(person)s"), { person: holderText })
      : control.local_override
        ? gettext("The scanner is held by local staff: nobody controls it remotely until local staff grant control.")
        : gettext("Nobody holds control."));
    root.dataset.held = control.local_override ? "true" : "false";
    var askedBy = asked ? (isMe(asked) ? fmt(gettext("%(person)s (you)"), { person: who(asked) }) : who(asked)) : "";
    toggle("#control-request", !!asked, asked ? fmt(control.local_override
      ? gettext("%(person)s asks for control: it waits for local staff.")
      : gettext("%(person)s asks for control."), { person: askedBy }) : "");
    setText($("control-consent"), control.join_approved
      ? (control.join_approved_by
        ? fmt(gettext("The operator's join is approved by %(name)s."), { name: control.join_approved_by.name })
        : gettext("The operator's join is approved."))
      : gettext("The operator's join waits for local staff's approval: the console opens for the operator when they approve."));
    var fact = $("fact-control");
    if (fact) {
      setText(fact, holder
        ? (control.local_override
          ? fmt(gettext("%(person)s · local staff hold the scanner"), { person: who(holder) }) : who(holder))
        : control.local_override ? gettext("Held by local staff at the scanner") : gettext("Nobody"));
    }
    var join = $("fact-join");
    if (join) {
      setText(join, control.join_approved
        ? (control.join_approved_by
          ? fmt(gettext("Approved by %(name)s"), { name: control.join_approved_by.name }) : gettext("Approved"))
        : gettext("Waiting for local staff to approve the operator's join"));
    }

    var open = !ended();
    toggle('[data-control="request"]', open && may("control.request"));
    toggle('[data-control="release"]', open && may("control.release"));
    toggle('[data-control="grant"]', open && may("control.grant"),
      asked ? fmt(gettext("Grant control to %(name)s"), { name: asked.name }) : gettext("Grant control"));
    toggle('[data-control="take_over"]', open && may("control.take_over"));
    toggle('[data-control="override"]', open && may("control.override"));
    toggle("#approve-join", open && may("approve"));
    renderGrantTo(open && may("control.grant_to"));
    $("console-controls").hidden = !(open && may("command"));
    renderFinishButtons();
    renderAssist();
  }

  // "Grant control to <name>" for each person here who may hold it (other than the holder, the
  // one who asked, who has a button of their own, and oneself), when the rules let us name one.
  function renderGrantTo(visible) {
    var box = $("grant-to");
    if (!box) { return; }
    clear(box);
    var seen = {};
    if (visible) {
      presence.forEach(function (p) {
        if (!p || p.waiting || CONTROL_ROLES.indexOf(p.role) < 0) { return; }
        if (p.id === USER_ID || seen[p.id]) { return; }
        if (control.controller && control.controller.id === p.id) { return; }
        if (control.requested_by && control.requested_by.id === p.id && may("control.grant")) { return; }
        seen[p.id] = true;
        var button = make("button", "secondary", fmt(gettext("Grant control to %(name)s"), { name: who(p) }));
        button.type = "button";
        button.dataset.grantTo = String(p.id);
        button.addEventListener("click", function () {
          send("control", { action: "grant", to: p.id }, "control");
        });
        box.appendChild(button);
      });
    }
    box.hidden = !box.firstChild;
  }

  function renderFinishButtons() {
    var status = state ? state.status : null;
    var open = !ended();
    toggle("#confirm-contrast", open && may("confirm_contrast") && !!state &&
      (status === "waiting_contrast" || state.contrast === "requested"));
    toggle("#close-session", open && may("close") && status === "finished");
    renderEndButton();
  }

  function renderState() {
    renderFinishButtons();
    // The console's state, a polite live region: written (so announced) only when it changes.
    var badge = $("console-status");
    if (!state) {
      setText(badge, gettext("Waiting for the scanner"));
      setClass(badge, "badge console-status");
      return;
    }
    setText(badge, STATUS_LABELS[state.status] || String(state.status));
    setClass(badge, "badge console-status " + state.status);
    setText($("console-protocol"), state.protocol_name ? "· " + state.protocol_name : "");
    var stopped = $("scan-stopped");
    if (state.status === "stopped" && stopped.hidden && performance.now() - stopEventAt > STOP_ECHO_MS) {
      announce(gettext("The scan is stopped."));  // stopped at the scanner, or before we joined
    }
    stopped.hidden = state.status !== "stopped";
    setText(stopped, state.status === "stopped" ? gettext("The scan is stopped.") : "");

    var sequences = state.sequences || [];
    var list = $("sequences");
    clear(list);
    sequences.forEach(function (sq, index) {
      var item = make("li", "sequence " + (sq.status || ""));
      if (index === state.current) { item.setAttribute("aria-current", "step"); item.className += " current"; }
      var head = make("div", "sequence-head");
      head.appendChild(make("span", "sequence-name", sq.name));
      if (sq.contrast) { head.appendChild(make("span", "badge", gettext("contrast"))); }
      head.appendChild(make("span", "badge sequence-status", SEQUENCE_LABELS[sq.status] || sq.status));
      item.appendChild(head);
      var pct = Math.round(Math.max(0, Math.min(1, Number(sq.progress) || 0)) * 1000) / 10;
      var bar = make("span", "bar");
      bar.setAttribute("role", "progressbar");
      bar.setAttribute("aria-valuemin", "0");
      bar.setAttribute("aria-valuemax", "100");
      bar.setAttribute("aria-valuenow", String(pct));
      bar.setAttribute("aria-label", fmt(gettext("%(sequence)s progress"), { sequence: sq.name }));
      var fill = make("span", "fill");
      fill.style.width = pct + "%";
      bar.appendChild(fill);
      item.appendChild(bar);
      item.appendChild(make("span", "muted sequence-pct",
        fmt(gettext("%(percent)s of %(duration)s"), { percent: Math.floor(pct) + " %", duration: clock(sq.duration_s) })));
      list.appendChild(item);
    });
    var current = sequences[state.current];
    setText($("current-sequence"), current
      ? fmt(gettext("Now: %(sequence)s — %(percent)s"), {
        sequence: current.name, percent: Math.floor((Number(current.progress) || 0) * 100) + " %"
      })
      : "");

    // A polite live region: the scanner repeats its message every second; it is spoken once.
    setText($("console-message"), state.message || "");

    var range = state.table_range_mm || [];
    setText($("table"), range.length === 2
      ? fmt(gettext("%(position)s mm (range %(low)s to %(high)s mm)"), { position: num(state.table_mm, 0), low: number(range[0]), high: number(range[1]) })
      : fmt(gettext("%(position)s mm"), { position: num(state.table_mm, 0) }));
    setText($("coil"), state.coil || "—");
    var sar = state.sar || {};
    var ratio = sar.limit ? Math.max(0, Math.min(1, sar.level / sar.limit)) : 0;
    setText($("sar"), fmt(gettext("%(level)s of %(limit)s W/kg"), { level: num(sar.level, 2), limit: num(sar.limit, 1) }));
    var sarBar = $("sar-bar");
    sarBar.style.width = Math.round(ratio * 100) + "%";
    sarBar.className = ratio >= 1 ? "over" : ratio >= 0.85 ? "near" : "";
    setText($("contrast"), CONTRAST_LABELS[state.contrast || "none"] || String(state.contrast));
    setText($("times"), fmt(gettext("%(elapsed)s elapsed, %(remaining)s remaining"), {
      elapsed: clock(state.elapsed_s), remaining: clock(state.remaining_s)
    }));

    var alarms = $("alarms");
    clear(alarms);
    var alarmsOn = {};
    (state.alarms || []).forEach(function (alarm) {
      var text = ALARM_LABELS[alarm.code] || alarm.message || alarm.code;
      alarms.appendChild(make("li", "alarm " + (alarm.code || ""), text));
      var key = alarm.code || text;
      alarmsOn[key] = true;
      // Each alarm is announced once, when it comes on (not at every state that still has it).
      if (!alarmsKnown[key]) { announce(fmt(gettext("Alarm: %(alarm)s"), { alarm: text })); }
    });
    alarmsKnown = alarmsOn;
    if (!alarms.firstChild) { alarms.appendChild(make("li", "muted", gettext("None"))); }

    renderParameters();
  }

  function renderParameters() {
    var parameters = state.parameters || {};
    var limits = state.limits || {};
    var list = $("parameters");
    clear(list);
    var select = $("adjust-parameter");
    var names = Object.keys(parameters);
    if (select.options.length !== names.length) {
      clear(select);
      names.forEach(function (name) { select.appendChild(make("option", "", parameterLabel(name))).value = name; });
    }
    names.forEach(function (name) {
      list.appendChild(make("dt", "", parameterLabel(name)));
      var limit = limits[name];
      list.appendChild(make("dd", "", limit
        ? fmt(gettext("%(value)s (%(low)s to %(high)s)"), { value: number(parameters[name]), low: number(limit[0]), high: number(limit[1]) })
        : number(parameters[name])));
    });
    updateAdjustLimits();
    var range = state.table_range_mm || [];
    var position = $("table-position");
    if (range.length === 2) {
      position.min = range[0];
      position.max = range[1];
      setText($("table-limits"), fmt(gettext("%(low)s to %(high)s"), { low: number(range[0]), high: number(range[1]) }));
    }
  }

  function updateAdjustLimits() {
    if (!state) { return; }
    var name = $("adjust-parameter").value;
    var limit = (state.limits || {})[name];
    var value = $("adjust-value");
    if (limit) {
      value.min = limit[0];
      value.max = limit[1];
      setText($("adjust-limits"), fmt(gettext("%(low)s to %(high)s"), { low: number(limit[0]), high: number(limit[1]) }));
    } else {
      value.removeAttribute("min");
      value.removeAttribute("max");
      $("adjust-limits").textContent = "";
    }
  }

  function renderPresence() {
    var list = $("presence");
    clear(list);
    presence.forEach(function (p) {
      list.appendChild(make("li", "participant", youSuffix(who(p), p)));
    });
    if (!list.firstChild) { list.appendChild(make("li", "muted", gettext("Nobody else yet"))); }
    renderLinks();
  }

  // --- The link check and the pre-scan checklist ------------------------------------------------------

  var LINK_LABELS = {
    ok: gettext("Good"), warn: gettext("Warning: slow or unsteady"),
    refuse: gettext("Too slow: the exam cannot start over it")
  };

  function linkKey(p) { return p.id + ":" + p.role; }

  function linkText(l) {
    return fmt(gettext("%(level)s (%(rtt)s ms round trip, %(jitter)s ms jitter)"), {
      level: LINK_LABELS[l.level] || l.level, rtt: num(l.rtt_ms, 0), jitter: num(l.jitter_ms, 0)
    });
  }

  function renderLinks() {
    // Each remote participant here now, with their link as the relay measures it.
    var list = $("links");
    if (!list) { return; }
    clear(list);
    presence.forEach(function (p) {
      if (REMOTE_ROLES.indexOf(p.role) < 0 || p.waiting) { return; }
      var l = links[linkKey(p)];
      var item = make("li", "link " + (l ? l.level : "unknown"));
      item.dataset.level = l ? l.level : "";
      item.appendChild(make("strong", "", fmt(gettext("%(person)s: "), { person: youSuffix(who(p), p) })));
      item.appendChild(make("span", "", l ? linkText(l) : gettext("Not measured yet")));
      list.appendChild(item);
    });
    if (!list.firstChild) { list.appendChild(make("li", "muted", gettext("No remote participant connected"))); }
    var warned = Object.keys(links).some(function (key) {
      var l = links[key];
      return l.level !== "ok" && REMOTE_ROLES.indexOf(l.person.role) >= 0 &&
        presence.some(function (p) { return linkKey(p) === key; });
    });
    root.dataset.linkWarning = warned ? "yes" : "";
  }

  function showFallback(p) {
    var box = $("control-fallback");
    if (!box) { return; }
    if (p.action === "fallback") {
      setText(box, describeFallback(p) || p.message || gettext("The controller's link was lost: local staff hold the scanner."));
      box.hidden = false;
    } else if (p.action === "grant" || p.action === "request" || p.action === "take_over") {
      box.hidden = true;   // control has moved on since
    }
  }

  function renderChecklist() {
    var stateNode = $("checklist-state");
    if (!stateNode || !session) { return; }
    var check = session.prescan;
    var form = $("checklist-form");
    if (check) {
      setClass(stateNode, "checklist-state done");
      var checkText = check.link_level === "warn"
        ? gettext("Confirmed %(time)s by %(name)s: %(beside)s is beside the patient; the patient was told the exam is run remotely; link check passed with a warning.")
        : check.link_level === "off"
          ? gettext("Confirmed %(time)s by %(name)s: %(beside)s is beside the patient; the patient was told the exam is run remotely; link check not run.")
          : gettext("Confirmed %(time)s by %(name)s: %(beside)s is beside the patient; the patient was told the exam is run remotely; link check passed.");
      setText(stateNode, fmt(checkText, {
        time: hhmm(check.confirmed_at), name: check.confirmed_by.name, beside: check.beside_patient.name
      }));
    } else {
      setClass(stateNode, "checklist-state pending");
      setText(stateNode, gettext("Not confirmed yet: the first sequence cannot start until local staff confirm it."));
    }
    if (form) { form.hidden = !may("checklist.confirm"); }
  }

  function addChat(p) {
    var list = $("chat-list");
    var item = make("li", "chat-line");
    item.appendChild(make("strong", "", p.from ? p.from.name : gettext("someone")));
    item.appendChild(make("span", "muted chat-time", " " + timeOf(p.at) + " "));
    item.appendChild(make("span", "chat-text", p.text));
    list.appendChild(item);
    while (list.children.length > CHAT_KEPT) { list.removeChild(list.firstChild); }
    list.scrollTop = list.scrollHeight;
  }

  function log(text, at) {
    var list = $("log");
    var item = make("li", "", timeOf(at) + " " + text);
    list.insertBefore(item, list.firstChild);
    while (list.children.length > LOG_KEPT) { list.removeChild(list.lastChild); }
  }

  // --- The activity log, STOPs and the exam's outcome ------------------------------------------------
  // The relay keeps the activity log beside the chat: a snapshot carries it (each entry with the
  // moment it happened), live events add to it. STOPs and their reasons come with the `control`
  // event of a STOP and the `stops` event of a reason; the summary with the `session` event that
  // ends it.

  function activityText(type, p) {
    switch (type) {
      case "command": return commandText(p);
      case "ack": return p.ok === false
        ? fmt(gettext("The scanner refused a command: %(reason)s"), { reason: p.reason || gettext("no reason given") }) : null;
      case "stop": return fmt(gettext("STOP by %(person)s"), { person: who(p.by) });
      case "control": return describeControl(p);
      case "presence":
        if (p.joined) {
          return fmt(gettext("%(person)s joined"), {
            person: isMe(p.joined) ? fmt(gettext("%(person)s (you)"), { person: who(p.joined) }) : who(p.joined)
          });
        }
        if (p.left) {
          return fmt(gettext("%(person)s left"), {
            person: isMe(p.left) ? fmt(gettext("%(person)s (you)"), { person: who(p.left) }) : who(p.left)
          });
        }
        return null;
      case "assist": return p.assist ? describeAssist(p.action, p.assist) : null;
      case "session": return sessionText(p);
      case "stops": return p.action === "reason" && p.stop ? stopReasonText(p.stop) : null;
    }
    return null;
  }

  function sessionText(p) {
    if (p.status === "live") { return gettext("The exam started: the first sequence runs"); }
    if (p.status === "ended") {
      var text = p.outcome && p.outcome.label
        ? fmt(gettext("The session ended — %(outcome)s"), { outcome: outcomeLabel(p.outcome) })
        : gettext("The session ended");
      return p.ended_reason ? fmt(gettext("%(ended)s. %(reason)s"), { ended: text, reason: p.ended_reason }) : text;
    }
    return null;
  }

  function stopReasonText(stop) {
    return fmt(gettext("%(name)s gave the reason for the STOP at %(time)s: “%(reason)s”"), {
      name: stop.reason_by ? stop.reason_by.name : gettext("Someone"), time: hhmm(stop.at), reason: stop.reason
    });
  }

  function renderActivity(entries) {
    var list = $("log");
    clear(list);
    entries.forEach(function (entry) {
      var text = activityText(entry.type, entry.payload || {});
      if (text) { log(text, entry.at); }
    });
  }

  function outcomeApply(type, p) {
    if (type === "control" && p.stops) {
      session = session || {};
      session.stops = p.stops;
      renderOutcome();
    } else if (type === "stops") {
      session = session || {};
      session.stops = p.stops || [];
      if (p.action === "reason" && p.stop) { log(stopReasonText(p.stop)); }
      renderOutcome();
    } else if (type === "session") {
      var text = sessionText(p);
      if (text) { log(text); }
    }
  }

  function mayGiveReason(stop) {
    // Local staff explain any STOP, the others their own (cockpit.services.outcome).
    return may("stop_reason") && (ROLE === "local" || (!!stop.by && stop.by.id === USER_ID));
  }

  function stopItem(stop) {
    var item = make("li", "stop");
    item.id = "stop-" + stop.id;
    item.dataset.stopId = String(stop.id);
    var at = make("time", "", hhmm(stop.at));
    at.setAttribute("datetime", stop.at);
    item.appendChild(at);
    item.appendChild(document.createTextNode(" " + fmt(gettext("STOP by %(person)s"), { person: who(stop.by) }) + " "));
    item.appendChild(stop.reason
      ? make("span", "stop-reason", "— “" + stop.reason + "”")
      : make("span", "muted stop-reason", "— " + gettext("no reason given yet")));
    if (!mayGiveReason(stop)) { return item; }
    var form = make("form", "stop-reason-form inline");
    form.method = "post";
    form.action = (root.dataset.stopReasonUrl || "").replace("999999999", String(stop.id));
    var token = root.querySelector('#outcome input[name="csrfmiddlewaretoken"]') ||
      document.querySelector('input[name="csrfmiddlewaretoken"]');
    [["csrfmiddlewaretoken", token ? token.value : ""], ["role", ROLE]].forEach(function (pair) {
      var hidden = make("input");
      hidden.type = "hidden";
      hidden.name = pair[0];
      hidden.value = pair[1];
      form.appendChild(hidden);
    });
    var label = make("label", "", gettext("Why was it stopped?"));
    label.htmlFor = "stop-reason-" + stop.id;
    var input = make("input");
    input.id = "stop-reason-" + stop.id;
    input.name = "reason";
    input.maxLength = 500;
    input.required = true;
    input.autocomplete = "off";
    input.value = stop.reason || "";
    var button = make("button", "secondary", stop.reason ? gettext("Change the reason") : gettext("Give the reason"));
    button.type = "submit";
    form.appendChild(label);
    form.appendChild(input);
    form.appendChild(button);
    form.addEventListener("submit", function (event) {
      // Live: the relay records it and tells everyone. Ended: the form posts to the page.
      if (!socket || socket.readyState !== WebSocket.OPEN || ended()) { return; }
      event.preventDefault();
      var reason = input.value.trim();
      if (!reason) { showError("outcome", gettext("Say why the scan was stopped.")); return; }
      send("stop_reason", { stop: stop.id, reason: reason }, "outcome");
    });
    item.appendChild(form);
    return item;
  }

  function renderOutcome() {
    var list = $("stops");
    if (!list || !session || !session.stops) { renderEndButton(); return; }
    // Keep a reason being typed: re-render only the items whose STOP changed.
    var shown = {};
    Array.prototype.forEach.call(list.children, function (item) {
      if (item.dataset.stopId) { shown[item.dataset.stopId] = item; }
    });
    if (!session.stops.length) {
      clear(list);
      list.appendChild(make("li", "muted", gettext("No STOP.")));
    } else {
      Array.prototype.slice.call(list.children).forEach(function (item) {
        if (!item.dataset.stopId) { list.removeChild(item); }
      });
      session.stops.forEach(function (stop) {
        var old = shown[String(stop.id)];
        var key = JSON.stringify([stop.reason, stop.reason_at]);
        if (old && old.dataset.key === key) { list.appendChild(old); return; }
        var item = stopItem(stop);
        item.dataset.key = key;
        if (old) { list.replaceChild(item, old); } else { list.appendChild(item); }
      });
    }
    var summary = $("exam-outcome-live");
    var outcome = session.outcome;
    if (outcome && !$("exam-outcome")) {
      if (!summary) {
        summary = make("p", "exam-outcome");
        summary.id = "exam-outcome-live";
        list.parentNode.insertBefore(summary, list.parentNode.firstChild);
      }
      summary.className = "exam-outcome outcome-" + outcome.outcome;
      summary.textContent = outcome.ended_by
        ? fmt(gettext("%(outcome)s · %(ending)s by %(name)s, %(time)s"), {
          outcome: outcomeLabel(outcome), ending: endingLabel(outcome).toLowerCase(),
          name: outcome.ended_by.name, time: hhmm(outcome.ended_at)
        })
        : fmt(gettext("%(outcome)s · %(ending)s, %(time)s"), {
          outcome: outcomeLabel(outcome), ending: endingLabel(outcome).toLowerCase(), time: hhmm(outcome.ended_at)
        });
    }
    var started = $("fact-started");
    if (started && session.started_at) { setText(started, hhmm(session.started_at)); }
    var endedAt = $("fact-ended");
    if (endedAt && session.ended_at) { setText(endedAt, hhmm(session.ended_at)); }
    renderEndButton();
  }

  function renderEndButton() {
    var status = state ? state.status : null;
    var acquiring = status === "running" || status === "paused";
    // A finished protocol is closed by the operator ("Close"); "End" is for the rest.
    toggle("#end-early", !ended() && may("end") && !!state && !acquiring &&
      (status !== "finished" || !may("close")));
  }

  var endButton = $("end-early");
  if (endButton) {
    endButton.addEventListener("click", function () {
      var done = (state && state.sequences || []).filter(function (sq) { return sq.status === "done"; }).length;
      var total = (state && state.sequences || []).length;
      if (window.confirm(fmt(gettext("End the exam here? %(done)s of %(total)s sequences are done; the booking is completed as it stands."), {
        done: done, total: total
      }))) {
        send("end", {}, "outcome");
      }
    });
  }

  // --- Help from a senior ----------------------------------------------------------------------------
  // The request's live state comes from `assist` events (authoritative, in seq order) and from the
  // session view in welcome, snapshot and `session` events. A session view read before the latest
  // `assist` event can reach us after it: it never takes a request back to an earlier step.

  var ASSIST_DONE = { resolved: true, cancelled: true, expired: true };

  function assistUnderWay(a) { return !!a && (a.status === "open" || a.status === "accepted"); }

  function assistRank(a) {
    if (a.status === "open") { return a.stage || 1; }
    return a.status === "accepted" ? 10 : 20;
  }

  function takeAssist(incoming, fresh) {
    if (!incoming) {
      // Nothing under way. A snapshot says so for sure; a `session` event may be older than the
      // request shown, which its own `assist` event ends. A request that ended stays on show.
      if (fresh && assistUnderWay(assist)) { assist = null; }
      return;
    }
    if (assist && assist.id === incoming.id && assistRank(incoming) < assistRank(assist)) { return; }
    if (assist && incoming.id < assist.id) { return; }
    assist = incoming;
  }

  function applyAssist(p) {
    var a = p.assist;
    if (!a) { return; }
    assist = a;
    assistSending = false;
    var note = $("assist-note-text");
    if (p.action === "requested" && note && a.requested_by &&
        a.requested_by.id === USER_ID && a.requested_by.role === ROLE) {
      note.value = "";  // sent: the form is done with
      showAssistForm(false);
    }
    log(describeAssist(p.action, a));
    renderAssist();
  }

  function describeAssist(action, a) {
    switch (action) {
      case "requested":
        return a.asked
          ? fmt(ngettext("%(person)s asked for help with %(family)s (%(asked)s asked)",
            "%(person)s asked for help with %(family)s (%(asked)s asked)", a.asked),
          { person: who(a.requested_by), family: a.exam_family.name, asked: a.asked })
          : fmt(gettext("%(person)s asked for help with %(family)s"), { person: who(a.requested_by), family: a.exam_family.name });
      case "escalated":
        return a.stage >= 3
          ? gettext("Nobody answered the request for help: the operator's managers are alerted")
          : fmt(ngettext("The request for help widened to experienced technologists (%(asked)s asked)",
            "The request for help widened to experienced technologists (%(asked)s asked)", a.asked), { asked: a.asked });
      case "accepted":
        return a.accepted_by
          ? fmt(gettext("%(name)s accepted and joins as assistant"), { name: a.accepted_by.name })
          : gettext("A senior accepted and joins as assistant");
      case "cancelled":
        return a.requested_by
          ? fmt(gettext("The request for help was cancelled (%(person)s asked)"), { person: who(a.requested_by) })
          : gettext("The request for help was cancelled");
      case "resolved":
        return a.accepted_by ? fmt(gettext("Help done: %(name)s assisted"), { name: a.accepted_by.name }) : gettext("Help done");
      default: return fmt(gettext("Request for help: %(status)s"), { status: a.status_label || a.status });
    }
  }

  function assistStateText(a) {
    if (!a) { return gettext("No request for help."); }
    var values = {
      asked: a.asked ? fmt(ngettext("%(count)s asked", "%(count)s asked", a.asked), { count: a.asked })
        : gettext("nobody available yet"),
      time: a.next_step_at ? hhmm(a.next_step_at) : ""
    };
    switch (a.status) {
      case "open":
        if (a.stage >= 3) { return fmt(gettext("Managers alerted — %(asked)s"), values); }
        if (a.stage === 2) {
          return fmt(values.time
            ? gettext("Widened to experienced technologists — %(asked)s · managers alerted at %(time)s")
            : gettext("Widened to experienced technologists — %(asked)s"), values);
        }
        return fmt(values.time
          ? gettext("Waiting for an on-call senior — %(asked)s · widens at %(time)s")
          : gettext("Waiting for an on-call senior — %(asked)s"), values);
      case "accepted":
        var helping = fmt(gettext("%(name)s is helping"), { name: a.accepted_by ? a.accepted_by.name : gettext("A senior") });
        helping = youSuffix(helping, a.accepted_by);
        return a.accepted_at
          ? fmt(gettext("%(helping)s · since %(time)s"), { helping: helping, time: hhmm(a.accepted_at) }) : helping;
      case "resolved":
        return a.accepted_by ? fmt(gettext("Help done — %(name)s assisted"), { name: a.accepted_by.name }) : gettext("Help done");
      case "cancelled": return gettext("Cancelled — solved without help");
      case "expired": return gettext("Closed unanswered");
      default: return a.status_label || String(a.status);
    }
  }

  function showAssistForm(visible) {
    var form = $("assist-form");
    var ask = $("assist-ask");
    if (!form || !ask) { return; }
    form.hidden = !visible;
    ask.setAttribute("aria-expanded", visible ? "true" : "false");
  }

  function renderAssist() {
    var box = $("assist-state");
    if (!box) { return; }
    var a = assist;
    var open = !ended();
    setText(box, assistStateText(a));
    setClass(box, "assist-state" + (a ? " " + a.status + (a.status === "open" ? " stage-" + a.stage : "") : ""));
    root.dataset.assistStatus = a ? a.status : "";

    var detail = $("assist-detail");
    detail.hidden = !a;
    var detailValues = a ? {
      family: a.exam_family.name, person: who(a.requested_by), time: hhmm(a.requested_at),
      ended: a.ended_at ? hhmm(a.ended_at) : ""
    } : null;
    setText(detail, a
      ? fmt(a.ended_at && ASSIST_DONE[a.status]
        ? gettext("%(family)s · asked by %(person)s at %(time)s · ended at %(ended)s")
        : gettext("%(family)s · asked by %(person)s at %(time)s"), detailValues)
      : "");
    var note = $("assist-note");
    note.hidden = !(a && a.note);
    setText(note, a && a.note ? "“" + a.note + "”" : "");

    var canAsk = open && may("assist.request");
    var form = $("assist-form");
    if (!canAsk) { showAssistForm(false); }
    toggle("#assist-ask", canAsk && !!form && form.hidden);
    var submit = root.querySelector('#assist-form button[type="submit"]');
    if (submit) { submit.disabled = assistSending; }
    toggle("#assist-cancel", open && may("assist.cancel"));
    toggle("#assist-finish", open && may("assist.finish"));
    ["assist-cancel", "assist-finish"].forEach(function (id) {
      var button = $(id);
      if (button) { button.disabled = assistSending; }
    });
  }

  function sendAssist(payload) {
    if (send("assist", payload, "assist")) {
      assistSending = true;
      renderAssist();
      // Not stuck if the answer never comes (the socket dropped): the buttons come back.
      setTimeout(function () { if (assistSending) { assistSending = false; renderAssist(); } }, 10000);
    }
  }

  // --- Frames out -----------------------------------------------------------------------------------

  function command(name, args) { send("command", { name: name, args: args || {} }, "console"); }

  root.querySelectorAll("[data-command]").forEach(function (button) {
    button.addEventListener("click", function () { command(button.dataset.command); });
  });

  $("adjust-parameter").addEventListener("change", updateAdjustLimits);
  $("adjust-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var parameter = $("adjust-parameter").value;
    var value = Number($("adjust-value").value);
    var limit = state && state.limits ? state.limits[parameter] : null;
    if (!parameter || !isFinite(value)) { showError("console", gettext("Choose a parameter and a number.")); return; }
    if (limit && (value < limit[0] || value > limit[1])) {
      showError("console", fmt(gettext("%(parameter)s must be between %(low)s and %(high)s."), {
        parameter: parameterLabel(parameter), low: number(limit[0]), high: number(limit[1])
      }));
      return;
    }
    command("adjust", { parameter: parameter, value: value });
  });
  $("table-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var position = Number($("table-position").value);
    var range = state ? state.table_range_mm || [] : [];
    if (!isFinite(position) || $("table-position").value === "") { showError("console", gettext("Give the table position in mm.")); return; }
    if (range.length === 2 && (position < range[0] || position > range[1])) {
      showError("console", fmt(gettext("The table moves between %(low)s and %(high)s mm."), { low: number(range[0]), high: number(range[1]) }));
      return;
    }
    command("move_table", { position_mm: position });
  });

  document.querySelectorAll("[data-control]").forEach(function (button) {
    button.addEventListener("click", function () {
      var payload = { action: button.dataset.control };
      if (payload.action === "grant" && control && control.requested_by) { payload.to = control.requested_by.id; }
      send("control", payload, "control");
    });
  });

  var stopButton = $("stop-button");
  if (stopButton) {
    stopButton.addEventListener("click", function () { send("stop", {}, "stop"); });
  }
  var approve = $("approve-join");
  if (approve) { approve.addEventListener("click", function () { send("approve", {}, "control"); }); }
  var contrast = $("confirm-contrast");
  if (contrast) { contrast.addEventListener("click", function () { send("confirm_contrast", {}, "console"); }); }
  var closeButton = $("close-session");
  if (closeButton) { closeButton.addEventListener("click", function () { send("close", {}, "console"); }); }

  $("chat-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var input = $("chat-text");
    var text = input.value.trim();
    if (!text) { showError("chat", gettext("Write a message first.")); return; }
    var ref = send("chat", { text: text }, "chat");
    if (ref) { chatDrafts[ref] = text; input.value = ""; }
  });

  var askButton = $("assist-ask");
  if (askButton) {
    askButton.addEventListener("click", function () {
      showAssistForm(true);
      showError("assist", "");
      renderAssist();
      $("assist-exam-family").focus();
    });
    $("assist-form-close").addEventListener("click", function () {
      showAssistForm(false);
      renderAssist();
      askButton.focus();
    });
    $("assist-form").addEventListener("submit", function (event) {
      event.preventDefault();
      var family = $("assist-exam-family").value;
      var note = $("assist-note-text").value.trim();
      if (!family) { showError("assist", gettext("Choose the exam family you need help with.")); return; }
      if (note.length > 500) { showError("assist", gettext("Keep the note under 500 characters.")); return; }
      sendAssist({ action: "request", exam_family: family, note: note });
    });
    $("assist-cancel").addEventListener("click", function () { sendAssist({ action: "cancel" }); });
  }
  var finishButton = $("assist-finish");
  if (finishButton) {
    finishButton.addEventListener("click", function () { sendAssist({ action: "finish" }); });
  }

  var checklistForm = $("checklist-form");
  if (checklistForm) {
    checklistForm.addEventListener("submit", function (event) {
      event.preventDefault();
      if (!$("checklist-informed").checked) {
        showError("checklist", gettext("Tell the patient that the exam is run remotely, then tick the box."));
        return;
      }
      var beside = Number($("checklist-beside").value);
      send("checklist", { beside_patient: beside || null, patient_informed: true }, "checklist");
    });
  }

  connect();
})();
