// The live console's client: docs/gui/live_channels.md, as the GUI is asked to follow it.
// State for tests and curious developers: window.ddgui.
(function () {
  "use strict";

  var CONFIG = window.DDGUI_CONFIG;
  var CHANNELS = CONFIG.channels;
  var params = new URLSearchParams(window.location.search);
  var BACKOFF_FIRST_MS = 250;
  var BACKOFF_MAX_MS = 10000;
  var PING_EVERY_MS = 5 * 60 * 1000; // API Gateway closes a connection idle for 10 min
  var TOKEN_MARGIN_S = 60;

  function perChannel(make) {
    var out = {};
    CHANNELS.forEach(function (channel) { out[channel] = make(channel); });
    return out;
  }

  var state = {
    config: CONFIG,
    transport: params.get("transport") === "sse" ? "sse" : "ws",
    wsForm: params.get("ws") === "path" ? "path" : "stage",
    tenant: null,
    subject: null,
    token: null,
    signedIn: false,
    connected: false,
    connects: 0, // connections opened (WebSocket) or streams opened (SSE)
    reconnects: 0,
    events: perChannel(function () { return []; }), // applied events, in order
    cursors: perChannel(function () { return null; }), // last applied cursor
    baselines: perChannel(function () { return null; }), // "latest" when nothing applied yet
    resyncs: perChannel(function () { return 0; }), // gaps met
    duplicates: 0, // events ignored because their cursor was not greater
    replayed: 0,
    subscribed: perChannel(function () { return false; }), // the server confirmed it
    pending: {}, // channel -> true while a resume has not finished
    buffers: perChannel(function () { return []; }),
    errors: [], // error frames, transport failures and script errors
    frames: 0,
    lastPong: null,
    // While true, a dropped connection waits before reconnecting (tests publish "while offline").
    holdReconnect: false,
  };
  window.ddgui = state;

  window.addEventListener("error", function (event) {
    state.errors.push({ type: "script", detail: String(event.message) });
  });

  // -- rendering ------------------------------------------------------------------------------

  var $ = function (id) { return document.getElementById(id); };

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) { node.setAttribute(name, attrs[name]); });
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  function buildChannels() {
    var main = $("channels");
    CHANNELS.forEach(function (channel) {
      var section = el("section", { "data-testid": "channel-" + channel, "data-channel": channel });
      var title = el("h2", {});
      title.appendChild(el("span", {}, channel));
      title.appendChild(el("span", { "class": "count", "data-testid": "count-" + channel }, "0"));
      section.appendChild(title);
      section.appendChild(el("div", { "class": "cursor", "data-testid": "cursor-" + channel }, "no cursor"));
      section.appendChild(el("ol", { "data-testid": "events-" + channel, id: "events-" + channel }));
      main.appendChild(section);
    });
  }

  function summary(payload) {
    if (!payload || typeof payload !== "object") { return ""; }
    var keys = ["title", "status", "job_id", "gate", "state", "pack_id", "severity", "message", "id"];
    var parts = [];
    keys.forEach(function (key) {
      var value = payload[key];
      if (value !== undefined && value !== null && typeof value !== "object" && parts.length < 3) {
        parts.push(key + ": " + String(value));
      }
    });
    return parts.join(" · ");
  }

  function renderEvent(event) {
    var item = el("li", {
      "data-testid": "event",
      "data-channel": event.channel,
      "data-cursor": event.cursor,
      "data-event-id": event.event_id || "",
      "data-kind": event.kind || "",
    });
    item.appendChild(el("span", { "class": "kind" }, event.kind || "event"));
    item.appendChild(el("span", { "class": "at" }, event.at || ""));
    item.appendChild(el("span", { "class": "summary" }, summary(event.payload)));
    if (event.truncated) { item.appendChild(el("span", { "class": "summary" }, "(truncated: see REST)")); }
    $("events-" + event.channel).appendChild(item);
    refreshChannel(event.channel);
  }

  function renderMarker(channel, text) {
    $("events-" + channel).appendChild(
      el("li", { "class": "marker", "data-testid": "resync-marker", "data-channel": channel }, text)
    );
  }

  function refreshChannel(channel) {
    var count = document.querySelector('[data-testid="count-' + channel + '"]');
    count.textContent = String(state.events[channel].length);
    var cursor = document.querySelector('[data-testid="cursor-' + channel + '"]');
    cursor.textContent = state.cursors[channel] || state.baselines[channel] || "no cursor";
  }

  function setStatus(name) {
    var status = $("status");
    status.textContent = name;
    status.setAttribute("data-state", name);
  }

  function setConnected(value) {
    state.connected = value;
    setStatus(value ? "connected" : state.signedIn ? "reconnecting" : "signed out");
  }

  function showError(text) {
    var node = $("error");
    node.textContent = text;
    node.hidden = !text;
  }

  // -- events ---------------------------------------------------------------------------------

  function newer(cursor, than) {
    // Cursors are 40 digits, zero-padded: string order is numeric order.
    return than === null || than === undefined || cursor > than;
  }

  function apply(event) {
    var channel = event.channel;
    if (!(channel in state.cursors) || typeof event.cursor !== "string") { return false; }
    if (!newer(event.cursor, state.cursors[channel])) {
      state.duplicates += 1;
      return false;
    }
    state.cursors[channel] = event.cursor;
    state.events[channel].push(event);
    renderEvent(event);
    return true;
  }

  function resumeFrom(channel) {
    return state.cursors[channel] || state.baselines[channel];
  }

  function gap(message) {
    var channel = message.channel;
    if (!(channel in state.cursors)) { return; }
    state.resyncs[channel] += 1;
    // The screen re-syncs through REST in the GUI; here a marker, and carry on from `latest`.
    renderMarker(channel, "re-synced (gap after " + (message.cursor || "?") + ")");
    if (message.latest && newer(message.latest, state.cursors[channel])) {
      state.cursors[channel] = message.latest;
    }
    refreshChannel(channel);
  }

  // -- sign-in --------------------------------------------------------------------------------

  function tokenExpiry(token) {
    try {
      var part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      return JSON.parse(atob(part)).exp || 0;
    } catch (_) {
      return 0;
    }
  }

  function fetchToken() {
    var query = new URLSearchParams({ tenant: state.tenant, subject: state.subject, roles: "operator" });
    return fetch(CONFIG.tokenPath + "?" + query.toString(), { cache: "no-store" }).then(function (answer) {
      if (!answer.ok) { throw new Error("token refused: HTTP " + answer.status); }
      var type = answer.headers.get("content-type") || "";
      if (type.indexOf("json") >= 0) {
        return answer.json().then(function (body) {
          return body.token || body.access_token || body.id_token;
        });
      }
      return answer.text().then(function (text) { return text.trim(); });
    }).then(function (token) {
      if (!token) { throw new Error("no token in the answer of " + CONFIG.tokenPath); }
      state.token = token;
      return token;
    });
  }

  function freshToken() {
    var exp = tokenExpiry(state.token || "");
    if (state.token && exp - TOKEN_MARGIN_S > Date.now() / 1000) { return Promise.resolve(state.token); }
    return fetchToken();
  }

  function signIn(event) {
    if (event) { event.preventDefault(); }
    signOut();
    state.tenant = $("tenant").value.trim() || CONFIG.defaultTenant;
    state.subject = $("subject").value.trim() || CONFIG.defaultSubject;
    state.transport = $("transport-select").value === "sse" ? "sse" : "ws";
    $("transport").textContent = state.transport;
    setStatus("connecting");
    showError("");
    return fetchToken().then(function () {
      state.signedIn = true;
      $("whoami").textContent = state.subject + " (" + state.tenant + ")";
      $("sign-out").disabled = false;
      if (state.transport === "sse") { sse.start(); } else { ws.start(); }
    }).catch(function (error) {
      state.errors.push({ type: "sign-in", detail: String(error) });
      setStatus("signed out");
      showError(String(error));
    });
  }

  function signOut() {
    state.signedIn = false;
    ws.stop();
    sse.stop();
    setConnected(false);
    $("sign-out").disabled = true;
  }

  // -- WebSocket ------------------------------------------------------------------------------

  var ws = {
    socket: null,
    attempts: 0,
    timer: null,
    pinger: null,
    requests: 0,

    url: function () {
      var scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
      var base = scheme + "//" + window.location.host;
      var tenant = encodeURIComponent(state.tenant);
      if (state.wsForm === "path") {
        return base + CONFIG.servicePrefix + "/ws/" + encodeURIComponent(CHANNELS[0]) + "/" + tenant;
      }
      return base + "/" + CONFIG.wsStage + "?tenant=" + tenant + "&channel=" + CHANNELS.join(",");
    },

    resumes: {}, // request id -> the channel a `resume` was sent for

    send: function (message) {
      if (!ws.socket || ws.socket.readyState !== WebSocket.OPEN) { return null; }
      ws.requests += 1;
      message.request_id = "console-" + ws.requests;
      if (message.action === "resume") { ws.resumes[message.request_id] = message.channel; }
      ws.socket.send(JSON.stringify(message));
      return message.request_id;
    },

    start: function () {
      ws.stop();
      ws.open();
    },

    stop: function () {
      clearTimeout(ws.timer);
      clearInterval(ws.pinger);
      ws.timer = null;
      if (ws.socket) {
        var socket = ws.socket;
        ws.socket = null;
        socket.onclose = socket.onmessage = socket.onerror = socket.onopen = null;
        try { socket.close(1000, "signed out"); } catch (_) { /* already closed */ }
      }
      state.pending = {};
    },

    open: function () {
      freshToken().then(function (token) {
        if (!state.signedIn) { return; }
        var socket = new WebSocket(ws.url(), ["ddgui.v1", token]);
        ws.socket = socket;
        socket.onopen = function () { ws.opened(socket); };
        socket.onmessage = function (frame) { ws.received(frame.data); };
        socket.onclose = function (close) { ws.closed(socket, close); };
        socket.onerror = function () { /* onclose follows */ };
      }).catch(function (error) {
        state.errors.push({ type: "token", detail: String(error) });
        ws.retry();
      });
    },

    opened: function (socket) {
      if (socket !== ws.socket) { return; }
      ws.attempts = 0;
      state.connects += 1;
      setConnected(true);
      showError("");
      var fresh = [];
      CHANNELS.forEach(function (channel) {
        var cursor = resumeFrom(channel);
        if (cursor) {
          // Live events of this channel wait until the replay ends (see `finish`).
          state.pending[channel] = true;
          state.buffers[channel] = [];
          ws.send({ action: "resume", channel: channel, cursor: cursor });
        } else {
          fresh.push(channel);
        }
      });
      if (fresh.length) { ws.send({ action: "subscribe", channels: fresh }); }
      clearInterval(ws.pinger);
      ws.pinger = setInterval(function () { ws.send({ action: "ping" }); }, PING_EVERY_MS);
    },

    finish: function (channel) {
      if (!state.pending[channel]) { return; }
      delete state.pending[channel];
      state.subscribed[channel] = true; // a resume subscribes the channel too
      var buffered = state.buffers[channel].slice();
      state.buffers[channel] = [];
      buffered.sort(function (a, b) { return a.cursor < b.cursor ? -1 : a.cursor > b.cursor ? 1 : 0; });
      buffered.forEach(apply);
    },

    received: function (data) {
      var message;
      try { message = JSON.parse(data); } catch (_) {
        state.errors.push({ type: "frame", detail: "not JSON" });
        return;
      }
      state.frames += 1;
      var channel = message.channel;
      switch (message.type) {
        case "event":
          if (state.pending[channel]) { state.buffers[channel].push(message); } else { apply(message); }
          break;
        case "replay":
          (message.events || []).forEach(function (event) {
            if (!event.channel) { event.channel = channel; }
            if (apply(event)) { state.replayed += 1; }
          });
          if (message.more && message.cursor) {
            // The page ends here: ask for the next one from its last cursor.
            ws.send({ action: "resume", channel: channel, cursor: message.cursor });
          } else if (!message.more) {
            ws.finish(channel);
          } // `more` without a cursor: a page cut into frames, the next frame follows
          break;
        case "gap":
          gap(message);
          ws.finish(channel);
          break;
        case "subscribed":
          (message.channels || []).forEach(function (name) {
            if (name in state.subscribed) { state.subscribed[name] = true; }
          });
          Object.keys(message.latest || {}).forEach(function (name) {
            if (name in state.baselines && message.latest[name] && !state.cursors[name]) {
              state.baselines[name] = message.latest[name];
              refreshChannel(name);
            }
          });
          break;
        case "pong":
          state.lastPong = message.at || new Date().toISOString();
          break;
        case "error":
          state.errors.push({ type: "error", code: message.code, status: message.status, detail: message.detail });
          showError((message.code || "error") + ": " + (message.detail || ""));
          // A refused resume must not hold that channel's live events back for ever.
          var refused = channel || ws.resumes[message.request_id];
          if (refused && state.pending[refused]) { ws.finish(refused); }
          break;
        default: // unsubscribed, acked: nothing to show
          break;
      }
    },

    closed: function (socket, close) {
      if (socket !== ws.socket) { return; }
      ws.socket = null;
      clearInterval(ws.pinger);
      state.pending = {};
      ws.resumes = {};
      CHANNELS.forEach(function (name) { state.subscribed[name] = false; });
      setConnected(false);
      if (close && close.code && close.code !== 1000 && close.code !== 1001 && close.code !== 1005) {
        state.errors.push({ type: "close", code: close.code, detail: close.reason || "" });
      }
      ws.retry();
    },

    retry: function () {
      if (!state.signedIn) { return; }
      if (state.holdReconnect) {
        clearTimeout(ws.timer);
        ws.timer = setTimeout(ws.retry, 100);
        return;
      }
      var delay = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * Math.pow(2, ws.attempts));
      delay = delay / 2 + Math.random() * delay / 2; // jitter: reconnects do not come in waves
      ws.attempts += 1;
      state.reconnects += 1;
      clearTimeout(ws.timer);
      ws.timer = setTimeout(ws.open, delay);
    },
  };

  // -- server-sent events ---------------------------------------------------------------------
  // EventSource cannot send a header, and no token goes in a URL: each request of a stream presents
  // a single-use ticket (POST /service/gui/live/tickets with the bearer token). EventSource would
  // reconnect with its URL, whose ticket is spent, so when an answer ends the console closes the
  // source and opens a new one, with a new ticket and `since` = the last cursor it has.

  var sse = {
    sources: {},
    attempts: perChannel(function () { return 0; }),
    timers: {},
    tickets: 0, // tickets asked for (one per request of a stream)

    url: function (channel, ticket) {
      var query = new URLSearchParams({ ticket: ticket });
      var since = resumeFrom(channel);
      if (since) { query.set("since", since); }
      return CONFIG.servicePrefix + "/stream/" + encodeURIComponent(channel) + "/" +
        encodeURIComponent(state.tenant) + "?" + query.toString();
    },

    ticket: function (channel) {
      return freshToken().then(function (token) {
        return fetch(CONFIG.servicePrefix + "/live/tickets", {
          method: "POST",
          cache: "no-store",
          headers: { "Authorization": "Bearer " + token, "Content-Type": "application/json" },
          body: JSON.stringify({ channels: [channel] }),
        });
      }).then(function (answer) {
        if (!answer.ok) { throw new Error("ticket refused: HTTP " + answer.status); }
        sse.tickets += 1;
        return answer.json();
      }).then(function (body) { return body.ticket; });
    },

    start: function () {
      sse.stop();
      CHANNELS.forEach(sse.open);
    },

    stop: function () {
      Object.keys(sse.sources).forEach(function (channel) { sse.sources[channel].close(); });
      Object.keys(sse.timers).forEach(function (channel) { clearTimeout(sse.timers[channel]); });
      sse.sources = {};
      sse.timers = {};
      sse.opened = {};
    },

    opened: {}, // channel -> true once its stream has answered

    refresh: function () {
      // Between two requests of a stream the console opens the next one itself (CONNECTING
      // meanwhile): that is the protocol's cycle, not a disconnection. CLOSED is a refusal.
      var live = CHANNELS.filter(function (channel) {
        var source = sse.sources[channel];
        return source && sse.opened[channel] && source.readyState !== EventSource.CLOSED;
      });
      setConnected(live.length === CHANNELS.length);
    },

    retry: function (channel) {
      var delay = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * Math.pow(2, sse.attempts[channel]));
      sse.attempts[channel] += 1;
      state.reconnects += 1;
      clearTimeout(sse.timers[channel]);
      sse.timers[channel] = setTimeout(function () { sse.open(channel); }, delay);
    },

    open: function (channel) {
      sse.ticket(channel).then(function (ticket) {
        if (!state.signedIn) { return; }
        var previous = sse.sources[channel];
        var source = new EventSource(sse.url(channel, ticket));
        sse.sources[channel] = source;
        if (previous && previous !== source) { previous.close(); }
        source.onopen = function () {
          if (!sse.opened[channel]) { state.connects += 1; }
          sse.opened[channel] = true;
          sse.attempts[channel] = 0;
          sse.refresh();
        };
        source.addEventListener("ready", function (message) {
          var ready = JSON.parse(message.data);
          state.subscribed[channel] = true;
          if (ready.latest && !state.cursors[channel]) {
            state.baselines[channel] = ready.latest;
            refreshChannel(channel);
          }
        });
        source.addEventListener("event", function (message) {
          state.frames += 1;
          var event = JSON.parse(message.data);
          if (!event.channel) { event.channel = channel; }
          apply(event);
        });
        source.addEventListener("gap", function (message) {
          var body = JSON.parse(message.data);
          if (!body.channel) { body.channel = channel; }
          gap(body);
        });
        source.addEventListener("error", function (message) {
          // An `error` event of the server carries data; the browser's own has none.
          if (message.data) {
            state.errors.push({ type: "error", channel: channel, detail: message.data });
          }
          if (sse.sources[channel] !== source) { return; }
          if (source.readyState === EventSource.CONNECTING) {
            // The answer ended and EventSource would come back with a spent ticket: the next
            // request is the console's, with a new ticket, from the last cursor.
            source.close();
            sse.open(channel);
            return;
          }
          sse.refresh();
          if (source.readyState === EventSource.CLOSED) {
            // Refused (not 200): reopen from the cursor, with a new ticket, after a back-off.
            state.errors.push({ type: "sse-closed", channel: channel });
            sse.retry(channel);
          }
        });
      }).catch(function (error) {
        state.errors.push({ type: "ticket", channel: channel, detail: String(error) });
        if (state.signedIn) { sse.retry(channel); }
      });
    },
  };

  // -- start ----------------------------------------------------------------------------------

  buildChannels();
  document.querySelector('[data-testid="region"]').textContent = CONFIG.region;
  $("tenant").value = params.get("tenant") || CONFIG.defaultTenant;
  $("subject").value = params.get("subject") || CONFIG.defaultSubject;
  $("transport-select").value = state.transport;
  $("transport").textContent = state.transport;
  $("transport-select").addEventListener("change", function () {
    var query = new URLSearchParams(window.location.search);
    query.set("transport", $("transport-select").value);
    window.location.search = query.toString();
  });
  $("sign-in-form").addEventListener("submit", signIn);
  $("sign-out").addEventListener("click", function () { signOut(); setStatus("signed out"); });
  state.signIn = signIn;
  state.signOut = signOut;
  state.ready = true;
  if (params.get("autostart") === "1") { signIn(); }
})();
