/*! edudesk chat widget · AGPL-3.0-or-later · https://github.com/edudesk
 *
 * Embed with:
 *   <script src="https://desk.example.com/static/widget.js" data-org-key="pk_xxx" async></script>
 * Optional: data-lang="en" (default zh), data-open="true" (start opened).
 *
 * Vanilla ES2017, no dependencies, one file that injects its own CSS (every class is prefixed `edk-`).
 * Protocol: docs/protocol.md. Server text is only ever written with textContent, never innerHTML.
 */
(function () {
  "use strict";

  if (window.EdudeskWidget && window.EdudeskWidget.loaded) return;

  // ---------------------------------------------------------------- configuration
  var script = document.currentScript ||
    document.querySelector('script[data-org-key][src*="widget.js"]');
  if (!script) return;
  var ORG_KEY = script.getAttribute("data-org-key") || "";
  if (!ORG_KEY) { console.warn("[edudesk] data-org-key is missing on the widget <script> tag"); return; }
  var LANG = (script.getAttribute("data-lang") || "zh").toLowerCase().indexOf("en") === 0 ? "en" : "zh";
  var START_OPEN = script.getAttribute("data-open") === "true";
  var ORIGIN = new URL(script.src, location.href).origin;
  var WS_ORIGIN = ORIGIN.replace(/^http/, "ws");
  var TOKEN_KEY = "edudesk:" + ORG_KEY;
  var OUTBOX_KEY = TOKEN_KEY + ":outbox";

  var MAX_CHARS = 2000;
  var MAX_COMMENT = 500;
  var MAX_DRAFT = 200;
  var MAX_QUESTION = 200;
  var SCALES = [2, 3, 5];
  var PING_MS = 25000;
  var PONG_TIMEOUT_MS = 10000;
  var HELLO_TIMEOUT_MS = 10000;
  var BACKOFF_MIN = 500;
  var BACKOFF_MAX = 15000;
  var TYPING_THROTTLE_MS = 1500;
  var AGENT_TYPING_MS = 5000;
  var RATE_LIMIT_RETRY_MS = 10000;
  var SERVER_ERROR_TRIES = 3;      // a message answered `internal_error` is resent this often, then shown as failed
  var AUTH_FAILURES_MAX = 3;       // 4401 this often in a row (no `hello` between): stop instead of looping
  var MAX_FRAME_BYTES = 16384;     // until `hello` says otherwise (protocol: EDUDESK_MAX_FRAME_BYTES)
  var OUTBOX_MAX_AGE_MS = 24 * 3600 * 1000;
  var OUTBOX_MAX = 50;

  var I18N = {
    zh: {
      title: "在线咨询", open: "打开在线咨询", close: "关闭", placeholder: "请输入您的问题，Enter 发送",
      send: "发送", upload: "发送图片", sending: "发送中…", failed: "发送失败", retryLater: "发送太频繁，稍后自动重发",
      retrying: "服务器繁忙，稍后自动重发", frameTooBig: "消息太大，无法发送",
      typing: "老师正在输入…", serving: "{name} 为您服务", connecting: "正在连接…",
      reconnecting: "网络不稳定，正在重新连接…", offline: "网络已断开，恢复后消息会自动发送",
      rateTitle: "请为本次服务打分", rateComment: "还有什么想对我们说的吗？（选填）", rateSubmit: "提交评价",
      rateNeedScore: "请先选择评分", thanks: "感谢您的评价！", rateOffline: "网络未连接，请稍后再提交",
      scores: ["很不满意", "不满意", "一般", "满意", "非常满意"], star: "{n} 星",
      scores3: ["不满意", "一般", "满意"], scores2: ["不满意", "满意"],
      queued: "正在为您转接人工客服，请稍候…您可以继续提问。",
      tooBig: "图片太大了（{size} MB），请选择不超过 {max} MB 的图片", notImage: "只能发送图片（PNG、JPEG、GIF、WebP）",
      uploading: "正在上传图片…", uploadFailed: "图片上传失败，请检查网络后重试",
      tooLong: "消息不能超过 {n} 个字（现在 {len} 个字）", unavailable: "在线咨询暂时不可用",
      image: "图片", bot: "智能助手", unread: "（{n} 条新消息）",
      solved: "解决了吗？", helpful: "有用", notHelpful: "没用", thanksVote: "感谢反馈！",
      hot: "热门问题", guess: "猜你所想"
    },
    en: {
      title: "Chat with us", open: "Open chat", close: "Close", placeholder: "Type your question, Enter to send",
      send: "Send", upload: "Send a picture", sending: "Sending…", failed: "Not sent", retryLater: "Too fast, will retry shortly",
      retrying: "Server busy, will retry shortly", frameTooBig: "The message is too large to send",
      typing: "The teacher is typing…", serving: "{name} is here to help", connecting: "Connecting…",
      reconnecting: "Connection lost, reconnecting…", offline: "You are offline; messages will be sent when you reconnect",
      rateTitle: "How did we do?", rateComment: "Anything else you want to tell us? (optional)", rateSubmit: "Submit",
      rateNeedScore: "Please pick a rating first", thanks: "Thank you for your feedback!",
      rateOffline: "Not connected, please try again shortly",
      scores: ["Very poor", "Poor", "OK", "Good", "Excellent"], star: "{n} stars",
      scores3: ["Unsatisfied", "OK", "Satisfied"], scores2: ["Unsatisfied", "Satisfied"],
      queued: "Connecting you to a teacher, please wait… You can keep asking questions.",
      tooBig: "The picture is too large ({size} MB); the limit is {max} MB", notImage: "Only pictures can be sent (PNG, JPEG, GIF, WebP)",
      uploading: "Uploading picture…", uploadFailed: "Upload failed, please check your connection and retry",
      tooLong: "Messages are limited to {n} characters (now {len})", unavailable: "Chat is not available right now",
      image: "Picture", bot: "Assistant", unread: " ({n} new messages)",
      solved: "Did this help?", helpful: "Yes", notHelpful: "No", thanksVote: "Thanks for the feedback!",
      hot: "Popular questions", guess: "You may want to ask"
    }
  };
  var T = I18N[LANG];
  function t(key, vars) {
    var s = T[key] === undefined ? I18N.zh[key] : T[key];
    if (vars) Object.keys(vars).forEach(function (k) { s = s.split("{" + k + "}").join(String(vars[k])); });
    return s;
  }

  // ---------------------------------------------------------------- small helpers
  var store = {
    get: function (k) { try { return window.localStorage.getItem(k); } catch (e) { return null; } },
    set: function (k, v) { try { window.localStorage.setItem(k, v); } catch (e) { /* storage full or blocked */ } },
    remove: function (k) { try { window.localStorage.removeItem(k); } catch (e) { /* blocked */ } }
  };

  function uuid() {
    var c = window.crypto;
    if (c && typeof c.randomUUID === "function") return c.randomUUID();
    var b = new Uint8Array(16);
    if (c && c.getRandomValues) c.getRandomValues(b);
    else for (var i = 0; i < 16; i++) b[i] = Math.floor(Math.random() * 256);
    b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
    var h = Array.prototype.map.call(b, function (x) { return (x + 0x100).toString(16).slice(1); }).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
  }

  /** UTF-8 bytes of a frame as the socket sends it (a lone surrogate goes out as U+FFFD, three bytes). */
  function utf8Bytes(s) {
    if (window.TextEncoder) return new TextEncoder().encode(s).length;
    var n = 0;
    for (var i = 0; i < s.length; i++) { var c = s.charCodeAt(i); n += c < 0x80 ? 1 : c < 0x800 ? 2 : 3; }
    return n;
  }
  function charCount(s) { return Array.from(s).length; }  // the server counts code points, not UTF-16 units

  function safeColor(c) { return typeof c === "string" && /^#(?:[0-9a-f]{3}|[0-9a-f]{6})$/i.test(c) ? c : null; }

  function assetUrl(url) {
    if (typeof url !== "string") return null;
    if (url.charAt(0) === "/" && url.charAt(1) !== "/") return ORIGIN + url;
    if (/^https?:\/\//i.test(url)) return url;
    return null;  // never javascript:, data: or protocol-relative URLs from the wire
  }

  function clockTime(iso) {
    var d = new Date(iso);
    if (isNaN(d.getTime())) return "";
    return ("0" + d.getHours()).slice(-2) + ":" + ("0" + d.getMinutes()).slice(-2);
  }

  // ---------------------------------------------------------------- styles
  var CSS = [
    "#edk-root{all:initial;position:fixed;right:20px;bottom:20px;z-index:2147483000;--edk-color:#2563eb;",
    "font:14px/1.5 -apple-system,BlinkMacSystemFont,'PingFang SC','Hiragino Sans GB','Noto Sans CJK SC','Microsoft YaHei',sans-serif;color:#1f2937}",
    "#edk-root *,#edk-root *::before,#edk-root *::after{box-sizing:border-box}",
    // Host pages style bare elements freely; undo the usual suspects (class rules below win on specificity).
    "#edk-root div,#edk-root span,#edk-root a,#edk-root img,#edk-root button,#edk-root textarea,#edk-root input{",
    "margin:0;float:none;text-transform:none;letter-spacing:normal;text-indent:0;text-shadow:none;box-shadow:none;",
    "border-radius:0;min-height:0;vertical-align:baseline;text-decoration:none}",
    "#edk-root button{font:inherit;cursor:pointer}",
    "#edk-root .edk-hidden{display:none!important}",
    "#edk-root .edk-bubble{position:relative;width:56px;height:56px;border-radius:50%;border:0;background:var(--edk-color);",
    "color:#fff;box-shadow:0 6px 20px rgba(0,0,0,.22);display:flex;align-items:center;justify-content:center;padding:0;transition:transform .15s}",
    "#edk-root .edk-bubble:hover{transform:scale(1.06)}",
    "#edk-root .edk-bubble svg{width:28px;height:28px;fill:currentColor}",
    "#edk-root .edk-badge{position:absolute;top:-4px;right:-4px;min-width:20px;height:20px;padding:0 5px;border-radius:10px;",
    "background:#ef4444;color:#fff;font-size:12px;line-height:20px;text-align:center;font-weight:600}",
    "#edk-root .edk-panel{position:fixed;right:20px;bottom:88px;width:370px;height:580px;max-height:calc(100vh - 108px);",
    "background:#fff;border-radius:14px;box-shadow:0 12px 40px rgba(0,0,0,.25);display:flex;flex-direction:column;overflow:hidden}",
    "#edk-root .edk-header{background:var(--edk-color);color:#fff;padding:12px 14px;display:flex;align-items:center;gap:8px;flex:none}",
    "#edk-root .edk-titles{flex:1;min-width:0}",
    "#edk-root .edk-title{font-size:16px;font-weight:600;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}",
    "#edk-root .edk-agent{font-size:12px;opacity:.9}",
    "#edk-root .edk-close{background:transparent;border:0;color:#fff;font-size:24px;line-height:1;padding:2px 6px;border-radius:6px}",
    "#edk-root .edk-close:hover{background:rgba(255,255,255,.18)}",
    "#edk-root .edk-queue{flex:none;padding:6px 14px;font-size:13px;line-height:1.45;color:#92400e;background:#fffbeb;border-bottom:1px solid #fde68a}",
    "#edk-root .edk-status{flex:none;padding:4px 14px;font-size:12px;color:#6b7280;background:#f9fafb;border-bottom:1px solid #f3f4f6}",
    "#edk-root .edk-messages{flex:1;overflow-y:auto;padding:12px;background:#f5f6f8;-webkit-overflow-scrolling:touch}",
    "#edk-root .edk-msg{display:flex;flex-direction:column;margin:0 0 10px;max-width:100%}",
    "#edk-root .edk-name{font-size:12px;color:#6b7280;margin:0 0 2px 4px}",
    "#edk-root .edk-body{max-width:82%;padding:8px 11px;border-radius:12px;background:#fff;box-shadow:0 1px 2px rgba(0,0,0,.06);",
    "white-space:pre-wrap;word-break:break-word;overflow-wrap:anywhere}",
    "#edk-root .edk-msg-visitor{align-items:flex-end}",
    "#edk-root .edk-msg-visitor .edk-body{background:var(--edk-color);color:#fff;border-bottom-right-radius:4px}",
    "#edk-root .edk-msg-bot .edk-body,#edk-root .edk-msg-agent .edk-body,#edk-root .edk-welcome .edk-body{border-bottom-left-radius:4px}",
    "#edk-root .edk-msg-system{align-items:center}",
    "#edk-root .edk-msg-system .edk-body{background:transparent;box-shadow:none;color:#6b7280;font-size:12px;text-align:center;max-width:92%;padding:2px 8px}",
    "#edk-root .edk-image{display:block;margin-top:4px}",
    "#edk-root .edk-body.edk-only-image{background:transparent;box-shadow:none;padding:0}",
    "#edk-root .edk-only-image .edk-image{margin-top:0}",
    "#edk-root .edk-image img{display:block;max-width:200px;max-height:240px;border-radius:8px;background:#e5e7eb}",
    "#edk-root .edk-msg-visitor .edk-image img{margin-left:auto}",
    "#edk-root .edk-meta{font-size:11px;color:#9ca3af;margin:2px 4px 0}",
    "#edk-root .edk-msg[data-status=failed] .edk-meta{color:#dc2626}",
    "#edk-root .edk-chips{display:flex;flex-wrap:wrap;gap:6px;margin-top:6px;max-width:90%}",
    "#edk-root .edk-chip{border:1px solid var(--edk-color);color:var(--edk-color);background:#fff;border-radius:14px;padding:3px 12px;font-size:13px}",
    "#edk-root .edk-chip:hover{background:var(--edk-color);color:#fff}",
    "#edk-root .edk-text a{color:inherit;text-decoration:underline;word-break:break-all}",
    "#edk-root .edk-answer-img{display:block;max-width:100%;max-height:220px;border-radius:8px;margin-top:6px}",
    "#edk-root .edk-vote{display:flex;align-items:center;gap:6px;margin-top:4px;font-size:12px;color:#6b7280}",
    "#edk-root .edk-vote button{border:1px solid #d1d5db;background:#fff;border-radius:12px;padding:1px 8px;font-size:12px;cursor:pointer}",
    "#edk-root .edk-vote button[aria-pressed=true]{border-color:var(--edk-color);color:var(--edk-color)}",
    "#edk-root .edk-suggest-title{font-size:12px;color:#6b7280;margin-top:8px}",
    "#edk-root .edk-rate{flex:none;padding:10px 14px;border-top:1px solid #e5e7eb;background:#fffbeb}",
    "#edk-root .edk-rate-title{font-weight:600;margin-bottom:4px}",
    "#edk-root .edk-stars{display:flex;gap:2px;align-items:center}",
    "#edk-root .edk-star{background:transparent;border:0;font-size:26px;line-height:1;color:#d1d5db;padding:0 2px}",
    "#edk-root .edk-star.edk-on{color:#f59e0b}",
    "#edk-root .edk-choice{border:1px solid #d1d5db;background:#fff;color:#374151;border-radius:16px;padding:4px 12px;margin-right:6px;font-size:14px;line-height:1.4}",
    "#edk-root .edk-choice[aria-pressed=true]{border-color:var(--edk-color);background:var(--edk-color);color:#fff}",
    "#edk-root .edk-score-label{font-size:12px;color:#92400e;margin-left:8px}",
    "#edk-root .edk-rate-comment{width:100%;margin:6px 0;min-height:44px;resize:none;border:1px solid #e5e7eb;border-radius:8px;padding:6px 8px;font:inherit}",
    "#edk-root .edk-rate-submit{background:var(--edk-color);color:#fff;border:0;border-radius:8px;padding:5px 14px}",
    "#edk-root .edk-rate-thanks{color:#15803d;font-weight:600}",
    "#edk-root .edk-error{flex:none;padding:4px 14px;font-size:12px;color:#dc2626;background:#fef2f2}",
    "#edk-root .edk-composer{flex:none;display:flex;align-items:flex-end;gap:6px;padding:8px 10px;border-top:1px solid #e5e7eb;background:#fff}",
    "#edk-root .edk-upload{background:transparent;border:0;padding:6px 4px;line-height:0;color:#6b7280;border-radius:8px}",
    "#edk-root .edk-upload:hover{color:var(--edk-color)}",
    "#edk-root .edk-upload:disabled{opacity:.4;cursor:progress}",
    "#edk-root .edk-upload svg{width:26px;height:26px;fill:currentColor}",
    "#edk-root .edk-input{flex:1;resize:none;border:1px solid #e5e7eb;border-radius:10px;padding:7px 10px;font:inherit;",
    "font-size:16px;line-height:1.4;max-height:110px;min-height:38px;outline:none;color:#1f2937;background:#fff}",
    "#edk-root .edk-input:focus{border-color:var(--edk-color)}",
    "#edk-root .edk-send{background:var(--edk-color);color:#fff;border:0;border-radius:10px;padding:8px 14px;white-space:nowrap}",
    "#edk-root .edk-file{display:none}",
    "@media (max-width:480px){",
    "#edk-root{right:14px;bottom:14px}",
    "#edk-root .edk-panel{top:0;left:0;right:0;bottom:0;width:100%;height:100%;max-height:none;border-radius:0}",
    "#edk-root.edk-open .edk-bubble{display:none}",
    "}"
  ].join("");

  // ---------------------------------------------------------------- DOM
  var ui = {};

  function build() {
    var style = el("style");
    style.id = "edk-style";
    style.textContent = CSS;
    (document.head || document.documentElement).appendChild(style);

    var root = el("div", "edk-root");
    root.id = "edk-root";
    root.setAttribute("lang", LANG === "zh" ? "zh-CN" : "en");
    root.setAttribute("data-connection", "connecting");

    var bubble = el("button", "edk-bubble");
    bubble.type = "button";
    bubble.setAttribute("aria-label", t("open"));
    bubble.setAttribute("aria-expanded", "false");
    var svgNS = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(svgNS, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    var path = document.createElementNS(svgNS, "path");
    path.setAttribute("d", "M12 3C6.5 3 2 6.6 2 11c0 2.4 1.3 4.6 3.4 6.1L4.5 21l4.3-2.3c1 .2 2.1.3 3.2.3 5.5 0 10-3.6 10-8s-4.5-8-10-8z");
    svg.appendChild(path);
    bubble.appendChild(svg);
    var badge = el("span", "edk-badge edk-hidden");
    badge.setAttribute("aria-live", "polite");
    bubble.appendChild(badge);

    var panel = el("div", "edk-panel edk-hidden");
    panel.setAttribute("role", "dialog");
    panel.setAttribute("aria-label", t("title"));

    var header = el("div", "edk-header");
    var titles = el("div", "edk-titles");
    var title = el("div", "edk-title", t("title"));
    var agent = el("div", "edk-agent edk-hidden");
    titles.appendChild(title);
    titles.appendChild(agent);
    var closeBtn = el("button", "edk-close", "×");
    closeBtn.type = "button";
    closeBtn.setAttribute("aria-label", t("close"));
    header.appendChild(titles);
    header.appendChild(closeBtn);

    var queue = el("div", "edk-queue edk-hidden");  // "您前面还有 2 位…" while waiting for a teacher
    queue.setAttribute("role", "status");
    queue.setAttribute("aria-live", "polite");
    var status = el("div", "edk-status edk-hidden");
    status.setAttribute("role", "status");
    var messages = el("div", "edk-messages");
    messages.setAttribute("role", "log");
    messages.setAttribute("aria-live", "polite");

    var rate = el("div", "edk-rate edk-hidden");
    var rateForm = el("div", "edk-rate-form");
    var rateTitle = el("div", "edk-rate-title", t("rateTitle"));
    rateForm.appendChild(rateTitle);
    var stars = el("div", "edk-stars");  // the score buttons, drawn by renderScale() for the org's scale
    stars.setAttribute("role", "group");
    stars.setAttribute("aria-label", t("rateTitle"));
    var scoreLabel = el("span", "edk-score-label");
    var rateComment = el("textarea", "edk-rate-comment");
    rateComment.maxLength = MAX_COMMENT;
    rateComment.placeholder = t("rateComment");
    rateComment.rows = 2;
    var rateSubmit = el("button", "edk-rate-submit", t("rateSubmit"));
    rateSubmit.type = "button";
    rateForm.appendChild(stars);
    rateForm.appendChild(rateComment);
    rateForm.appendChild(rateSubmit);
    var thanks = el("div", "edk-rate-thanks edk-hidden", t("thanks"));
    rate.appendChild(rateForm);
    rate.appendChild(thanks);

    var error = el("div", "edk-error edk-hidden");
    error.setAttribute("role", "alert");

    var composer = el("div", "edk-composer");
    // A drawn camera (📷 as an icon), so it looks the same on systems without an emoji font.
    var upload = el("button", "edk-upload");
    upload.type = "button";
    var cam = document.createElementNS(svgNS, "svg");
    cam.setAttribute("viewBox", "0 0 24 24");
    cam.setAttribute("aria-hidden", "true");
    var camPath = document.createElementNS(svgNS, "path");
    camPath.setAttribute("d", "M9 4 7.2 6H4a2 2 0 0 0-2 2v10a2 2 0 0 0 2 2h16a2 2 0 0 0 2-2V8a2 2 0 0 0-2-2h-3.2L15 4H9zm3 4.5a4.5 4.5 0 1 1 0 9 4.5 4.5 0 0 1 0-9zm0 2a2.5 2.5 0 1 0 0 5 2.5 2.5 0 0 0 0-5z");
    cam.appendChild(camPath);
    upload.appendChild(cam);
    upload.title = t("upload");
    upload.setAttribute("aria-label", t("upload"));
    var file = el("input", "edk-file");
    file.type = "file";
    file.accept = "image/png,image/jpeg,image/gif,image/webp,image/*";
    file.tabIndex = -1;
    var input = el("textarea", "edk-input");
    input.rows = 1;
    input.maxLength = MAX_CHARS;
    input.placeholder = t("placeholder");
    input.setAttribute("aria-label", t("placeholder"));
    var send = el("button", "edk-send", t("send"));
    send.type = "button";
    composer.appendChild(upload);
    composer.appendChild(file);
    composer.appendChild(input);
    composer.appendChild(send);

    panel.appendChild(header);
    panel.appendChild(queue);
    panel.appendChild(status);
    panel.appendChild(messages);
    panel.appendChild(rate);
    panel.appendChild(error);
    panel.appendChild(composer);
    root.appendChild(panel);
    root.appendChild(bubble);
    document.body.appendChild(root);

    ui = {
      root: root, bubble: bubble, badge: badge, panel: panel, title: title, agent: agent, closeBtn: closeBtn,
      queue: queue, status: status, messages: messages, rate: rate, rateForm: rateForm, rateTitle: rateTitle,
      stars: stars, starBtns: [], scoreLabel: scoreLabel,
      rateComment: rateComment, rateSubmit: rateSubmit, thanks: thanks, error: error, upload: upload, file: file,
      input: input, send: send, welcome: null
    };
  }

  // ---------------------------------------------------------------- state
  var st = {
    token: store.get(TOKEN_KEY),
    sessionLoaded: false,
    sessionRetries: 0,
    disabled: false,
    welcomeText: "",
    maxUpload: 5 * 1024 * 1024,
    state: null,
    csatPending: false,
    agentName: null,
    lastId: 0,
    resyncAll: false,                   // the server asked for a resync (1012): fetch the whole conversation
    byId: Object.create(null),          // server message id → element
    pendingEls: Object.create(null),    // client_id → element still waiting for its ack
    streams: Object.create(null),       // stream_id → the bubble of a generated answer still arriving
    outbox: [],
    ws: null,
    ready: false,                       // the socket is open and `hello` arrived
    backoff: BACKOFF_MIN,
    reconnectTimer: null,
    pingTimer: null,
    pongTimer: null,
    retryTimer: null,
    helloTimer: null,
    rateLimitTimer: null,
    open: false,
    unread: 0,
    score: 0,
    rated: false,
    csat: { question: "", scale: 5 },   // the org's survey: question and scale (2, 3 or 5)
    drawnScale: 0,
    queue: null,                        // the last `queue` frame: {position, wait_seconds, text}
    agentTyping: false,
    agentTypingTimer: null,
    typingLastSent: 0,
    typingTimer: null,
    typingSentText: "",
    errorTimer: null,
    maxFrame: MAX_FRAME_BYTES,
    authFailures: 0,                    // 4401 closes since the last `hello`
    connection: "connecting"
  };

  // ---------------------------------------------------------------- outbox (survives a page refresh)
  function loadOutbox() {
    var raw = store.get(OUTBOX_KEY);
    if (!raw) return [];
    try {
      var items = JSON.parse(raw);
      var now = Date.now();
      return (Array.isArray(items) ? items : []).filter(function (it) {
        return it && typeof it.client_id === "string" && now - (it.ts || 0) < OUTBOX_MAX_AGE_MS;
      }).slice(-OUTBOX_MAX);
    } catch (e) { return []; }
  }

  function saveOutbox() {
    if (st.outbox.length) store.set(OUTBOX_KEY, JSON.stringify(st.outbox));
    else store.remove(OUTBOX_KEY);
  }

  function dropFromOutbox(cid) {
    var before = st.outbox.length;
    st.outbox = st.outbox.filter(function (it) { return it.client_id !== cid; });
    if (st.outbox.length !== before) saveOutbox();
  }

  // ---------------------------------------------------------------- rendering
  function nearBottom() {
    var m = ui.messages;
    return m.scrollHeight - m.scrollTop - m.clientHeight < 80;
  }

  function scrollToEnd() { ui.messages.scrollTop = ui.messages.scrollHeight; }

  function renderWelcome() {
    if (ui.welcome || !st.welcomeText || Object.keys(st.byId).length) return;
    var w = el("div", "edk-welcome");
    w.appendChild(el("div", "edk-name", T.bot));
    w.appendChild(el("div", "edk-body", st.welcomeText));
    [["guess", st.guess], ["hot", st.hot]].forEach(function (group) {
      var items = (group[1] || []).filter(function (q) { return typeof q === "string" && q; });
      if (!items.length) return;
      w.appendChild(el("div", "edk-suggest-title edk-" + group[0] + "-title", t(group[0])));
      var chips = el("div", "edk-chips edk-" + group[0]);
      items.forEach(function (q) {
        var chip = el("button", "edk-chip", q);
        chip.type = "button";
        chip.setAttribute("data-payload", q);
        markSuggestion(chip);
        chips.appendChild(chip);
      });
      w.appendChild(chips);
    });
    ui.messages.insertBefore(w, ui.messages.firstChild);
    ui.welcome = w;
  }

  // 千人千面: a welcome chip names the rule that chose it, sent back with the click so the server counts it.
  function markSuggestion(chip) {
    if (st.personalRule) chip.setAttribute("data-suggestion", String(st.personalRule));
  }

  function suggestionOf(chip) {
    var n = parseInt(chip.getAttribute("data-suggestion") || "", 10);
    return n > 0 ? n : null;
  }

  function removeWelcome() {
    if (ui.welcome) { ui.welcome.remove(); ui.welcome = null; }
  }

  function buildMessage(msg, pending) {
    var sender = ["visitor", "bot", "agent", "system"].indexOf(msg.sender) >= 0 ? msg.sender : "system";
    var box = el("div", "edk-msg edk-msg-" + sender);
    if (!pending) box.setAttribute("data-id", String(msg.id));
    if (msg.client_id) box.setAttribute("data-client-id", msg.client_id);
    box.setAttribute("data-status", pending ? "sending" : "sent");
    if (sender === "bot" || sender === "agent") {
      box.appendChild(el("div", "edk-name", msg.sender_name || (sender === "bot" ? T.bot : "")));
    }
    var body = el("div", "edk-body");
    var hasBody = false;
    if (msg.text) {
      body.appendChild(sender === "visitor" ? el("div", "edk-text", msg.text) : linkified(msg.text));
      hasBody = true;
    }
    (Array.isArray(msg.images) ? msg.images : []).forEach(function (u) {
      var isrc = typeof u === "string" ? assetUrl(u) : null;
      if (!isrc) return;
      var pic = el("img", "edk-answer-img");
      pic.alt = t("image");
      pic.src = isrc;
      body.appendChild(pic);
      hasBody = true;
    });
    var att = msg.attachment;
    var src = att && assetUrl(att.url);
    if (src && /^image\//.test(att.content_type || "image/")) {
      var a = el("a", "edk-image");
      a.href = src;
      a.target = "_blank";
      a.rel = "noopener noreferrer";
      var img = el("img");
      img.alt = att.name || t("image");
      img.src = src;
      img.addEventListener("load", function () {
        var m = ui.messages;  // stay at the bottom if we were there before the picture took its height
        if (pending || m.scrollHeight - m.scrollTop - m.clientHeight - img.offsetHeight < 80) scrollToEnd();
      });
      a.appendChild(img);
      body.appendChild(a);
      hasBody = true;
    }
    if (hasBody && !msg.text) body.classList.add("edk-only-image");
    if (hasBody) box.appendChild(body);
    if (Array.isArray(msg.buttons) && msg.buttons.length) {
      var chips = el("div", "edk-chips");
      msg.buttons.forEach(function (b) {
        if (!b || typeof b.payload !== "string" || !b.payload) return;
        var chip = el("button", "edk-chip", b.label || b.payload);
        chip.type = "button";
        chip.setAttribute("data-payload", b.payload);
        chips.appendChild(chip);
      });
      box.appendChild(chips);
    }
    if (msg.feedback && !pending) box.appendChild(buildVote(msg));
    var meta = el("div", "edk-meta", pending ? t("sending") : clockTime(msg.created_at));
    if (sender !== "system") box.appendChild(meta);
    return box;
  }

  // Text with http(s) links made clickable; everything else stays text (never innerHTML).
  function linkified(text) {
    var box = el("div", "edk-text");
    var re = /https?:\/\/[^\s<>"'，。！？、）)]+/g;
    var last = 0, m;
    while ((m = re.exec(text)) !== null) {
      if (m.index > last) box.appendChild(document.createTextNode(text.slice(last, m.index)));
      var a = el("a", null, m[0]);
      a.href = m[0];
      a.target = "_blank";
      a.rel = "noopener noreferrer nofollow";
      box.appendChild(a);
      last = m.index + m[0].length;
    }
    if (last < text.length) box.appendChild(document.createTextNode(text.slice(last)));
    return box;
  }

  function buildVote(msg) {
    var row = el("div", "edk-vote");
    row.appendChild(el("span", null, t("solved")));
    [[true, "👍 " + t("helpful")], [false, "👎 " + t("notHelpful")]].forEach(function (v) {
      var b = el("button", null, v[1]);
      b.type = "button";
      b.setAttribute("aria-pressed", msg.helpful === v[0] ? "true" : "false");
      b.addEventListener("click", function () {
        if (!sendFrame({ type: "feedback", message_id: msg.id, helpful: v[0] })) { showError(t("offline")); return; }
        row.querySelectorAll("button").forEach(function (x) { x.setAttribute("aria-pressed", "false"); });
        b.setAttribute("aria-pressed", "true");
      });
      row.appendChild(b);
    });
    return row;
  }

  function insertSorted(node, id) {
    var kids = ui.messages.children;
    var before = null;
    for (var i = 0; i < kids.length; i++) {
      var k = kids[i];
      if (k === ui.welcome) continue;
      var kid = k.getAttribute("data-id");
      if (kid === null) {
        if (k.getAttribute("data-status") === "failed") continue;
        before = k;  // messages still being sent stay at the bottom
        break;
      }
      if (Number(kid) > id) { before = k; break; }
    }
    ui.messages.insertBefore(node, before);
  }

  /** Renders a stored message once, whatever route it came by (history, hello, message, ack). */
  // A generated answer arriving sentence by sentence (docs/protocol.md, "bot_stream"): its own bubble at the
  // bottom until the stored reply naming the stream takes its place; a withdrawn stream is removed.
  function onStream(f) {
    if (typeof f.stream_id !== "string") return;
    var node = st.streams[f.stream_id];
    if (f.dropped) {
      if (node) node.remove();
      delete st.streams[f.stream_id];
      return;
    }
    if (typeof f.text !== "string" || !f.text) return;
    if (!node) {
      removeWelcome();
      node = el("div", "edk-msg edk-msg-bot");
      node.setAttribute("data-stream-id", f.stream_id);
      node.appendChild(el("div", "edk-name", T.bot));
      var body = el("div", "edk-body");
      body.appendChild(el("div", "edk-text"));
      node.appendChild(body);
      ui.messages.appendChild(node);
      st.streams[f.stream_id] = node;
    }
    node.querySelector(".edk-text").textContent += f.text;
    scrollToEnd();
  }

  function addMessage(msg, live) {
    if (!msg || typeof msg.id !== "number") return;
    if (msg.stream_id && st.streams[msg.stream_id]) {
      st.streams[msg.stream_id].remove();
      delete st.streams[msg.stream_id];
    }
    if (msg.client_id && st.pendingEls[msg.client_id]) {
      st.pendingEls[msg.client_id].remove();
      delete st.pendingEls[msg.client_id];
      dropFromOutbox(msg.client_id);
    } else if (msg.client_id && msg.sender === "visitor") {
      dropFromOutbox(msg.client_id);
    }
    if (st.byId[msg.id]) return;
    var stick = nearBottom() || msg.sender === "visitor";
    removeWelcome();
    var node = buildMessage(msg, false);
    st.byId[msg.id] = node;
    insertSorted(node, msg.id);
    if (msg.id > st.lastId) st.lastId = msg.id;
    if (live && msg.sender === "agent") setAgentTyping(false);
    if (live && msg.sender !== "visitor" && !st.open) setUnread(st.unread + 1);
    if (stick) scrollToEnd();
  }

  function addPending(item) {
    var node = buildMessage({ sender: "visitor", text: item.text, attachment: item.attachment,
      client_id: item.client_id }, true);
    st.pendingEls[item.client_id] = node;
    ui.messages.appendChild(node);
    scrollToEnd();
  }

  function markPending(cid, status, note) {
    var node = st.pendingEls[cid];
    if (!node) return;
    node.setAttribute("data-status", status);
    var meta = node.querySelector(".edk-meta");
    if (meta) meta.textContent = note;
  }

  function setUnread(n) {
    st.unread = n;
    ui.badge.textContent = n > 99 ? "99+" : String(n);
    ui.badge.classList.toggle("edk-hidden", n === 0);
    ui.bubble.setAttribute("aria-label", n ? t("open") + t("unread", { n: n }) : t("open"));
  }

  function renderStatus() {
    var text = "";
    if (st.connection === "offline") text = t("offline");
    else if (st.connection === "reconnecting") text = t("reconnecting");
    else if (st.agentTyping) text = t("typing");
    ui.status.textContent = text;
    ui.status.classList.toggle("edk-hidden", !text);
  }

  function setConnection(c) {
    st.connection = c;
    ui.root.setAttribute("data-connection", c);
    renderStatus();
  }

  function setAgentTyping(on) {
    clearTimeout(st.agentTypingTimer);
    st.agentTyping = on;
    if (on) st.agentTypingTimer = setTimeout(function () { setAgentTyping(false); }, AGENT_TYPING_MS);
    renderStatus();
  }

  function showError(text) {
    clearTimeout(st.errorTimer);
    ui.error.textContent = text;
    ui.error.classList.remove("edk-hidden");
    st.errorTimer = setTimeout(function () { ui.error.classList.add("edk-hidden"); }, 10000);
  }

  function clearError() {
    clearTimeout(st.errorTimer);
    ui.error.classList.add("edk-hidden");
  }

  function renderAgent() {
    var show = !!st.agentName && (st.state === "assigned" || st.state === "resolved");
    ui.agent.textContent = show ? t("serving", { name: st.agentName }) : "";
    ui.agent.classList.toggle("edk-hidden", !show);
  }

  function setState(state, csatPending) {
    var prev = st.state;
    st.state = state || null;
    st.csatPending = !!csatPending;
    ui.root.setAttribute("data-state", st.state || "none");
    if (st.state !== "queued") st.queue = null;  // a later wait starts from the generic text again
    renderQueue();
    if (st.state !== prev && (st.state === "resolved" || st.state === "bot" || st.state === "queued" ||
        st.state === "assigned")) {
      st.rated = false;  // a new resolution asks for a new rating; a new chat hides the old thanks
    }
    var stick = nearBottom();
    if (!st.rated && (st.csatPending || st.state === "resolved")) {
      if (ui.rate.classList.contains("edk-hidden") || !ui.thanks.classList.contains("edk-hidden")) {
        selectScore(0);
        ui.rateComment.value = "";
        ui.rateSubmit.disabled = false;
      }
      ui.rate.classList.remove("edk-hidden");
      ui.rateForm.classList.remove("edk-hidden");
      ui.thanks.classList.add("edk-hidden");
    } else if (!st.rated) {
      ui.rate.classList.add("edk-hidden");
    }
    if (stick) scrollToEnd();  // the form took room from the message list
    renderAgent();
  }

  function scoreLabels(scale) {
    return scale === 2 ? T.scores2 : scale === 3 ? T.scores3 : T.scores;
  }

  /** Takes the org's survey from the session, `hello` or a `state` frame; anything malformed keeps the default. */
  function setCsat(c) {
    if (!c || typeof c !== "object") return;
    var scale = SCALES.indexOf(c.scale) >= 0 ? c.scale : 5;
    var question = typeof c.question === "string" ? c.question.trim().slice(0, MAX_QUESTION) : "";
    st.csat = { question: question, scale: scale };
    ui.rateTitle.textContent = question || t("rateTitle");
    ui.stars.setAttribute("aria-label", question || t("rateTitle"));
    if (scale !== st.drawnScale) renderScale();
  }

  // 5: stars; 3: 不满意 / 一般 / 满意; 2: 👍 满意 / 👎 不满意. Every button carries its score in data-score.
  function renderScale() {
    var scale = st.csat.scale;
    var labels = scoreLabels(scale);
    while (ui.stars.firstChild) ui.stars.removeChild(ui.stars.firstChild);
    var order = [];
    for (var i = 1; i <= scale; i++) order.push(i);
    if (scale === 2) order.reverse();  // the happy answer first
    ui.starBtns = order.map(function (n) {
      var b;
      if (scale === 5) {
        b = el("button", "edk-star", "★");
        b.setAttribute("aria-label", t("star", { n: n }) + " · " + labels[n - 1]);
        b.title = labels[n - 1];
      } else {
        b = el("button", "edk-choice", (scale === 2 ? (n === 2 ? "👍 " : "👎 ") : "") + labels[n - 1]);
      }
      b.type = "button";
      b.setAttribute("data-score", String(n));
      b.setAttribute("aria-pressed", "false");
      ui.stars.appendChild(b);
      return b;
    });
    ui.stars.appendChild(ui.scoreLabel);
    st.drawnScale = scale;
    selectScore(0);
  }

  function selectScore(n) {
    st.score = n;
    var scale = st.drawnScale;
    ui.starBtns.forEach(function (b) {
      var score = Number(b.getAttribute("data-score"));
      if (scale === 5) b.classList.toggle("edk-on", score <= n);
      b.setAttribute("aria-pressed", score === n ? "true" : "false");
    });
    ui.scoreLabel.textContent = n && scale === 5 ? T.scores[n - 1] : "";
  }

  // The slim banner under the header while the visitor waits for a teacher; they can keep asking the bot.
  function renderQueue() {
    var show = st.state === "queued";
    var text = show ? ((st.queue && st.queue.text) || t("queued")) : "";
    ui.queue.textContent = text;
    ui.queue.classList.toggle("edk-hidden", !show);
    if (show && st.queue) ui.queue.setAttribute("data-position", String(st.queue.position));
    else ui.queue.removeAttribute("data-position");
  }

  function onQueue(f) {
    if (typeof f.text !== "string" || !f.text) return;
    st.queue = {
      position: typeof f.position === "number" ? f.position : null,
      wait_seconds: typeof f.wait_seconds === "number" ? f.wait_seconds : null,
      text: f.text.slice(0, 300)
    };
    var stick = nearBottom();
    renderQueue();
    if (stick) scrollToEnd();
  }

  // ---------------------------------------------------------------- session (HTTP)
  function loadSession() {
    clearTimeout(st.retryTimer);
    var body = {
      org_key: ORG_KEY,
      token: st.token || null,
      page_url: String(location.href).slice(0, 2000),
      page_title: String(document.title || "").slice(0, 500),
      referrer: String(document.referrer || "").slice(0, 2000)
    };
    fetch(ORIGIN + "/api/v1/widget/session", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
      credentials: "omit"
    }).then(function (resp) {
      return resp.json().catch(function () { return {}; }).then(function (data) { return { resp: resp, data: data }; });
    }).then(function (r) {
      if (r.resp.status === 401 && st.token) {  // token from another org, tampered with, or key rotated
        st.token = null;
        store.remove(TOKEN_KEY);
        loadSession();
        return;
      }
      if (r.resp.status === 429) {  // rate limited: come back when the server says, not sooner
        var wait = parseInt(r.resp.headers.get("Retry-After") || "", 10);
        setConnection("reconnecting");
        st.retryTimer = setTimeout(loadSession, Math.max(nextDelay(), (wait > 0 ? Math.min(wait, 3600) : 0) * 1000));
        return;
      }
      if (r.resp.status === 404 || r.resp.status === 403) {  // unknown org, or this site is not on its allow-list
        st.disabled = true;
        console.warn("[edudesk] " + (r.resp.status === 403 ? "this site is not allowed for org key" : "unknown org key"),
                     ORG_KEY);
        showError(t("unavailable"));
        setConnection("offline");
        return;
      }
      if (!r.resp.ok || !r.data.token) throw new Error("session " + r.resp.status);
      applySession(r.data);
    }).catch(function () {
      setConnection(navigator.onLine === false ? "offline" : "reconnecting");
      var delay = nextDelay();
      st.retryTimer = setTimeout(loadSession, delay);
    });
  }

  function applySession(data) {
    st.token = data.token;
    store.set(TOKEN_KEY, data.token);
    st.sessionLoaded = true;
    trailFlush();  // page views wait for the session call's token (a new visitor's first one included)
    var org = data.org || {};
    ui.title.textContent = org.name || t("title");
    ui.panel.setAttribute("aria-label", org.name || t("title"));
    var color = safeColor(org.color);
    if (color) ui.root.style.setProperty("--edk-color", color);
    st.welcomeText = typeof org.welcome === "string" ? org.welcome : "";
    st.hot = Array.isArray(data.hot) ? data.hot.slice(0, 8) : [];
    st.guess = Array.isArray(data.guess) ? data.guess.slice(0, 4) : [];
    st.personalRule = typeof data.personal_rule_id === "number" ? data.personal_rule_id : null;
    if (typeof data.max_upload_bytes === "number" && data.max_upload_bytes > 0) st.maxUpload = data.max_upload_bytes;
    if (data.agent && data.agent.name) st.agentName = data.agent.name;
    setCsat(data.csat);
    (data.messages || []).forEach(function (m) { addMessage(m, false); });
    renderWelcome();
    setState(data.state, data.csat_pending);
    if (data.queue) onQueue(data.queue);
    scrollToEnd();
    connect();
  }

  // ---------------------------------------------------------------- WebSocket
  function nextDelay() {
    var b = st.backoff;
    st.backoff = Math.min(st.backoff * 2, BACKOFF_MAX);
    return Math.round(b / 2 + Math.random() * b / 2);  // "equal jitter": between b/2 and b
  }

  function connect() {
    if (st.disabled || st.ws || !st.sessionLoaded) return;
    clearTimeout(st.reconnectTimer);
    st.reconnectTimer = null;
    var url = WS_ORIGIN + "/ws/visitor?token=" + encodeURIComponent(st.token) + "&after=" + (st.resyncAll ? 0 : st.lastId) +
      "&page_url=" + encodeURIComponent(String(location.href).slice(0, 1000)) +
      "&page_title=" + encodeURIComponent(String(document.title || "").slice(0, 300)) +
      "&referrer=" + encodeURIComponent(String(document.referrer || "").slice(0, 1000));
    var ws;
    try { ws = new WebSocket(url); } catch (e) { scheduleReconnect(); return; }
    st.ws = ws;
    ws.onmessage = function (ev) {
      var frame;
      try { frame = JSON.parse(ev.data); } catch (e) { return; }
      if (frame && typeof frame.type === "string") handleFrame(frame);
    };
    ws.onclose = function (ev) { onSocketGone(ws, ev.code); };
    ws.onerror = function () { /* onclose follows */ };
    // A socket that neither fails nor says hello (captive portal, stuck proxy) is retried like a failed one.
    clearTimeout(st.helloTimer);
    st.helloTimer = setTimeout(function () { onSocketGone(ws, 0); }, HELLO_TIMEOUT_MS);
  }

  function detach(ws) {
    ws.onmessage = ws.onclose = ws.onerror = ws.onopen = null;
    try { ws.close(); } catch (e) { /* already closed */ }
  }

  function onSocketGone(ws, code) {
    if (ws !== st.ws) return;
    detach(ws);
    st.ws = null;
    st.ready = false;
    clearInterval(st.pingTimer);
    clearTimeout(st.pongTimer);
    clearTimeout(st.helloTimer);
    // Close codes (docs/protocol.md): 4401 means get a fresh identity; 4400, 4403 and 4404 are permanent for this
    // page (retrying cannot help), so the widget stops instead of reconnecting forever.
    if (code === 4401 && ++st.authFailures < AUTH_FAILURES_MAX) {  // keep the outbox: it is resent as the new visitor
      st.token = null;
      store.remove(TOKEN_KEY);
      st.sessionLoaded = false;
      setConnection("reconnecting");
      st.retryTimer = setTimeout(loadSession, nextDelay());
      return;
    }
    // 1012: the server lost its event bus for a while and frames may be missing anywhere in the conversation,
    // not only after the newest one seen: ask for all of it (addMessage keeps what is already shown).
    if (code === 1012) st.resyncAll = true;
    if (code === 4400 || code === 4401 || code === 4403 || code === 4404) {  // 4403: this site is not on the org's allow-list
      st.disabled = true;
      console.warn("[edudesk] chat refused by the server, close code", code);
      showError(t("unavailable"));
      setConnection("offline");
      return;
    }
    if (code === 1009) failUnacked(t("frameTooBig"));  // never resend what the server cannot take
    scheduleReconnect();
  }

  function scheduleReconnect() {
    if (st.disabled || st.reconnectTimer) return;
    if (navigator.onLine === false) { setConnection("offline"); return; }  // the `online` event reconnects
    setConnection("reconnecting");
    st.reconnectTimer = setTimeout(function () { st.reconnectTimer = null; connect(); }, nextDelay());
  }

  function reconnectNow() {
    if (st.disabled) return;
    st.backoff = BACKOFF_MIN;
    clearTimeout(st.reconnectTimer);
    st.reconnectTimer = null;
    if (!st.sessionLoaded) { loadSession(); return; }
    if (!st.ws) connect();
  }

  // Once per page: opening the window may start the institution's greeting script (protocol: `opened`).
  function announceOpened() {
    if (st.openedSent || !st.open || !st.ready || !st.ws) return;
    if (sendFrame({ type: "opened" })) st.openedSent = true;
  }

  function sendFrame(frame) {
    if (!st.ready || !st.ws || st.ws.readyState !== 1) return false;
    try { st.ws.send(JSON.stringify(frame)); return true; } catch (e) { return false; }
  }

  function startPing() {
    clearInterval(st.pingTimer);
    st.pingTimer = setInterval(function () {
      if (!sendFrame({ type: "ping" })) return;
      clearTimeout(st.pongTimer);
      var ws = st.ws;
      st.pongTimer = setTimeout(function () { onSocketGone(ws, 0); }, PONG_TIMEOUT_MS);  // half-open socket
    }, PING_MS);
  }

  /** Sends one outbox item; one too large for the server's frame limit fails here instead of closing the socket. */
  function sendItem(it) {
    var f = { type: "message", client_id: it.client_id };
    if (it.text) f.text = it.text;
    if (it.payload) f.payload = it.payload;
    if (it.suggestion) f.suggestion = it.suggestion;
    if (it.attachment_id) f.attachment_id = it.attachment_id;
    if (it.invitation_id) f.invitation_id = it.invitation_id;
    if (!f.text && !f.attachment_id) f.text = "";
    if (utf8Bytes(JSON.stringify(f)) > st.maxFrame) { failItem(it.client_id, t("frameTooBig")); return; }
    if (sendFrame(f)) markPending(it.client_id, "sending", t("sending"));
  }

  function flushOutbox() {
    st.outbox.slice().forEach(sendItem);
  }

  /** A message the server refused for good: out of the resend queue, shown as failed with the reason. */
  function failItem(cid, reason) {
    dropFromOutbox(cid);
    var node = st.pendingEls[cid];
    if (!node) return;
    markPending(cid, "failed", t("failed") + "：" + reason);
    node.classList.add("edk-failed");
    delete st.pendingEls[cid];
  }

  function failUnacked(reason) {
    st.outbox.slice().forEach(function (it) { failItem(it.client_id, reason); });
    showError(reason);
  }

  function handleFrame(f) {
    switch (f.type) {
      case "hello":
        clearTimeout(st.helloTimer);
        st.ready = true;
        st.backoff = BACKOFF_MIN;
        st.authFailures = 0;
        if (typeof f.max_frame_bytes === "number" && f.max_frame_bytes > 0) st.maxFrame = f.max_frame_bytes;
        setConnection("online");
        if (f.agent && f.agent.name) st.agentName = f.agent.name;
        setCsat(f.csat);
        (f.messages || []).forEach(function (m) { addMessage(m, true); });
        st.resyncAll = false;
        setState(f.state, f.csat_pending);
        if (f.queue) onQueue(f.queue);
        startPing();
        flushOutbox();
        announceOpened();
        break;
      case "ack":
        if (f.message) addMessage(f.message, true);
        if (f.client_id) {
          dropFromOutbox(f.client_id);
          var stale = st.pendingEls[f.client_id];
          if (stale) { stale.remove(); delete st.pendingEls[f.client_id]; }
        }
        break;
      case "message":
        addMessage(f.message, true);
        break;
      case "bot_stream":
        onStream(f);
        break;
      case "typing":
        if (f.who === "agent") setAgentTyping(!!f.is_typing);
        break;
      case "agent_joined":
        if (f.agent && f.agent.name) st.agentName = f.agent.name;
        setState(f.state || "assigned", false);
        break;
      case "state":
        setCsat(f.csat);
        setState(f.state, f.csat_pending);
        break;
      case "queue":
        onQueue(f);
        break;
      case "invite":
        onInvite(f);
        break;
      case "rated":
        st.rated = true;
        ui.rateSubmit.disabled = false;
        ui.rateForm.classList.add("edk-hidden");
        ui.thanks.classList.remove("edk-hidden");
        ui.rate.classList.remove("edk-hidden");
        setState("closed", false);
        break;
      case "error":
        onError(f);
        break;
      case "pong":
        clearTimeout(st.pongTimer);
        break;
      case "message_updated":  // e.g. a 👍/👎 given in another tab
        var node = f.message && st.byId[f.message.id];
        if (node) {
          node.querySelectorAll(".edk-vote button").forEach(function (b, i) {
            b.setAttribute("aria-pressed", f.message.helpful === (i === 0) ? "true" : "false");
          });
        }
        break;
      default:
        break;
    }
  }

  function onError(f) {
    var text = typeof f.message === "string" && f.message ? f.message : String(f.code || "error");
    // An error naming a message settles it: only `rate_limited` and (a few times) `internal_error` are retried;
    // anything else is dropped from the resend queue, so one bad message can never cause a reconnect loop.
    var item = f.client_id ? st.outbox.filter(function (it) { return it.client_id === f.client_id; })[0] : null;
    if (item && (f.code === "rate_limited" ||
                 (f.code === "internal_error" && (item.tries = (item.tries || 0) + 1) < SERVER_ERROR_TRIES))) {
      saveOutbox();
      markPending(f.client_id, "retrying", t(f.code === "rate_limited" ? "retryLater" : "retrying"));
      clearTimeout(st.rateLimitTimer);
      st.rateLimitTimer = setTimeout(flushOutbox, RATE_LIMIT_RETRY_MS);
    } else if (f.client_id) {
      failItem(f.client_id, text);
    } else if (f.code === "not_rateable") {
      ui.rateSubmit.disabled = false;
      ui.rate.classList.add("edk-hidden");
    } else if (f.code === "bad_score" || (f.code === "too_long" && !f.client_id)) {
      ui.rateSubmit.disabled = false;
    }
    showError(text);
  }

  // ---------------------------------------------------------------- invitations (docs/protocol.md "invite")
  // An agent's (or an auto-invite rule's) first word: shown as from them and the panel opens. Nothing is stored
  // until the visitor answers; then the server stores the invitation before the answer and sends both back, so
  // the local copy goes as soon as the visitor sends.
  function onInvite(f) {
    if (typeof f.text !== "string" || !f.text) return;
    dropInvite();
    var name = f.agent && typeof f.agent.name === "string" ? f.agent.name : "";
    var node = buildMessage({ sender: "agent", sender_name: name, text: f.text }, true);
    node.setAttribute("data-status", "sent");
    node.classList.add("edk-invite");
    removeWelcome();
    ui.messages.appendChild(node);
    st.inviteEl = node;
    st.inviteId = typeof f.invitation_id === "number" ? f.invitation_id : null;
    if (!st.open) open();
    scrollToEnd();
  }

  function dropInvite() {
    if (st.inviteEl) { st.inviteEl.remove(); st.inviteEl = null; }
    st.inviteId = null;
  }

  // ---------------------------------------------------------------- sending
  function queueMessage(text, attachment, payload, suggestion) {
    var item = { client_id: uuid(), text: text || "", ts: Date.now() };
    if (suggestion) item.suggestion = suggestion;
    if (st.inviteId) item.invitation_id = st.inviteId;  // the reply names the invitation it answers
    dropInvite();
    if (attachment) { item.attachment_id = attachment.id; item.attachment = attachment; }
    if (payload) item.payload = String(payload).slice(0, 200);
    st.outbox.push(item);
    saveOutbox();
    addPending(item);
    if (st.ready) sendItem(item);
  }

  function sendText(raw, payload, suggestion) {
    var text = String(raw || "").trim();
    if (!text) return false;
    var n = charCount(text);
    if (n > MAX_CHARS) { showError(t("tooLong", { n: MAX_CHARS, len: n })); return false; }
    clearError();
    queueMessage(text, null, payload, suggestion);
    return true;
  }

  function submitInput() {
    if (sendText(ui.input.value)) {
      ui.input.value = "";
      autosize();
      onDraftChanged();
    }
  }

  function autosize() {
    ui.input.style.height = "auto";
    ui.input.style.height = Math.min(ui.input.scrollHeight + 2, 110) + "px";
  }

  // Typing previews go to agents only while a human is (or soon will be) involved, at most one per 1.5 s,
  // with a trailing send so the agent sees the last draft (or the empty one after sending).
  function onDraftChanged() {
    if (st.state !== "queued" && st.state !== "assigned") return;
    if (st.typingTimer) return;
    var wait = st.typingLastSent + TYPING_THROTTLE_MS - Date.now();
    if (wait <= 0) { sendTyping(); return; }
    st.typingTimer = setTimeout(function () { st.typingTimer = null; sendTyping(); }, wait);
  }

  function sendTyping() {
    var draft = Array.from(ui.input.value).slice(0, MAX_DRAFT).join("");  // code points, as the server counts
    if (draft === st.typingSentText) return;
    // `text` repeats the draft for servers of the previous release, which read only that field.
    if (sendFrame({ type: "typing", is_typing: draft.length > 0, draft: draft, text: draft })) {
      st.typingLastSent = Date.now();
      st.typingSentText = draft;
    }
  }

  function uploadImage(file) {
    if (!file) return;
    if (file.type && !/^image\//.test(file.type)) { showError(t("notImage")); return; }
    if (file.size > st.maxUpload) {
      showError(t("tooBig", { size: (file.size / 1048576).toFixed(1), max: Math.floor(st.maxUpload / 1048576) }));
      return;
    }
    if (!st.token) { showError(t("uploadFailed")); return; }
    clearError();
    ui.upload.disabled = true;
    ui.status.textContent = t("uploading");
    ui.status.classList.remove("edk-hidden");
    var form = new FormData();
    form.append("file", file, file.name || "image");
    fetch(ORIGIN + "/api/v1/widget/attachments", {
      method: "POST", body: form, headers: { "X-Visitor-Token": st.token }, credentials: "omit"
    }).then(function (resp) {
      return resp.json().catch(function () { return {}; }).then(function (data) {
        if (!resp.ok) throw new Error((data.error && data.error.message) || t("uploadFailed"));
        if (typeof data.id !== "number") throw new Error(t("uploadFailed"));
        queueMessage("", data);
      });
    }).catch(function (e) {
      showError(e instanceof TypeError ? t("uploadFailed") : (e.message || t("uploadFailed")));
    }).then(function () {
      ui.upload.disabled = false;
      renderStatus();
    });
  }

  // ---------------------------------------------------------------- open / close
  function open() {
    if (st.open) return;
    st.open = true;
    ui.panel.classList.remove("edk-hidden");
    ui.root.classList.add("edk-open");
    ui.bubble.setAttribute("aria-expanded", "true");
    setUnread(0);
    scrollToEnd();
    announceOpened();
    if (window.matchMedia && !window.matchMedia("(max-width: 480px)").matches) ui.input.focus();
  }

  function close() {
    if (!st.open) return;
    st.open = false;
    ui.panel.classList.add("edk-hidden");
    ui.root.classList.remove("edk-open");
    ui.bubble.setAttribute("aria-expanded", "false");
    ui.bubble.focus();
  }

  // ---------------------------------------------------------------- wiring
  function wire() {
    ui.bubble.addEventListener("click", function () { if (st.open) close(); else open(); });
    ui.closeBtn.addEventListener("click", close);
    ui.panel.addEventListener("keydown", function (e) { if (e.key === "Escape") close(); });
    ui.send.addEventListener("click", function () { submitInput(); ui.input.focus(); });
    ui.input.addEventListener("keydown", function (e) {
      if (e.key !== "Enter" || e.shiftKey || e.isComposing || e.keyCode === 229) return;
      e.preventDefault();
      submitInput();
    });
    ui.input.addEventListener("input", function () { autosize(); onDraftChanged(); });
    ui.messages.addEventListener("click", function (e) {
      var chip = e.target.closest ? e.target.closest(".edk-chip") : null;
      if (chip && ui.messages.contains(chip)) {
        // The visitor sees what they clicked; the bot gets the button's payload (e.g. a trial session id).
        var payload = chip.getAttribute("data-payload");
        var label = chip.textContent || payload;
        sendText(label, label !== payload ? payload : null, suggestionOf(chip));
      }
    });
    ui.upload.addEventListener("click", function () { ui.file.click(); });
    ui.file.addEventListener("change", function () {
      var f = ui.file.files && ui.file.files[0];
      ui.file.value = "";
      uploadImage(f);
    });
    ui.stars.addEventListener("click", function (e) {
      var b = e.target.closest ? e.target.closest("[data-score]") : null;
      if (b && ui.stars.contains(b)) selectScore(Number(b.getAttribute("data-score")));
    });
    ui.rateSubmit.addEventListener("click", function () {
      if (!st.score) { showError(t("rateNeedScore")); return; }
      var frame = { type: "rate", score: st.score };
      var comment = ui.rateComment.value.trim().slice(0, MAX_COMMENT);
      if (comment) frame.comment = comment;
      if (!sendFrame(frame)) { showError(t("rateOffline")); return; }
      clearError();
      ui.rateSubmit.disabled = true;
    });
    window.addEventListener("online", reconnectNow);
    window.addEventListener("offline", function () {
      // The socket is dead even if the browser has not noticed yet; queue messages until we are back.
      setConnection("offline");
      if (st.ws) { var ws = st.ws; onSocketGone(ws, 0); }
    });
    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "visible" && !st.ws && navigator.onLine !== false) reconnectNow();
    });
  }

  // ---------------------------------------------------------------- page-view trail (docs/visitors.md)
  // One beacon per page view (navigator.sendBeacon, else fetch keepalive) to /api/v1/widget/beacon, from page load
  // on, before any chat; a single-page app's history navigations count as views. The seconds a page stayed visible
  // ride on the next view as `left` (kept in sessionStorage across page loads of the tab). Nothing is sent when
  // the browser asks not to be tracked (Do-Not-Track, Global Privacy Control).
  var TRAIL_KEY = TOKEN_KEY + ":trail";
  var TRAIL_MAX_BYTES = 4000;  // the server refuses more than 4 KB
  var trail = { key: null, page: null, url: null, visibleMs: 0, visibleSince: null, queued: [], started: false };

  function trailOff() {
    var dnt = navigator.doNotTrack || window.doNotTrack || navigator.msDoNotTrack;
    return dnt === "1" || dnt === "yes" || navigator.globalPrivacyControl === true;
  }

  var tabStore = {
    get: function (k) { try { return window.sessionStorage.getItem(k); } catch (e) { return null; } },
    set: function (k, v) { try { window.sessionStorage.setItem(k, v); } catch (e) { /* blocked */ } }
  };

  function trailViewKey() {
    var chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
    var b = new Uint8Array(16);
    if (window.crypto && window.crypto.getRandomValues) window.crypto.getRandomValues(b);
    else for (var i = 0; i < b.length; i++) b[i] = Math.floor(Math.random() * 256);
    return Array.prototype.map.call(b, function (x) { return chars.charAt(x & 63); }).join("");
  }

  function trailPage(href) {  // the part of the address that makes a new page (a hash router's hash does)
    var hash = href.indexOf("#");
    if (hash < 0) return href;
    var h = href.slice(hash + 1);
    return h.charAt(0) === "/" || h.charAt(0) === "!" ? href : href.slice(0, hash);
  }

  function trailSeconds() {
    var ms = trail.visibleMs + (trail.visibleSince !== null ? Date.now() - trail.visibleSince : 0);
    return Math.max(0, Math.round(ms / 1000));
  }

  function trailSave() {  // so that the next page load of this tab can say how long this page was looked at
    if (trail.key) tabStore.set(TRAIL_KEY, JSON.stringify({ key: trail.key, seconds: trailSeconds(), url: trail.url }));
  }

  function trailPrevious() {
    try {
      var p = JSON.parse(tabStore.get(TRAIL_KEY) || "null");
      if (p && typeof p.key === "string" && /^[A-Za-z0-9_-]{8,24}$/.test(p.key) && typeof p.seconds === "number") {
        return { left: { key: p.key, seconds: Math.max(0, Math.round(p.seconds)) }, url: typeof p.url === "string" ? p.url : "" };
      }
    } catch (e) { /* damaged: no previous view */ }
    return null;
  }

  function trailPost(body) {
    var data = JSON.stringify(body);
    if (utf8Bytes(data) > TRAIL_MAX_BYTES) {  // long addresses: keep the page's own, shorten the rest
      body.view.referrer = body.view.referrer.split("?")[0].slice(0, 300);
      body.view.title = body.view.title.slice(0, 100);
      body.view.url = body.view.url.slice(0, 1000);
      data = JSON.stringify(body);
      if (utf8Bytes(data) > TRAIL_MAX_BYTES) return;
    }
    var url = ORIGIN + "/api/v1/widget/beacon";
    try { if (navigator.sendBeacon && navigator.sendBeacon(url, data)) return; } catch (e) { /* fall back */ }
    try {
      fetch(url, { method: "POST", body: data, keepalive: true, credentials: "omit", mode: "cors",
                   headers: { "Content-Type": "text/plain;charset=UTF-8" } }).catch(function () { /* analytics only */ });
    } catch (e) { /* no fetch: nothing to do */ }
  }

  function trailFlush() {
    if (!st.token || !st.sessionLoaded || trailOff()) return;
    while (trail.queued.length) {
      var q = trail.queued.shift();
      trailPost({ org_key: ORG_KEY, token: st.token, view: q.view, left: q.left });
    }
  }

  function trailView() {
    if (trailOff()) return;
    var href = String(location.href);
    if (trail.key && trailPage(href) === trail.page) return;  // same page (a replaceState of a parameter)
    var left = null, referrer;
    if (trail.key) {
      left = { key: trail.key, seconds: trailSeconds() };
      referrer = trail.url || "";
    } else {
      var prev = trailPrevious();
      left = prev ? prev.left : null;
      referrer = String(document.referrer || "");
    }
    trail.key = trailViewKey();
    trail.page = trailPage(href);
    trail.url = href;
    trail.visibleMs = 0;
    trail.visibleSince = document.visibilityState === "hidden" ? null : Date.now();
    trail.queued.push({ view: { key: trail.key, url: href.slice(0, 2000),
                                title: String(document.title || "").slice(0, 300), referrer: referrer.slice(0, 2000) },
                        left: left });
    trailSave();
    trailFlush();
  }

  function trailStart() {
    if (trail.started || trailOff()) return;
    trail.started = true;
    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "hidden") {
        if (trail.visibleSince !== null) trail.visibleMs += Date.now() - trail.visibleSince;
        trail.visibleSince = null;
        trailSave();
      } else if (trail.visibleSince === null) {
        trail.visibleSince = Date.now();
      }
    });
    window.addEventListener("pagehide", trailSave);
    ["pushState", "replaceState"].forEach(function (name) {
      var original = history[name];
      if (typeof original !== "function") return;
      history[name] = function () {
        var result = original.apply(this, arguments);
        setTimeout(trailView, 100);  // after the app has set the new page's title
        return result;
      };
    });
    window.addEventListener("popstate", function () { setTimeout(trailView, 100); });
    window.addEventListener("hashchange", function () { setTimeout(trailView, 100); });
    trailView();  // this page; sent once the session call has answered with the visitor's token
  }

  function start() {
    if (document.getElementById("edk-root")) return;
    build();
    renderScale();
    wire();
    st.outbox = loadOutbox();
    saveOutbox();
    st.outbox.forEach(addPending);
    if (START_OPEN || openRequested) open();
    trailStart();
    loadSession();
  }

  var openRequested = false;
  window.EdudeskWidget = {
    loaded: true,
    open: function () { if (ui.panel) open(); else openRequested = true; },
    close: function () { if (ui.panel) close(); else openRequested = false; }
  };

  if (document.body) start();
  else document.addEventListener("DOMContentLoaded", start);
})();
