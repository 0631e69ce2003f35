/* The call panel (/console/calls): the live transcript and alert chips over /ws/call/<id>, and the browser audio
   of supervisors (listen / whisper / barge-in over /voice/calls/<id>/monitor) and agents (/voice/calls/<id>/agent).
   Frames: docs/protocol.md, "Call WebSockets". All text goes in through textContent. */
(function () {
  "use strict";
  var scheme = location.protocol === "https:" ? "wss://" : "ws://";
  var FINAL = { 4401: 1, 4403: 1, 4404: 1 };

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function json(panel, name) {
    try { return JSON.parse(panel.getAttribute(name) || "{}"); } catch (e) { return {}; }
  }

  function watch(panel) {
    var callId = panel.getAttribute("data-call");
    var speakers = json(panel, "data-speakers"), states = json(panel, "data-states");
    var list = panel.querySelector("#call-transcript"), chips = panel.querySelector("#call-alerts");
    var state = panel.querySelector("#call-state"), seen = {};
    Array.prototype.forEach.call(list.querySelectorAll("li[data-seq]"), function (li) {
      seen[li.getAttribute("data-seq")] = li;
    });
    var delay = 1000, socket;

    function turn(f) {
      if (seen[f.seq]) return;
      var li = el("li", "turn turn-" + f.speaker);
      li.setAttribute("data-seq", f.seq);
      li.appendChild(el("b", "", speakers[f.speaker] || f.speaker_label));
      li.appendChild(document.createTextNode(" " + f.text));
      (f.alerts || []).forEach(function (name) { li.appendChild(el("span", "chip", name)); });
      seen[f.seq] = li;
      list.appendChild(li);
      li.scrollIntoView({ block: "nearest" });
    }

    function alert(f) {
      (f.alerts || []).forEach(function (a) {
        var chip = el("div", "call-alert severity-" + a.severity);
        chip.appendChild(el("span", "chip", a.name));
        chip.appendChild(el("span", "muted", " " + a.because + " "));
        if (a.suggestion) chip.appendChild(el("span", "call-suggestion", a.suggestion));
        chips.insertBefore(chip, chips.firstChild);
      });
    }

    function connect() {
      socket = new WebSocket(scheme + location.host + "/ws/call/" + callId);
      socket.onopen = function () { delay = 1000; panel.setAttribute("data-live", "1"); };
      socket.onmessage = function (msg) {
        var f;
        try { f = JSON.parse(msg.data); } catch (e) { return; }
        if (f.type === "call_turn") turn(f);
        else if (f.type === "call_alert") alert(f);
        else if ((f.type === "call_state" || f.type === "call_ended") && state) {
          state.textContent = states[f.state] || f.state;
          state.setAttribute("data-state", f.state);
        }
      };
      socket.onclose = function (ev) {
        panel.removeAttribute("data-live");
        if (FINAL[ev.code]) return;
        setTimeout(connect, delay);
        delay = Math.min(delay * 2, 15000);
      };
    }
    connect();
  }

  /* No call yet: ask for the panel every few seconds until one starts. */
  function poll(panel) {
    setTimeout(function () {
      fetch("/console/calls/panel", { credentials: "same-origin" }).then(function (r) {
        return r.ok ? r.text() : null;
      }).then(function (html) {
        if (html === null) return poll(panel);
        var box = document.createElement("div");
        box.innerHTML = html;
        var fresh = box.querySelector("#call-panel");
        if (fresh && fresh.getAttribute("data-call")) {
          panel.replaceWith(fresh);
          watch(fresh);
        } else {
          poll(panel);
        }
      }).catch(function () { poll(panel); });
    }, 3000);
  }

  /* Browser audio: 16-bit PCM at the call's rate both ways. */
  function audioSocket(path, onStatus) {
    var ctx = new (window.AudioContext || window.webkitAudioContext)();
    var ws = new WebSocket(scheme + location.host + path);
    ws.binaryType = "arraybuffer";
    var rate = 8000, at = 0, mic = null, node = null;
    ws.onmessage = function (msg) {
      if (typeof msg.data === "string") {
        var f = JSON.parse(msg.data);
        if (f.sample_rate) rate = f.sample_rate;
        if (onStatus) onStatus(f);
        return;
      }
      var pcm = new Int16Array(msg.data), buf = ctx.createBuffer(1, pcm.length, rate), ch = buf.getChannelData(0);
      for (var i = 0; i < pcm.length; i++) ch[i] = pcm[i] / 32768;
      var src = ctx.createBufferSource();
      src.buffer = buf;
      src.connect(ctx.destination);
      at = Math.max(at, ctx.currentTime + 0.05);
      src.start(at);
      at += buf.duration;
    };
    function speak() {
      if (mic) return Promise.resolve();
      return navigator.mediaDevices.getUserMedia({ audio: true }).then(function (stream) {
        mic = ctx.createMediaStreamSource(stream);
        node = ctx.createScriptProcessor(2048, 1, 1);
        node.onaudioprocess = function (e) {
          if (ws.readyState !== 1) return;
          var input = e.inputBuffer.getChannelData(0), step = ctx.sampleRate / rate;
          var out = new Int16Array(Math.floor(input.length / step));
          for (var i = 0; i < out.length; i++) {
            var v = input[Math.floor(i * step)];
            out[i] = Math.max(-32768, Math.min(32767, Math.round(v * 32767)));
          }
          ws.send(out.buffer);
        };
        mic.connect(node);
        node.connect(ctx.destination);
      });
    }
    return {
      ws: ws, speak: speak,
      close: function () { ws.close(); if (node) node.disconnect(); if (mic) mic.disconnect(); ctx.close(); }
    };
  }

  function monitor(box) {
    var callId = box.getAttribute("data-call"), status = document.getElementById("monitor-status"), conn = null;
    box.addEventListener("click", function (ev) {
      var mode = ev.target.getAttribute && ev.target.getAttribute("data-monitor");
      if (!mode) return;
      if (mode === "stop") { if (conn) conn.close(); conn = null; status.textContent = ""; return; }
      if (!conn) {
        conn = audioSocket("/voice/calls/" + callId + "/monitor", function (f) {
          if (f.mode) status.textContent = ev.target.textContent;
        });
        conn.ws.addEventListener("close", function () { conn = null; status.textContent = ""; });
      }
      var send = function () { conn.ws.send(JSON.stringify({ type: "mode", mode: mode })); };
      var ready = mode === "listen" ? Promise.resolve() : conn.speak();
      ready.then(function () {
        if (conn.ws.readyState === 1) send(); else conn.ws.addEventListener("open", send);
      });
    });
  }

  function agentAudio(box) {
    box.addEventListener("click", function (ev) {
      if (!ev.target.getAttribute("data-agent-audio")) return;
      var conn = audioSocket("/voice/calls/" + box.getAttribute("data-call") + "/agent");
      conn.speak();
      ev.target.disabled = true;
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var panel = document.getElementById("call-panel");
    if (panel && panel.getAttribute("data-call")) watch(panel);
    else if (panel && location.pathname === "/console/calls") poll(panel);
    Array.prototype.forEach.call(document.querySelectorAll(".call-monitor"), monitor);
    Array.prototype.forEach.call(document.querySelectorAll(".call-agent-audio"), agentAudio);
  });
})();
