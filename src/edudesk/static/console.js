/* edudesk agent console: live lists and chat over /ws/agent. Messages are built with textContent (never
   innerHTML) so visitor text cannot inject markup. */
(function () {
  "use strict";
  var statusDot = document.getElementById("ws-status");
  var ws = null, backoff = 500, refreshTimer = null, typingTimer = null, lastTypingSent = 0;
  var LABELS = { visitor: "访客", bot: "机器人", agent: "客服", system: "系统" };

  function currentChat() { return document.querySelector(".chat[data-conversation-id]"); }
  function currentId() { var c = currentChat(); return c ? parseInt(c.getAttribute("data-conversation-id"), 10) : null; }

  function refreshLists() {
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(function () { if (window.htmx) htmx.trigger(document.body, "refresh-lists"); }, 150);
  }

  function scrollToEnd() { var m = document.getElementById("messages"); if (m) m.scrollTop = m.scrollHeight; }

  function appendMessage(msg) {
    var box = document.getElementById("messages");
    if (!box || box.querySelector('[data-message-id="' + msg.id + '"]')) return;
    var el = document.createElement("div");
    el.className = "msg msg-" + msg.sender;
    el.setAttribute("data-message-id", msg.id);
    var meta = document.createElement("div"); meta.className = "meta";
    var who = document.createElement("span"); who.className = "who"; who.textContent = msg.sender_name || LABELS[msg.sender] || "";
    var t = document.createElement("time"); t.setAttribute("datetime", msg.created_at); t.textContent = msg.created_at.slice(11, 16);
    meta.appendChild(who); meta.appendChild(t); el.appendChild(meta);
    if (msg.text) { var b = document.createElement("div"); b.className = "bubble"; b.textContent = msg.text; el.appendChild(b); }
    if (msg.attachment && /^\/api\/v1\/attachments\//.test(msg.attachment.url)) {
      var a = document.createElement("a"); a.href = msg.attachment.url; a.target = "_blank"; a.rel = "noopener";
      var img = document.createElement("img"); img.className = "attachment"; img.src = msg.attachment.url; img.alt = msg.attachment.name || "";
      a.appendChild(img); el.appendChild(a);
    }
    if (msg.buttons && msg.buttons.length) {
      var bs = document.createElement("div"); bs.className = "buttons";
      msg.buttons.forEach(function (btn) { var s = document.createElement("span"); s.className = "chip"; s.textContent = btn.label; bs.appendChild(s); });
      el.appendChild(bs);
    }
    box.appendChild(el);
    scrollToEnd();
  }

  function reloadChat() {
    var id = currentId();
    if (id && window.htmx) htmx.ajax("GET", "/console/c/" + id, { target: "#chat" });
  }

  function onFrame(f) {
    if (f.type === "message") {
      if (f.conversation_id === currentId()) appendMessage(f.message);
      refreshLists();
      if (f.message.sender === "visitor" && document.hidden && window.Notification && Notification.permission === "granted") {
        new Notification("新消息", { body: (f.message.text || "[图片]").slice(0, 60) });
      }
    } else if (f.type === "conversation") {
      refreshLists();
      if (f.conversation.id === currentId()) {
        var chat = currentChat();
        if (chat && chat.getAttribute("data-state") !== f.conversation.state) reloadChat();
      }
    } else if (f.type === "typing") {
      if (f.conversation_id === currentId()) {
        var p = document.getElementById("typing-preview");
        if (p) {
          p.hidden = !f.preview; p.textContent = f.preview ? "访客正在输入：" + f.preview : "";
          clearTimeout(typingTimer); typingTimer = setTimeout(function () { p.hidden = true; }, 6000);
        }
      }
    } else if (f.type === "rated") {
      refreshLists();
      if (f.conversation_id === currentId()) reloadChat();
    } else if (f.type === "lead") {
      var chatEl = currentChat();
      if (chatEl && window.htmx && String(f.contact_id) === chatEl.getAttribute("data-contact-id")) {
        htmx.ajax("GET", "/console/c/" + currentId() + "/lead", { target: "#lead-card", swap: "outerHTML" });
      }
    }
  }

  function connect() {
    var proto = location.protocol === "https:" ? "wss:" : "ws:";
    ws = new WebSocket(proto + "//" + location.host + "/ws/agent");
    ws.onopen = function () { backoff = 500; if (statusDot) statusDot.classList.add("online"); refreshLists(); reloadChat(); };
    ws.onmessage = function (ev) { try { onFrame(JSON.parse(ev.data)); } catch (e) { /* ignore malformed */ } };
    ws.onclose = function (ev) {
      if (statusDot) statusDot.classList.remove("online");
      if (ev.code === 4401) { location.href = "/login"; return; }
      setTimeout(connect, backoff + Math.random() * 300);
      backoff = Math.min(backoff * 2, 15000);
    };
  }

  document.addEventListener("keydown", function (ev) {
    var ta = ev.target;
    if (ta && ta.name === "text" && ta.closest && ta.closest("#composer") && ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      if (ta.value.trim()) htmx.trigger(ta.form, "submit");
    }
  });
  document.addEventListener("input", function (ev) {
    var ta = ev.target;
    if (!ta || ta.name !== "text" || !ws || ws.readyState !== 1) return;
    var now = Date.now();
    if (now - lastTypingSent > 2000) { lastTypingSent = now; ws.send(JSON.stringify({ type: "typing", conversation_id: currentId(), is_typing: true })); }
  });
  // The agent's own reply comes back twice (the form response and the socket event), in either order.
  function dedupeMessages() {
    var seen = {};
    document.querySelectorAll("#messages [data-message-id]").forEach(function (el) {
      var id = el.getAttribute("data-message-id");
      if (seen[id]) el.remove(); else seen[id] = true;
    });
  }

  document.body.addEventListener("htmx:afterSwap", function (ev) {
    if (ev.detail.target && ev.detail.target.id === "messages") { dedupeMessages(); scrollToEnd(); }
    if (ev.detail.target && ev.detail.target.id === "chat") scrollToEnd();
    var cid = document.querySelector("#composer [name=client_id]");
    if (cid && !cid.value) cid.value = (window.crypto && crypto.randomUUID) ? crypto.randomUUID() : String(Date.now() + Math.random());
  });
  document.addEventListener("DOMContentLoaded", function () {
    scrollToEnd();
    var cid = document.querySelector("#composer [name=client_id]");
    if (cid && !cid.value) cid.value = (window.crypto && crypto.randomUUID) ? crypto.randomUUID() : String(Date.now() + Math.random());
    if (window.Notification && Notification.permission === "default") { try { Notification.requestPermission(); } catch (e) {} }
  });
  connect();
})();
