/* edudesk bot-script (话术流程) editor: a form over the flow's JSON, laid over the JSON textarea it replaces.

   The page carries the flow, the org's lead-card fields and the problems of a refused save in one
   <script type="application/json" id="flow-editor-data"> block, and the form's pieces as <template>s whose words
   the server renders in the admin's language (as console.js takes its words from data-label-* attributes).
   Every input names its key in the stored JSON with data-f, every list of rows with data-list, and every row (a
   trigger, a step card, a button, an option, a case) is a [data-scope]; reading and filling the form walks that
   tree, so a key the form does not show is kept as it was. On submit the form is written into the textarea and
   posted as before: the server's validation stays the only one, and its problem paths (steps[2].options[1].goto)
   are walked down the same tree to mark the input they concern. User text only ever goes through .value,
   .textContent and new Option(), never innerHTML. */
(function () {
  "use strict";
  var root = document.getElementById("flow-editor");
  var form = document.getElementById("flow-form");
  var dataEl = document.getElementById("flow-editor-data");
  if (!root || !form || !dataEl) return;
  var textarea = form.querySelector("textarea[name=definition]");
  var pane = root.querySelector('[data-pane="form"]');
  var jsonPane = document.getElementById("flow-json");
  var tabError = root.querySelector(".fe-tab-error");
  var tabs = [].slice.call(root.querySelectorAll("[data-tab]"));
  var data = parseJson(dataEl.textContent) || {};
  var FIELDS = Array.isArray(data.fields) ? data.fields : [];
  var TEXT_KEYS = ["text", "prompt", "question"];  // carried over when a step changes kind
  var BLANK = { schema_version: 1, name: "", key: "", enabled: true, triggers: [{ kind: "keywords" }],
                steps: [{ kind: "say", id: "hello" }] };
  var active = "form", msgSeq = 0;

  function label(name) { return root.getAttribute("data-label-" + name) || ""; }
  function parseJson(text) { try { return JSON.parse(text); } catch (e) { return undefined; } }
  function isObj(v) { return v !== null && typeof v === "object" && !Array.isArray(v); }
  function each(list, fn) { Array.prototype.forEach.call(list, fn); }
  function keyOf(el) { return el.getAttribute("data-f") || el.getAttribute("data-list"); }
  function scopeOf(el) { return el.parentElement ? el.parentElement.closest("[data-scope]") : null; }
  // The inputs and lists that belong to this row itself, not to a row nested in it.
  function owned(scope, selector) {
    return [].filter.call(scope.querySelectorAll(selector), function (el) { return scopeOf(el) === scope; });
  }
  function ownedKey(scope, key) { return owned(scope, "[data-f],[data-list]").filter(function (el) { return keyOf(el) === key; })[0]; }
  function rows(list) { return [].filter.call(list.children, function (c) { return c.hasAttribute("data-scope"); }); }
  function hiddenWithin(el, scope) {
    for (var n = el; n && n !== scope; n = n.parentElement) { if (n.hidden) return true; }
    return false;
  }
  function stepsList() { return ownedKey(pane, "steps"); }
  function unsupported(what) { var e = new Error(what); e.unsupported = true; return e; }

  // ---- building pieces from the templates ------------------------------------------------------------------------

  function emptyOption(select) {
    if (select.hasAttribute("data-empty")) select.appendChild(new Option(select.getAttribute("data-empty"), ""));
  }

  function fieldOptions(select) {
    emptyOption(select);
    [[true, "builtin"], [false, "custom"]].forEach(function (group) {
      var items = FIELDS.filter(function (f) { return !!f.builtin === group[0]; });
      if (!items.length) return;
      var g = document.createElement("optgroup");
      g.label = label(group[1]);
      items.forEach(function (f) {
        g.appendChild(new Option(f.label + "（" + f.key + "）" + (f.enabled ? "" : label("disabled")), f.key));
      });
      select.appendChild(g);
    });
  }

  function instantiate(id) {
    var tpl = document.getElementById(id);
    if (!tpl || !tpl.content) return null;
    var frag = tpl.content.cloneNode(true);
    each(frag.querySelectorAll('select[data-src="fields"]'), fieldOptions);
    each(frag.querySelectorAll('select[data-src="steps"]'), emptyOption);
    return frag;
  }

  function templateKeys(id) {
    var tpl = document.getElementById(id), out = {};
    if (tpl && tpl.content) {
      each(tpl.content.querySelectorAll("[data-f],[data-list]"), function (el) {
        if (!el.hasAttribute("data-virtual")) out[keyOf(el)] = true;
      });
    }
    return out;
  }

  function kindsOf(type) {
    var tpl = document.getElementById("fe-tpl-row-" + type);
    var sel = tpl && tpl.content.querySelector("[data-kinded]");
    return sel ? [].map.call(sel.options, function (o) { return o.value; }) : [];
  }

  function setBody(scope, kind) {
    var body = owned(scope, "[data-body]")[0];
    if (!body) return;
    body.textContent = "";
    var frag = instantiate("fe-tpl-" + scope.getAttribute("data-scope") + "-" + kind);
    if (frag) body.appendChild(frag);
    scope.setAttribute("data-kind", kind);
  }

  function newRow(list, obj) {
    var frag = instantiate("fe-tpl-row-" + list.getAttribute("data-row"));
    var row = frag.firstElementChild;
    var kind = owned(row, "[data-kinded]")[0];
    if (kind) {
      if (obj.kind !== undefined) writeValue(kind, obj.kind);
      setBody(row, kind.value);
    }
    fill(row, obj);
    return row;
  }

  // ---- values ------------------------------------------------------------------------------------------------------

  var SEPARATORS = /[,，、;；\n]+/;
  function splitList(text) {
    return text.split(SEPARATORS).map(function (s) { return s.trim(); }).filter(Boolean);
  }

  function ensureOption(select, value) {
    for (var i = 0; i < select.options.length; i++) { if (select.options[i].value === value) return; }
    var missing = select.getAttribute("data-src") === "steps" ? label("missing") : label("unknown");
    var opt = new Option(value + missing, value);
    opt.className = "fe-missing";
    select.appendChild(opt);
  }

  function writeValue(el, v) {
    if (el.type === "checkbox") { el.checked = v === true || v === "true"; return; }
    var s = v === null || v === undefined ? "" : Array.isArray(v) ? v.join("，") : String(v);
    if (el.tagName === "SELECT") ensureOption(el, s);
    el.value = s;
  }

  // The value an input adds to the JSON; undefined leaves the key out (the flow's default applies).
  function readValue(el) {
    if (el.type === "checkbox") return el.checked;
    var t = el.getAttribute("data-t") || "str", v = el.value.trim();
    if (t === "list") {
      var items = splitList(v);
      return items.length || !el.hasAttribute("data-omit-empty") ? items : undefined;
    }
    if (t === "null") return v === "" ? null : v;
    if (v === "") return undefined;
    if (t === "int" || t === "num") { var n = Number(v); return isFinite(n) ? n : v; }  // not a number: the server says so
    if (t === "bool") return v === "true";
    return v;
  }

  function caseOp(obj) {
    if (obj["in"] != null) return "in";
    if (obj.equals != null) return "equals";
    if (obj.exists != null) return "exists";
    if (obj.min != null || obj.max != null) return "range";
    return "in";
  }

  // ---- form ⇄ JSON -------------------------------------------------------------------------------------------------

  function fill(scope, obj) {
    var known = {};
    owned(scope, "[data-f],[data-list]").forEach(function (el) {
      if (el.hasAttribute("data-virtual")) return;
      var k = keyOf(el), v = obj[k];
      known[k] = true;
      if (!(k in obj)) return;  // the template's default stays
      if (el.hasAttribute("data-list")) {
        if (v !== null && !Array.isArray(v)) throw unsupported(k);
        (v || []).forEach(function (item) {
          if (!isObj(item)) throw unsupported(k);
          el.appendChild(newRow(el, item));
        });
        return;
      }
      if (el.getAttribute("data-t") === "list" && v !== null) {
        // A value with a comma in it would come back as two: such a list is edited as JSON.
        if (!Array.isArray(v) || v.some(function (x) { return SEPARATORS.test(String(x)); })) throw unsupported(k);
      }
      if (Array.isArray(v) && v.some(isObjOrList)) throw unsupported(k);
      if (isObj(v)) throw unsupported(k);
      writeValue(el, v);
    });
    var extra = {};
    Object.keys(obj).forEach(function (k) { if (!known[k]) extra[k] = obj[k]; });
    scope._feExtra = extra;  // keys the form does not show: written back untouched
    owned(scope, "[data-op-switch]").forEach(function (sw) { sw.value = caseOp(obj); });
    sync(scope);
  }

  function isObjOrList(v) { return v !== null && typeof v === "object"; }

  function read(scope) {
    var extra = scope._feExtra || {}, obj = {};
    Object.keys(extra).forEach(function (k) { obj[k] = extra[k]; });
    owned(scope, "[data-f],[data-list]").forEach(function (el) {
      if (el.hasAttribute("data-virtual") || hiddenWithin(el, scope)) return;
      var k = keyOf(el);
      if (el.hasAttribute("data-list")) { obj[k] = rows(el).map(read); return; }
      var v = readValue(el);
      if (v !== undefined) obj[k] = v;
    });
    return obj;
  }

  function serialise() { return JSON.stringify(read(pane), null, 2); }

  function load(flow) {
    if (!isObj(flow)) return false;
    owned(pane, "[data-list]").forEach(function (list) { list.textContent = ""; });
    owned(pane, "[data-f]").forEach(function (el) {
      if (el.type === "checkbox") el.checked = el.defaultChecked; else el.value = el.defaultValue;
    });
    try {
      fill(pane, flow);
    } catch (e) {
      if (!e.unsupported) throw e;
      return false;
    }
    refreshRefs();
    return true;
  }

  // Show the inputs of a case's chosen condition; keyword chips.
  function sync(scope) {
    owned(scope, "[data-op-switch]").forEach(function (sw) {
      owned(scope, "[data-op]").forEach(function (el) { el.hidden = el.getAttribute("data-op") !== sw.value; });
    });
    owned(scope, "[data-chips]").forEach(chips);
  }

  function chips(input) {
    var box = owned(scopeOf(input), ".fe-chips")[0];
    if (!box) return;
    box.textContent = "";
    splitList(input.value).forEach(function (word) {
      var chip = document.createElement("span");
      chip.className = "chip";
      chip.textContent = word;
      box.appendChild(chip);
    });
  }

  // ---- steps: ids, jump targets, kinds ----------------------------------------------------------------------------

  function stepId(card) { var input = ownedKey(card, "id"); return input ? input.value.trim() : ""; }

  function uniqueId(base) {
    var taken = {};
    rows(stepsList()).forEach(function (card) { taken[stepId(card)] = true; });
    base = (base || "step").replace(/_\d+$/, "").slice(0, 34) || "step";
    if (!/^[A-Za-z]/.test(base)) base = "step";
    for (var n = 2; ; n++) { if (!taken[base + "_" + n]) return base + "_" + n; }
  }

  // Every "go to step" select lists the current step ids; a target that no longer exists stays selected and marked.
  function refreshRefs() {
    var ids = [], seen = {};
    rows(stepsList()).forEach(function (card, i) {
      var id = stepId(card);
      card.setAttribute("data-step-id", id);
      var num = owned(card, ".fe-num")[0];
      if (num) num.textContent = label("step").replace("{n}", String(i + 1));
      if (id && !seen[id]) { seen[id] = true; ids.push(id); }
    });
    each(pane.querySelectorAll('select[data-src="steps"]'), function (sel) {
      var cur = sel.value;
      sel.textContent = "";
      emptyOption(sel);
      ids.forEach(function (id) { sel.appendChild(new Option(id, id)); });
      if (cur) ensureOption(sel, cur);
      sel.value = cur;
      sel.classList.toggle("fe-dangling", !!cur && !seen[cur]);
    });
  }

  function renameRefs(from, to) {
    var still = rows(stepsList()).some(function (card) { return stepId(card) === from; });
    if (!from || !to || from === to || still) { refreshRefs(); return; }
    var pointing = [].filter.call(pane.querySelectorAll('select[data-src="steps"]'), function (s) { return s.value === from; });
    refreshRefs();
    pointing.forEach(function (s) { s.value = to; });
    refreshRefs();
  }

  function switchKind(scope, kind) {
    var type = scope.getAttribute("data-scope"), obj = read(scope);
    var keep = templateKeys("fe-tpl-" + type + "-" + kind), all = {};
    kindsOf(type).forEach(function (k) {
      var keys = templateKeys("fe-tpl-" + type + "-" + k);
      Object.keys(keys).forEach(function (key) { all[key] = true; });
    });
    // What the new kind does not have is put aside on the card, so switching back and forth loses nothing.
    var stash = scope._feStash || (scope._feStash = {}), text;
    TEXT_KEYS.forEach(function (k) { if (text === undefined && typeof obj[k] === "string") text = obj[k]; });
    Object.keys(obj).forEach(function (k) { if (all[k] && !keep[k]) { stash[k] = obj[k]; delete obj[k]; } });
    if (text !== undefined) {
      TEXT_KEYS.some(function (k) { if (keep[k]) { if (obj[k] == null) obj[k] = text; return true; } return false; });
    }
    Object.keys(stash).forEach(function (k) { if (keep[k] && obj[k] === undefined) obj[k] = stash[k]; });
    var options = obj.options;
    if (Array.isArray(options) && keep.options) {  // button options ⇄ the answers an ask_field accepts
      obj.options = kind === "ask_buttons"
        ? options.map(function (o) { return isObj(o) ? o : { label: String(o) }; })
        : options.map(function (o) { return isObj(o) ? String(o.value || o.label || "") : o; });
    }
    obj.kind = kind;
    for (;;) {
      setBody(scope, kind);
      try { fill(scope, obj); break; } catch (e) {
        if (!e.unsupported) throw e;
        stash[e.message] = obj[e.message];  // a value this kind cannot show: keep it aside, show the default
        delete obj[e.message];
      }
    }
    refreshRefs();
  }

  // ---- problems from the server ------------------------------------------------------------------------------------

  // Walk "steps[2].options[1].goto" down the form; stop at the deepest piece that exists.
  function locate(path) {
    var tokens = String(path).match(/[^.[\]]+/g) || [], scope = pane, el = pane;
    for (var i = 0; i < tokens.length; i++) {
      var tok = tokens[i];
      if (/^\d+$/.test(tok)) {
        var row = el.hasAttribute("data-list") ? rows(el)[Number(tok)] : null;
        if (!row) break;
        el = scope = row;
      } else {
        var found = ownedKey(scope, tok);
        if (!found || el !== scope) break;
        el = found;
      }
    }
    return el;
  }

  function focusable(el) {
    if (!el.hasAttribute("data-scope")) return el;
    return ownedKey(el, "id") || owned(el, "[data-kinded]")[0] || owned(el, "[data-f]")[0] || el;
  }

  function mark(el, message) {
    for (var d = el.closest("details"); d; d = d.parentElement.closest("details")) d.open = true;
    var card = el.closest(".fe-card");
    if (card) card.classList.add("fe-card-invalid");
    var msg = document.createElement("p");
    msg.className = "field-error fe-msg";
    msg.id = "fe-msg-" + (++msgSeq);
    msg.textContent = message;
    var input = focusable(el);
    if (input !== el || !el.hasAttribute("data-list")) {
      input.classList.add("fe-invalid");
      input.setAttribute("aria-invalid", "true");
      input.setAttribute("aria-describedby", msg.id);
    }
    if (el.hasAttribute("data-scope")) {  // a whole step or row: the message heads its body
      var body = owned(el, "[data-body]")[0];
      el.insertBefore(msg, body || el.firstChild);
    } else if (el.hasAttribute("data-list")) {
      el.parentElement.insertBefore(msg, el);
    } else {
      var lab = el.closest("label") || el;
      lab.parentElement.insertBefore(msg, lab.nextSibling);
    }
  }

  function where(path) {
    var m = /^steps\[(\d+)\]/.exec(path);
    if (!m) return "";
    var card = rows(stepsList())[Number(m[1])], id = card ? stepId(card) : "";
    return label("step").replace("{n}", String(Number(m[1]) + 1)) + (id ? "「" + id + "」" : "") + " · ";
  }

  function markProblems(problems) {
    var first = null;
    (Array.isArray(problems) ? problems : []).forEach(function (p) {
      if (!isObj(p) || !p.path) return;
      var el = locate(p.path);
      if (el === pane) return;
      mark(el, String(p.message || ""));
      if (!first) first = focusable(el);
    });
    each(document.querySelectorAll("#flow-problems li[data-path]"), function (li) {
      var path = li.getAttribute("data-path");
      if (!path) return;
      var prefix = document.createElement("span");
      prefix.textContent = where(path);
      li.insertBefore(prefix, li.firstChild);
      li.classList.add("fe-locatable");
      li.addEventListener("click", function () {
        if (active !== "form") return;
        var target = focusable(locate(path));
        target.scrollIntoView({ block: "center" });
        if (target.focus) target.focus();
      });
    });
    if (first) first.scrollIntoView({ block: "center" });
  }

  function clearMark(el) {
    if (!el.classList || !el.classList.contains("fe-invalid")) return;
    el.classList.remove("fe-invalid");
    el.removeAttribute("aria-invalid");
    var msg = document.getElementById(el.getAttribute("aria-describedby") || "");
    if (msg) msg.remove();
    el.removeAttribute("aria-describedby");
  }

  // ---- tabs, actions, submit ---------------------------------------------------------------------------------------

  function showTab(name, error) {
    active = name;
    pane.hidden = name !== "form";
    jsonPane.hidden = name !== "json";
    tabs.forEach(function (b) { b.setAttribute("aria-selected", String(b.getAttribute("data-tab") === name)); });
    tabError.textContent = error || "";
    tabError.hidden = !error;
  }

  tabs.forEach(function (button) {
    button.addEventListener("click", function () {
      var name = button.getAttribute("data-tab");
      if (name === active) return;
      if (name === "json") { textarea.value = serialise(); showTab("json"); return; }
      var flow = textarea.value.trim() ? parseJson(textarea.value) : BLANK;
      if (flow === undefined) { showTab("json", label("bad-json")); return; }
      if (!load(flow)) { showTab("json", label("unsupported")); return; }
      showTab("form");
    });
  });

  function act(button) {
    var what = button.getAttribute("data-act"), scope = scopeOf(button);
    if (what === "add-row") {
      var list = ownedKey(scope, button.getAttribute("data-for"));
      var row = newRow(list, list === stepsList() ? { id: uniqueId("step") } : {});
      list.appendChild(row);
      refreshRefs();
      focusable(row).focus();
      return;
    }
    var list2 = scope.parentElement;
    if (what === "remove-row") {
      if (button.hasAttribute("data-confirm") && !window.confirm(label("confirm-remove"))) return;
      scope.remove();
    } else if (what === "move-up" && scope.previousElementSibling) {
      list2.insertBefore(scope, scope.previousElementSibling);
    } else if (what === "move-down" && scope.nextElementSibling) {
      list2.insertBefore(scope.nextElementSibling, scope);
    } else if (what === "duplicate" || what === "insert-below") {
      var obj = what === "duplicate" ? read(scope) : { kind: "say" };
      obj.id = uniqueId(what === "duplicate" ? obj.id : "step");
      var added = newRow(list2, obj);
      list2.insertBefore(added, scope.nextElementSibling);
      refreshRefs();
      focusable(added).focus();
      return;
    }
    refreshRefs();
  }

  pane.addEventListener("click", function (e) {
    var button = e.target.closest("button[data-act]");
    if (button && pane.contains(button)) act(button);
  });
  pane.addEventListener("focusin", function (e) {
    if (e.target.getAttribute("data-f") === "id") e.target._feWas = e.target.value.trim();
  });
  pane.addEventListener("keydown", function (e) {  // Enter in a one-line input must not post the whole script
    if (e.key === "Enter" && e.target.tagName === "INPUT") e.preventDefault();
  });
  pane.addEventListener("input", function (e) {
    clearMark(e.target);
    if (e.target.hasAttribute("data-chips")) chips(e.target);
  });
  pane.addEventListener("change", function (e) {
    var t = e.target, scope = scopeOf(t);
    clearMark(t);
    if (t.hasAttribute("data-kinded")) { switchKind(scope, t.value); return; }
    if (t.hasAttribute("data-op-switch")) { sync(scope); return; }
    if (t.getAttribute("data-f") === "id" && scope && scope.getAttribute("data-scope") === "step") {
      var was = t._feWas;
      t._feWas = t.value.trim();
      renameRefs(was, t._feWas);
    }
  });

  form.addEventListener("submit", function () {
    if (active === "form") textarea.value = serialise();
  });

  // ---- start -------------------------------------------------------------------------------------------------------

  root.hidden = false;
  if (data.flow === null || data.flow === undefined) {
    if (textarea.value.trim()) showTab("json");  // not JSON at all: the problem is listed above the editor
    else { load(BLANK); showTab("form"); }
  } else if (load(data.flow)) {
    showTab("form");
    markProblems(data.problems);
  } else {
    showTab("json", label("unsupported"));
  }
})();
