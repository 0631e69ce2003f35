/*! edudesk lead form · AGPL-3.0-or-later
 *
 * Served as /f/<form id>.js with the form written in (the server replaces the config mark below). Embed with:
 *   <div data-edudesk-form="<form id>"></div>   (optional: where the form goes; else right after the script)
 *   <script src="https://desk.example.com/f/<form id>.js" async></script>
 *
 * Vanilla ES2017, no dependencies, no eval. The form lives in a shadow root, so the host page's CSS cannot
 * break it and its CSS cannot leak out. Server text is only ever written with textContent, never innerHTML.
 * It sends the page's UTM parameters and ad click ids, the page URL and referrer, and an idempotency key made
 * when the form is drawn (a double tap or a retry is answered once) to POST /api/v1/forms/<id>/submissions.
 */
(function () {
  "use strict";

  var CONFIG = /*EDUDESK_FORM_CONFIG*/null;
  if (!CONFIG || !CONFIG.id) return;

  var ATTRIBUTION_KEYS = ["utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term",
    "gclid", "bd_vid", "qz_gdt", "gdt_vid", "clickid", "callback", "fbclid"];
  var MAX_PARAM = 1000;
  var TEXT = {
    choose: "请选择", sending: "提交中…", network: "网络异常，请检查网络后重试",
    tooFast: "提交太频繁，请稍后再试", failed: "提交失败，请稍后重试", required: "请填写{label}",
    requiredChoice: "请选择{label}", phone: "请填写正确的手机号", requiredMark: "必填"
  };
  var CSS = [
    ":host{all:initial;display:block}",
    ".edf{box-sizing:border-box;max-width:480px;margin:0 auto;padding:20px 16px;background:#fff;color:#1f2937;",
    "font:16px/1.5 -apple-system,BlinkMacSystemFont,'PingFang SC','Microsoft YaHei',sans-serif;",
    "border-radius:12px;box-shadow:0 1px 4px rgba(0,0,0,.08)}",
    ".edf *{box-sizing:border-box}",
    ".edf-title{font-size:20px;font-weight:600;margin:0 0 8px}",
    ".edf-intro{margin:0 0 16px;color:#4b5563;white-space:pre-line}",
    ".edf-field{margin:0 0 14px}",
    ".edf-label{display:block;font-weight:500;margin:0 0 6px}",
    ".edf-req{color:#dc2626;margin-left:2px}",
    ".edf-input{display:block;width:100%;font:inherit;font-size:16px;padding:10px 12px;border:1px solid #d1d5db;",
    "border-radius:8px;background:#fff;color:inherit}",
    ".edf-input:focus{outline:2px solid #2563eb;outline-offset:0;border-color:#2563eb}",
    ".edf-input[aria-invalid=true]{border-color:#dc2626}",
    ".edf-choices{display:flex;flex-wrap:wrap;gap:8px 16px}",
    ".edf-choice{display:inline-flex;align-items:center;gap:6px}",
    ".edf-error{color:#dc2626;font-size:14px;margin:4px 0 0;min-height:0}",
    ".edf-error:empty{display:none}",
    ".edf-submit{display:block;width:100%;font:inherit;font-size:17px;font-weight:600;padding:12px;border:0;",
    "border-radius:8px;background:#2563eb;color:#fff;cursor:pointer}",
    ".edf-submit[disabled]{opacity:.6;cursor:default}",
    ".edf-hp{position:absolute!important;left:-10000px!important;width:1px;height:1px;overflow:hidden}",
    ".edf-success{padding:24px 8px;text-align:center;font-size:17px;color:#047857;white-space:pre-line}"
  ].join("");

  var script = document.currentScript ||
    document.querySelector('script[src*="/f/' + CONFIG.id + '.js"]');
  var ORIGIN = script && script.src ? new URL(script.src, location.href).origin : location.origin;
  var ENDPOINT = ORIGIN + "/api/v1/forms/" + encodeURIComponent(CONFIG.id) + "/submissions";
  var counter = 0;

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function say(template, label) { return template.replace("{label}", label); }

  function newKey() {
    var bytes = new Uint8Array(16);
    if (window.crypto && window.crypto.getRandomValues) {
      window.crypto.getRandomValues(bytes);
    } else {
      for (var i = 0; i < bytes.length; i++) bytes[i] = Math.floor(Math.random() * 256);
    }
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  function attribution() {
    var out = {};
    var params;
    try { params = new URLSearchParams(location.search); } catch (e) { return out; }
    ATTRIBUTION_KEYS.forEach(function (key) {
      var value = params.get(key);
      if (value) out[key] = value.slice(0, MAX_PARAM);
    });
    return out;
  }

  function addStyles(root) {
    try {
      var sheet = new CSSStyleSheet();
      sheet.replaceSync(CSS);
      root.adoptedStyleSheets = [sheet];
      return;
    } catch (e) { /* older browsers: a style element */ }
    var style = el("style");
    style.textContent = CSS;
    root.appendChild(style);
  }

  function inputFor(field, id) {
    var input;
    if (field.type === "single" && field.options.length) {
      input = el("select", "edf-input");
      var blank = el("option", "", TEXT.choose);
      blank.value = "";
      input.appendChild(blank);
      field.options.forEach(function (opt) {
        var option = el("option", "", opt);
        option.value = opt;
        input.appendChild(option);
      });
    } else if (field.type === "multi" && field.options.length) {
      input = el("div", "edf-choices");
      input.setAttribute("role", "group");
      field.options.forEach(function (opt, i) {
        var wrap = el("label", "edf-choice");
        var box = el("input");
        box.type = "checkbox";
        box.value = opt;
        box.name = field.key;
        box.id = id + "-" + i;
        wrap.appendChild(box);
        wrap.appendChild(document.createTextNode(opt));
        input.appendChild(wrap);
      });
      return input;
    } else {
      input = el("input", "edf-input");
      input.type = field.type === "phone" ? "tel" : field.type === "date" ? "date" : "text";
      input.maxLength = field.type === "phone" ? 20 : 200;
      if (field.type === "phone") { input.inputMode = "tel"; input.autocomplete = "tel"; }
      if (field.type === "number") input.inputMode = "decimal";
      if (field.key === "name") input.autocomplete = "name";
    }
    input.id = id;
    input.name = field.key;
    if (field.required) input.setAttribute("aria-required", "true");
    return input;
  }

  function valueOf(field, input) {
    if (input.tagName === "DIV") {
      return Array.prototype.filter.call(input.querySelectorAll("input"), function (b) { return b.checked; })
        .map(function (b) { return b.value; });
    }
    return input.value.trim();
  }

  function render(host) {
    var root = host.attachShadow ? host.attachShadow({ mode: "open" }) : host;
    addStyles(root);
    var key = newKey();
    var box = el("div", "edf");
    box.setAttribute("lang", "zh-CN");
    if (CONFIG.title) box.appendChild(el("h2", "edf-title", CONFIG.title));
    if (CONFIG.intro) box.appendChild(el("p", "edf-intro", CONFIG.intro));
    var form = el("form", "edf-form");
    form.noValidate = true;
    var inputs = {};
    var errors = {};
    var n = ++counter;
    CONFIG.fields.forEach(function (field) {
      var id = "edf-" + n + "-" + field.key;
      var wrap = el("div", "edf-field");
      wrap.setAttribute("data-field", field.key);
      var label = el(field.type === "multi" && field.options.length ? "span" : "label", "edf-label", field.label);
      if (label.tagName === "LABEL") label.htmlFor = id;
      if (field.required) {
        var mark = el("span", "edf-req", "*");
        mark.title = TEXT.requiredMark;
        label.appendChild(mark);
      }
      var input = inputFor(field, id);
      var error = el("p", "edf-error");
      error.id = id + "-error";
      error.setAttribute("aria-live", "polite");
      input.setAttribute("aria-describedby", error.id);
      wrap.appendChild(label);
      wrap.appendChild(input);
      wrap.appendChild(error);
      form.appendChild(wrap);
      inputs[field.key] = input;
      errors[field.key] = error;
    });
    // The honeypot: off-screen and out of the tab order; people leave it empty, form-filling bots do not.
    var hp = el("div", "edf-hp");
    hp.setAttribute("aria-hidden", "true");
    var hpLabel = el("label", "", "Website");
    var hpInput = el("input");
    hpInput.type = "text";
    hpInput.name = "website";
    hpInput.tabIndex = -1;
    hpInput.autocomplete = "off";
    hpLabel.appendChild(hpInput);
    hp.appendChild(hpLabel);
    form.appendChild(hp);
    var formError = el("p", "edf-error edf-form-error");
    formError.setAttribute("role", "alert");
    var button = el("button", "edf-submit", CONFIG.submit_text || "提交");
    button.type = "submit";
    form.appendChild(formError);
    form.appendChild(button);
    box.appendChild(form);
    root.appendChild(box);

    function clearErrors() {
      formError.textContent = "";
      Object.keys(errors).forEach(function (k) {
        errors[k].textContent = "";
        if (inputs[k].removeAttribute) inputs[k].removeAttribute("aria-invalid");
      });
    }

    function showError(field, message) {
      if (field && errors[field]) {
        errors[field].textContent = message;
        inputs[field].setAttribute("aria-invalid", "true");
        if (inputs[field].focus) inputs[field].focus();
      } else {
        formError.textContent = message;
      }
    }

    function check(values) {
      for (var i = 0; i < CONFIG.fields.length; i++) {
        var f = CONFIG.fields[i];
        var v = values[f.key];
        var empty = v === "" || (Array.isArray(v) && !v.length);
        if (f.required && empty) {
          return [f.key, say(f.type === "single" || f.type === "multi" || f.type === "date"
            ? TEXT.requiredChoice : TEXT.required, f.label)];
        }
        if (f.key === "phone" && !empty && !/^[0-9０-９+\-\s()（）]{7,20}$/.test(v)) return [f.key, TEXT.phone];
      }
      return null;
    }

    function succeed(message) {
      var done = el("div", "edf-success", message || CONFIG.success_message);
      done.setAttribute("role", "status");
      box.replaceChild(done, form);
    }

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (button.disabled) return;
      clearErrors();
      var values = {};
      CONFIG.fields.forEach(function (f) {
        var v = valueOf(f, inputs[f.key]);
        if (v !== "" && !(Array.isArray(v) && !v.length)) values[f.key] = v;
        else values[f.key] = Array.isArray(v) ? [] : "";
      });
      var problem = check(values);
      if (problem) { showError(problem[0], problem[1]); return; }
      var sent = {};
      Object.keys(values).forEach(function (k) {
        if (!(values[k] === "" || (Array.isArray(values[k]) && !values[k].length))) sent[k] = values[k];
      });
      var body = {
        idempotency_key: key, fields: sent, website: hpInput.value,
        page_url: location.href.slice(0, MAX_PARAM), referrer: (document.referrer || "").slice(0, MAX_PARAM),
        attribution: attribution()
      };
      button.disabled = true;
      var label = button.textContent;
      button.textContent = TEXT.sending;
      fetch(ENDPOINT, {
        method: "POST", mode: "cors", credentials: "omit",
        headers: { "Content-Type": "application/json" }, body: JSON.stringify(body)
      }).then(function (resp) {
        return resp.json().catch(function () { return {}; }).then(function (data) {
          if (resp.ok) { succeed(data.message); return; }
          var err = (data && data.error) || {};
          if (resp.status === 429) showError(null, TEXT.tooFast);
          else showError(err.field, err.message || TEXT.failed);
          button.disabled = false;
          button.textContent = label;
        });
      }).catch(function () {
        showError(null, TEXT.network);  // the same key goes again: a retry is answered once
        button.disabled = false;
        button.textContent = label;
      });
    });
  }

  function start() {
    var targets = Array.prototype.slice.call(
      document.querySelectorAll('[data-edudesk-form="' + CONFIG.id + '"]'));
    targets = targets.filter(function (t) { return !t.hasAttribute("data-edudesk-rendered"); });
    if (!targets.length) {
      var host = document.createElement("div");
      host.setAttribute("data-edudesk-form", CONFIG.id);
      if (script && script.parentNode && script.parentNode !== document.head) {
        script.parentNode.insertBefore(host, script.nextSibling);
      } else {
        document.body.appendChild(host);
      }
      targets = [host];
    }
    targets.forEach(function (t) {
      t.setAttribute("data-edudesk-rendered", "1");
      render(t);
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
}());
