/* edudesk agent console: live lists and chat over /ws/agent, the "/" canned-reply picker, internal notes, tags and
   the contact's earlier conversations. Messages and picker rows are built with textContent (never innerHTML) so
   visitor text and reply texts cannot inject markup. UI words come from data-label-* attributes of the chat, which
   the server renders in the agent's language. */
(function () {
  "use strict";
  var statusDot = document.getElementById("ws-status");
  var ws = null, backoff = 500, refreshTimer = null, typingTimer = null, lastTypingSent = 0;
  var LABELS = { visitor: "访客", bot: "机器人", agent: "客服", system: "系统" };
  var SLASH = /^\/([^\s\/]{0,32})$/;  // "/" at the start of the reply box, then the shortcut being typed
  var picker = { open: false, items: [], active: 0, seq: 0, timer: null, pending: false, pickOnLoad: false,
                 suppressed: false };

  function currentChat() { return document.querySelector(".chat[data-conversation-id]"); }
  function currentId() { var c = currentChat(); return c ? parseInt(c.getAttribute("data-conversation-id"), 10) : null; }
  function label(name, fallback) { var c = currentChat(); return (c && c.getAttribute("data-label-" + name)) || fallback; }
  function composer() { return document.getElementById("composer"); }
  function replyBox() { return document.querySelector("#composer textarea[name=text]"); }
  function newClientId() { return (window.crypto && crypto.randomUUID) ? crypto.randomUUID() : String(Date.now() + Math.random()); }
  function isReplyBox(el) { return !!(el && el.name === "text" && el.closest && el.closest("#composer")); }

  function refreshLists() {
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(function () { if (window.htmx) htmx.trigger(document.body, "refresh-lists"); }, 150);
  }

  function scrollToEnd() { var m = document.getElementById("messages"); if (m) m.scrollTop = m.scrollHeight; }

  // HH:MM in the institution's time zone (the page's data-tz), as the server renders the history.
  var CLOCK = new Intl.DateTimeFormat("zh-CN", { timeZone: document.body.dataset.tz || "Asia/Shanghai",
                                                 hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
  function clock(iso) {
    var d = new Date(iso);
    return isNaN(d.getTime()) ? "" : CLOCK.format(d);
  }

  function appendMessage(msg) {
    var box = document.getElementById("messages");
    if (!box || box.querySelector('[data-message-id="' + msg.id + '"]')) return;
    var el = document.createElement("div");
    el.className = "msg msg-" + msg.sender + (msg.internal ? " msg-internal" : "");
    el.setAttribute("data-message-id", msg.id);
    var meta = document.createElement("div"); meta.className = "meta";
    if (msg.internal) {
      var note = document.createElement("span"); note.className = "note-label"; note.textContent = "🔒 " + label("note", "内部备注");
      meta.appendChild(note);
    }
    // A visitor's messages carry the name they had when they wrote; the chat shows the name they have now.
    var title = document.querySelector(".chat-title strong");
    var visitorName = msg.sender === "visitor" && title ? title.textContent : "";
    var who = document.createElement("span"); who.className = "who"; who.textContent = visitorName || msg.sender_name || LABELS[msg.sender] || "";
    var t = document.createElement("time"); t.setAttribute("datetime", msg.created_at); t.textContent = clock(msg.created_at);
    meta.appendChild(who); meta.appendChild(t); el.appendChild(meta);
    if (msg.text) { var b = document.createElement("div"); b.className = "bubble"; b.textContent = msg.text; el.appendChild(b); }
    if (msg.attachment && /^\/api\/v1\/attachments\//.test(msg.attachment.url)) {
      var a = document.createElement("a"); a.href = msg.attachment.url; a.target = "_blank"; a.rel = "noopener";
      if (/^image\//.test(msg.attachment.content_type || "image/")) {
        var img = document.createElement("img"); img.className = "attachment"; img.src = msg.attachment.url; img.alt = msg.attachment.name || "";
        a.appendChild(img);
      } else {  // a voice note or a file from a WeChat parent
        a.className = "attachment-file"; a.textContent = "📎 " + (msg.attachment.name || label("file", "附件"));
      }
      el.appendChild(a);
    }
    if (msg.kind === "llm") {  // a generated answer (docs/llm.md): marked, with the documents it cited
      var g = document.createElement("div"); g.className = "generated"; g.setAttribute("data-testid", "llm-generated");
      g.textContent = label("generated", "大模型根据机构资料生成") + (msg.sources || []).map(function (s) {
        return " · 《" + s.title + "》v" + s.version; }).join("");
      el.appendChild(g);
    }
    if (msg.buttons && msg.buttons.length) {
      var bs = document.createElement("div"); bs.className = "buttons";
      msg.buttons.forEach(function (btn) { var s = document.createElement("span"); s.className = "chip"; s.textContent = btn.label; bs.appendChild(s); });
      el.appendChild(bs);
    }
    box.appendChild(el);
    showDelivery(el, msg.delivery);
    scrollToEnd();
  }

  // How a message went out through the parent's channel (WeChat …): nothing when it simply arrived.
  function showDelivery(el, delivery) {
    var old = el.querySelector(".delivery");
    if (old) old.remove();
    if (!delivery || (delivery.state === "sent" && delivery.via !== "template")) return;
    var d = document.createElement("div");
    d.className = "delivery delivery-" + delivery.state;
    if (delivery.state === "failed") d.textContent = label("undelivered", "未送达：") + (delivery.error || "");
    else if (delivery.state === "retrying") d.textContent = label("retrying", "渠道暂时不可用，正在重试…");
    else d.textContent = label("via-template", "已通过模板消息送达");
    el.appendChild(d);
  }

  function reloadChat() {
    var id = currentId();
    if (id && window.htmx) htmx.ajax("GET", "/console/c/" + id, { target: "#chat" });
  }

  // The visitor's draft, live: "对方正在输入：…"; an empty draft (sent, cleared, stopped) hides it.
  function showTyping(draft) {
    var p = document.getElementById("typing-preview");
    if (!p) return;
    clearTimeout(typingTimer);
    if (!draft) { p.hidden = true; p.textContent = ""; return; }
    p.textContent = label("typing", "对方正在输入：") + draft;
    p.hidden = false;
    typingTimer = setTimeout(function () { p.hidden = true; }, 8000);
  }

  // Tags changed (here or by a colleague): the chips follow, and so does the edit box unless it is being edited.
  function renderTags(tags) {
    var list = document.getElementById("tag-list");
    if (!list) return;
    list.textContent = "";
    (tags || []).forEach(function (tag) { var s = document.createElement("span"); s.className = "tag"; s.textContent = tag; list.appendChild(s); });
    var details = document.querySelector("#chat-tags details");
    var input = document.querySelector("#chat-tags input[name=tags]");
    if (input && !(details && details.open)) input.value = (tags || []).join("，");
  }

  // The 访客 panel beside the chat (its trail, source and tags) reloads when the visitor writes or their lead
  // changes: a new message may come from a new visit. Debounced: a burst of messages costs one request.
  var visitorTimer = null;
  function refreshVisitor() {
    clearTimeout(visitorTimer);
    visitorTimer = setTimeout(function () { if (window.htmx) htmx.trigger(document.body, "refresh-visitor"); }, 1000);
  }

  function onFrame(f) {
    // Other console modules (console_routing.js: status, transfer, ticket alerts) listen for frames too.
    document.dispatchEvent(new CustomEvent("edudesk:frame", { detail: f }));
    if (f.type === "message") {
      if (f.conversation_id === currentId()) {
        appendMessage(f.message);
        if (f.message.sender === "visitor") { showTyping(""); refreshVisitor(); }
      }
      refreshLists();
      if (f.message.sender === "visitor" && document.hidden && window.Notification && Notification.permission === "granted") {
        new Notification("新消息", { body: (f.message.text || "[图片]").slice(0, 60) });
      }
    } else if (f.type === "conversation") {
      refreshLists();
      if (f.conversation.id === currentId()) {
        var chat = currentChat();
        var assignee = f.conversation.assignee_id == null ? "" : String(f.conversation.assignee_id);
        if (chat && (chat.getAttribute("data-state") !== f.conversation.state ||
                     chat.getAttribute("data-assignee-id") !== assignee)) reloadChat();
        else renderTags(f.conversation.tags);
      }
    } else if (f.type === "message_updated") {
      var box = f.conversation_id === currentId() && document.getElementById("messages");
      var shown = box && box.querySelector('[data-message-id="' + f.message.id + '"]');
      if (shown) showDelivery(shown, f.message.delivery);
    } else if (f.type === "typing") {
      if (f.conversation_id === currentId()) showTyping(f.preview || "");
    } else if (f.type === "rated") {
      refreshLists();
      if (f.conversation_id === currentId()) reloadChat();
    } else if (f.type === "lead") {
      var chatEl = currentChat();
      if (chatEl && window.htmx && String(f.contact_id) === chatEl.getAttribute("data-contact-id")) {
        htmx.ajax("GET", "/console/c/" + currentId() + "/lead", { target: "#lead-card", swap: "outerHTML" });
        refreshVisitor();
      }
    }
  }

  // Close codes (docs/protocol.md): 4401 = the session ended, 4403 = refused (not this console's origin). Both send
  // the agent to /login. /login forwards a signed-in agent back here, so a second 4403 within a few minutes stops
  // with a notice instead of bouncing between the two pages forever. Others reconnect with backoff.
  var FORBIDDEN_KEY = "edudesk:ws4403", FORBIDDEN_MS = 5 * 60 * 1000;
  var statusTitle = statusDot ? statusDot.title : "";

  function refused(code) {
    if (statusDot) statusDot.title = label("ws-refused", "实时连接被服务器拒绝（" + code + "），请重新登录");
    var last = 0;
    try { last = Number(sessionStorage.getItem(FORBIDDEN_KEY)) || 0; } catch (e) { /* storage blocked */ }
    if (code === 4403 && Date.now() - last < FORBIDDEN_MS) return;  // already tried /login: stay, stop retrying
    if (code === 4403) { try { sessionStorage.setItem(FORBIDDEN_KEY, String(Date.now())); } catch (e) { /* blocked */ } }
    location.href = "/login";
  }

  function connect() {
    var proto = location.protocol === "https:" ? "wss:" : "ws:";
    ws = new WebSocket(proto + "//" + location.host + "/ws/agent");
    // A socket is accepted before it is checked, so "open" is no proof of being let in: `hello` is (see onHello).
    ws.onmessage = function (ev) {
      var f;
      try { f = JSON.parse(ev.data); } catch (e) { return; /* ignore malformed */ }
      if (!f) return;
      if (f.type === "hello") onHello();
      try { onFrame(f); } catch (e) { /* one odd frame must not stop the next */ }
    };
    ws.onclose = function (ev) {
      if (statusDot) statusDot.classList.remove("online");
      if (ev.code === 4401 || ev.code === 4403) { refused(ev.code); return; }
      setTimeout(connect, backoff + Math.random() * 300);
      backoff = Math.min(backoff * 2, 15000);
    };
  }

  function onHello() {
    backoff = 500;
    if (statusDot) { statusDot.classList.add("online"); statusDot.title = statusTitle; }
    refreshLists();
    reloadChat();
  }

  // --- internal notes: the 内部备注 switch sends the reply box to /note instead of /send -------------------------
  function noteMode() { var t = document.getElementById("note-toggle"); return !!(t && t.checked); }

  function applyNoteMode() {
    var form = composer();
    if (!form) return;
    var on = noteMode();
    form.classList.toggle("composer-note", on);
    var ta = replyBox();
    if (ta) ta.placeholder = ta.getAttribute(on ? "data-placeholder-note" : "data-placeholder-reply") || ta.placeholder;
    var btn = document.getElementById("composer-send");
    if (btn) btn.textContent = btn.getAttribute(on ? "data-label-note" : "data-label-reply") || btn.textContent;
  }

  // --- the "/" canned-reply picker -------------------------------------------------------------------------------
  function pickerEl() { return document.getElementById("canned-picker"); }

  function closePicker() {
    clearTimeout(picker.timer);
    picker.seq += 1;  // an answer still on its way is dropped
    picker.open = false; picker.items = []; picker.active = 0; picker.pending = false; picker.pickOnLoad = false;
    var el = pickerEl();
    if (el) { el.hidden = true; el.textContent = ""; }
    var ta = replyBox();
    if (ta) { ta.setAttribute("aria-expanded", "false"); ta.removeAttribute("aria-activedescendant"); }
  }

  function pickerNote(text, withLink) {
    var li = document.createElement("li");
    li.className = "canned-empty muted";
    li.textContent = text;
    if (withLink) {
      var a = document.createElement("a"); a.href = "/console/canned"; a.className = "canned-manage";
      a.textContent = label("manage", "管理快捷回复");
      li.appendChild(document.createTextNode(" · ")); li.appendChild(a);
    }
    return li;
  }

  function renderPicker(items) {
    var el = pickerEl(), ta = replyBox();
    if (!el || !ta) return;
    el.textContent = "";
    if (items === null) el.appendChild(pickerNote(label("loading", "正在查找…"), false));
    else if (!items.length) el.appendChild(pickerNote(label("no-match", "没有匹配的快捷回复"), true));
    else {
      items.forEach(function (it, i) {
        var li = document.createElement("li");
        li.id = "canned-option-" + i; li.className = "canned-option"; li.setAttribute("role", "option");
        li.setAttribute("data-index", String(i)); li.setAttribute("data-canned-id", String(it.id));
        li.setAttribute("aria-selected", i === picker.active ? "true" : "false");
        var head = document.createElement("div"); head.className = "canned-head";
        var sc = document.createElement("code"); sc.textContent = "/" + it.shortcut;
        var title = document.createElement("strong"); title.textContent = it.title;
        head.appendChild(sc); head.appendChild(title);
        if (it.category) { var cat = document.createElement("span"); cat.className = "muted"; cat.textContent = it.category; head.appendChild(cat); }
        var body = document.createElement("div"); body.className = "canned-text"; body.textContent = it.text;
        li.appendChild(head); li.appendChild(body);
        el.appendChild(li);
      });
    }
    el.hidden = false;
    picker.open = true;
    ta.setAttribute("aria-expanded", "true");
    if (items && items.length) ta.setAttribute("aria-activedescendant", "canned-option-" + picker.active);
    else ta.removeAttribute("aria-activedescendant");
  }

  function moveActive(delta) {
    if (!picker.items.length) return;
    picker.active = (picker.active + delta + picker.items.length) % picker.items.length;
    var el = pickerEl();
    el.querySelectorAll("[data-index]").forEach(function (li) {
      var on = parseInt(li.getAttribute("data-index"), 10) === picker.active;
      li.setAttribute("aria-selected", on ? "true" : "false");
      if (on && li.scrollIntoView) li.scrollIntoView({ block: "nearest" });
    });
    var ta = replyBox();
    if (ta) ta.setAttribute("aria-activedescendant", "canned-option-" + picker.active);
  }

  function fetchCanned(query) {
    var seq = ++picker.seq, id = currentId();
    var url = "/console/canned/search?q=" + encodeURIComponent(query) + (id ? "&c=" + id : "");
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : { results: [] }; })
      .then(function (data) {
        if (seq !== picker.seq) return;
        var ta = replyBox();
        if (!ta || !SLASH.test(ta.value) || picker.suppressed) { closePicker(); return; }
        var pickNow = picker.pickOnLoad;
        picker.pending = false; picker.pickOnLoad = false;
        picker.items = (data && data.results) || []; picker.active = 0;
        if (pickNow && picker.items.length) { pick(0); return; }
        renderPicker(picker.items);
      })
      .catch(function () {
        if (seq !== picker.seq) return;
        picker.pending = false; picker.pickOnLoad = false; picker.items = [];
        renderPicker([]);
      });
  }

  function updatePicker(ta) {
    var m = SLASH.exec(ta.value);
    if (!m) { picker.suppressed = false; if (picker.open || picker.pending) closePicker(); return; }
    if (picker.suppressed) return;
    clearTimeout(picker.timer);
    picker.pending = true;
    if (!picker.open) renderPicker(null);
    picker.timer = setTimeout(function () { fetchCanned(m[1]); }, 120);
  }

  function pick(index) {
    var it = picker.items[index], ta = replyBox();
    if (!it || !ta) return;
    closePicker();
    ta.value = it.text;
    ta.focus();
    ta.setSelectionRange(ta.value.length, ta.value.length);
    var csrf = document.querySelector("#composer [name=csrf_token]");
    fetch("/console/canned/" + it.id + "/use", {
      method: "POST", credentials: "same-origin",
      headers: { Accept: "application/json", "X-CSRF-Token": csrf ? csrf.value : "" },
    }).catch(function () { /* a lost count is not worth bothering the agent */ });
  }

  // --- keyboard, input and clicks ---------------------------------------------------------------------------------
  document.addEventListener("keydown", function (ev) {
    var ta = ev.target;
    if (!isReplyBox(ta)) return;
    if (picker.open && !ev.isComposing) {
      if (ev.key === "ArrowDown" || ev.key === "ArrowUp") { ev.preventDefault(); moveActive(ev.key === "ArrowDown" ? 1 : -1); return; }
      if (ev.key === "Escape") { ev.preventDefault(); picker.suppressed = true; closePicker(); return; }
      if (ev.key === "Tab" && picker.items.length) { ev.preventDefault(); pick(picker.active); return; }
      if (ev.key === "Enter" && !ev.shiftKey) {
        // Enter never sends a half-typed "/shortcut" to a parent: it picks, waits for the matches, or closes.
        ev.preventDefault();
        if (picker.items.length) pick(picker.active);
        else if (picker.pending) picker.pickOnLoad = true;
        else { picker.suppressed = true; closePicker(); }
        return;
      }
    }
    if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      if (ta.value.trim()) htmx.trigger(ta.form, "submit");
    }
  });

  document.addEventListener("input", function (ev) {
    var ta = ev.target;
    if (!isReplyBox(ta)) return;
    updatePicker(ta);
    if (noteMode() || !ws || ws.readyState !== 1) return;  // a note is not something the visitor waits for
    var now = Date.now();
    if (now - lastTypingSent > 2000) { lastTypingSent = now; ws.send(JSON.stringify({ type: "typing", conversation_id: currentId(), is_typing: true })); }
  });

  document.addEventListener("focusout", function (ev) { if (isReplyBox(ev.target) && picker.open) closePicker(); });

  document.addEventListener("mousedown", function (ev) {
    var target = ev.target;
    if (!target || !target.closest) return;
    var manage = target.closest("#canned-picker a.canned-manage");
    if (manage) { ev.preventDefault(); location.href = manage.href; return; }
    var option = target.closest("#canned-picker [data-index]");
    if (option) { ev.preventDefault(); pick(parseInt(option.getAttribute("data-index"), 10)); }
  });

  document.addEventListener("change", function (ev) {
    if (ev.target && ev.target.id === "note-toggle") {
      applyNoteMode();
      var ta = replyBox();
      if (ta) ta.focus();
    }
  });

  // --- htmx wiring ------------------------------------------------------------------------------------------------
  document.body.addEventListener("htmx:configRequest", function (ev) {
    var form = ev.detail.elt;
    if (form && form.id === "composer" && noteMode()) ev.detail.path = form.getAttribute("data-note-path");
  });

  document.body.addEventListener("htmx:beforeRequest", function (ev) {
    var form = ev.detail.elt, ta = replyBox();
    if (form && form.id === "composer" && ta) form.setAttribute("data-sending", ta.value);
  });

  document.body.addEventListener("htmx:afterRequest", function (ev) {
    var form = ev.detail.elt;
    if (!form || form.id !== "composer" || !ev.detail.successful) return;
    var ta = replyBox();
    // Cleared only if the agent has not typed on meanwhile; the 内部备注 switch stays as it was.
    if (ta && ta.value === form.getAttribute("data-sending")) ta.value = "";
    var cid = form.querySelector("[name=client_id]");
    if (cid) cid.value = newClientId();
  });

  // The agent's own reply comes back twice (the form response and the socket event), in either order.
  function dedupeMessages() {
    var seen = {};
    document.querySelectorAll("#messages [data-message-id]").forEach(function (el) {
      var id = el.getAttribute("data-message-id");
      if (seen[id]) el.remove(); else seen[id] = true;
    });
  }

  // The pane reloads when a colleague or the dispatcher changes the conversation (and on reconnect): what the agent
  // was typing into the same conversation survives the swap, focus included. Read at swap time, not at request
  // time, so a reply sent meanwhile is not put back.
  var draft = null;
  document.body.addEventListener("htmx:beforeSwap", function (ev) {
    var target = ev.detail.target, ta = replyBox();
    draft = null;
    if (!target || target.id !== "chat" || !ta || !ta.value) return;
    draft = { conversation: currentId(), text: ta.value, note: noteMode(), focused: document.activeElement === ta,
              start: ta.selectionStart, end: ta.selectionEnd };
  });

  function restoreDraft() {
    var saved = draft, ta = replyBox();
    draft = null;
    if (!saved || !ta || ta.value || saved.conversation !== currentId()) return;
    ta.value = saved.text;
    // A half-written internal note must stay a note: restored into reply mode it could reach the parent.
    var toggle = document.getElementById("note-toggle");
    if (toggle) toggle.checked = saved.note;
    if (saved.focused) { ta.focus(); ta.setSelectionRange(saved.start, saved.end); }
  }

  // The note colours after settling: htmx's settle step puts the new pane's own attributes back (class included).
  document.body.addEventListener("htmx:afterSettle", function (ev) {
    var target = ev.detail.target;
    if (target && target.id === "chat") applyNoteMode();
  });

  document.body.addEventListener("htmx:afterSwap", function (ev) {
    var target = ev.detail.target;
    if (target && target.id === "messages") { dedupeMessages(); scrollToEnd(); }
    if (target && target.id === "chat") {
      // The draft in the same synchronous step as the swap: no keystroke can land on the page in between.
      closePicker(); picker.suppressed = false; clearTimeout(typingTimer); restoreDraft(); scrollToEnd();
      // A "/shortcut" being typed when the pane reloaded gets its picker back (the swap closed the old one).
      var restored = replyBox();
      if (restored && restored.value && document.activeElement === restored) updatePicker(restored);
    }
    if (target && target.id === "history-view") {
      var dialog = document.getElementById("history-dialog");
      if (dialog && !dialog.open && dialog.showModal) dialog.showModal();
    }
    var cid = document.querySelector("#composer [name=client_id]");
    if (cid && !cid.value) cid.value = newClientId();
  });

  // --- "AI 建议回复": "填入回复框" copies the suggestion into the reply box; the agent edits and sends it --------
  document.addEventListener("click", function (ev) {
    var btn = ev.target && ev.target.closest ? ev.target.closest("[data-fill-reply]") : null;
    if (!btn) return;
    var box = btn.closest("#ai-suggestion"), ta = replyBox();
    var text = box && box.querySelector(".ai-suggestion-text");
    if (!ta || !text) return;
    ta.value = text.value;
    ta.focus();
  });

  document.addEventListener("DOMContentLoaded", function () {
    scrollToEnd();
    var cid = document.querySelector("#composer [name=client_id]");
    if (cid && !cid.value) cid.value = newClientId();
    if (window.Notification && Notification.permission === "default") { try { Notification.requestPermission(); } catch (e) {} }
  });
  connect();
})();
