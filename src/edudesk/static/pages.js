/* Behaviour every staff page shares, as data attributes instead of inline handlers: the pages run under a
   Content-Security-Policy without 'unsafe-inline' (edudesk/security.py), so no onclick/onsubmit may appear in a
   template. Delegated from the document, so it also covers fragments htmx swaps in later.

   <form data-confirm-submit="删除吗？">          asks before submitting
   <button data-confirm-click="删除选中的词条？">  asks before this button's action
   <input type=checkbox data-select-all="CSS">    checks / unchecks every box the selector finds
   <a data-fill-form="form-id" data-values='{"name": "value", "flag": true}'>  fills a form's fields
   <select data-submit-on-change>                submits its form when changed
   The admin menu (<details id="admin-menu">) closes on an outside click or Escape. */
(function () {
  "use strict";

  // The admin menu (base.html) closes on a click outside it and on Escape, as a menu does.
  document.addEventListener("click", function (ev) {
    var menu = document.getElementById("admin-menu");
    if (menu && menu.open && !menu.contains(ev.target)) menu.open = false;
  });
  document.addEventListener("keydown", function (ev) {
    var menu = document.getElementById("admin-menu");
    if (ev.key === "Escape" && menu && menu.open) { menu.open = false; menu.querySelector("summary").focus(); }
  });

  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    if (!(form instanceof HTMLFormElement)) return;
    var question = form.getAttribute("data-confirm-submit");
    if (question && !window.confirm(question)) ev.preventDefault();
  }, true);

  document.addEventListener("click", function (ev) {
    var target = ev.target instanceof Element ? ev.target : null;
    if (!target) return;
    var asking = target.closest("[data-confirm-click]");
    if (asking && !window.confirm(asking.getAttribute("data-confirm-click"))) {
      ev.preventDefault();
      ev.stopPropagation();
      return;
    }
    var all = target.closest("input[data-select-all]");
    if (all) {
      document.querySelectorAll(all.getAttribute("data-select-all")).forEach(function (box) {
        if (box !== all) box.checked = all.checked;
      });
      return;
    }
    var filler = target.closest("[data-fill-form]");
    if (filler) fillForm(filler);
  });

  document.addEventListener("change", function (ev) {
    var field = ev.target;
    if (field instanceof HTMLSelectElement && field.hasAttribute("data-submit-on-change") && field.form) {
      field.form.requestSubmit ? field.form.requestSubmit() : field.form.submit();
    }
  });

  function fillForm(link) {
    var form = document.getElementById(link.getAttribute("data-fill-form"));
    var values;
    try { values = JSON.parse(link.getAttribute("data-values") || "{}"); } catch (e) { return; }
    if (!form || !values) return;
    Object.keys(values).forEach(function (name) {
      var field = form.elements.namedItem(name);
      if (!field) return;
      if (field.type === "checkbox") field.checked = Boolean(values[name]);
      else field.value = values[name] == null ? "" : String(values[name]);
    });
  }
})();
