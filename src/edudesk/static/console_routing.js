// Console routing: the agent's status switch, transfer to a colleague or a group, supervisor take-over, ticket
// alerts. Everything the user typed goes into the page with textContent, never as HTML.
(function () {
  "use strict";
  var me = parseInt(document.body.getAttribute("data-user-id") || "0", 10);
  var root = document.querySelector(".console");

  function label(name, fallback) { return (root && root.getAttribute("data-label-" + name)) || fallback; }
  function csrf() { var el = document.querySelector("input[name=csrf_token]"); return el ? el.value : ""; }

  function post(path, fields) {
    var body = new FormData();
    Object.keys(fields).forEach(function (k) { body.append(k, fields[k]); });
    body.append("csrf_token", csrf());
    return fetch(path, { method: "POST", body: body, credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.json().then(function (data) { return { ok: r.ok, data: data }; }); });
  }

  function errorText(r, fallback) { return (r.data && r.data.error && r.data.error.message) || fallback; }

  function reloadChat(id) {
    if (window.htmx && id) htmx.ajax("GET", "/console/c/" + id, { target: "#chat", swap: "innerHTML" });
    if (window.htmx) htmx.trigger(document.body, "refresh-lists");
  }

  // ---------------------------------------------------------------- status
  function showStatus(data) {
    var select = document.getElementById("agent-status");
    if (select && data && data.status) select.value = data.status;
  }

  function loadStatus() {
    fetch("/console/status", { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; }).then(showStatus).catch(function () {});
  }

  document.addEventListener("change", function (ev) {
    if (!ev.target || ev.target.id !== "agent-status") return;
    post("/console/status", { status: ev.target.value }).then(function (r) {
      if (r.ok) showStatus(r.data); else { window.alert(errorText(r, "状态切换失败")); loadStatus(); }
    });
  });

  // ---------------------------------------------------------------- transfer
  function fillTargets(select, data) {
    while (select.firstChild) select.removeChild(select.firstChild);
    var agents = document.createElement("optgroup");
    agents.label = select.getAttribute("data-label-agents") || "老师";
    (data.agents || []).forEach(function (a) {
      var text = a.name + "（" + a.status_label + " " + a.active + "/" + a.max_concurrent + "）";
      var opt = new Option(text, "u:" + a.id);
      opt.disabled = !a.available;
      opt.setAttribute("data-name", a.name);
      agents.appendChild(opt);
    });
    var groups = document.createElement("optgroup");
    groups.label = select.getAttribute("data-label-groups") || "技能组";
    (data.groups || []).forEach(function (g) { groups.appendChild(new Option(g.name, "g:" + g.id)); });
    if (agents.children.length) select.appendChild(agents);
    if (groups.children.length) select.appendChild(groups);
    var firstFree = select.querySelector("option:not([disabled])");
    if (firstFree) select.value = firstFree.value;
  }

  function openTransfer() {
    var dialog = document.getElementById("transfer-dialog");
    var select = document.getElementById("transfer-target");
    var err = document.getElementById("transfer-error");
    if (!dialog || !select) return;
    err.hidden = true;
    fetch("/console/transfer-targets", { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.json(); })
      .then(function (data) {
        fillTargets(select, data);
        if (dialog.showModal && !dialog.open) dialog.showModal(); else dialog.setAttribute("open", "");
      });
  }

  function submitTransfer(ev) {
    ev.preventDefault();
    var form = document.getElementById("transfer-form");
    var value = document.getElementById("transfer-target").value || "";
    var note = document.getElementById("transfer-note").value || "";
    var err = document.getElementById("transfer-error");
    var fields = { note: note };
    if (value.indexOf("u:") === 0) fields.to_user_id = value.slice(2);
    else if (value.indexOf("g:") === 0) fields.to_group_id = value.slice(2);
    post(form.getAttribute("data-path"), fields).then(function (r) {
      if (!r.ok) { err.textContent = errorText(r, "转接失败"); err.hidden = false; return; }
      var dialog = document.getElementById("transfer-dialog");
      if (dialog.close) dialog.close(); else dialog.removeAttribute("open");
      reloadChat(r.data.conversation.id);
    }).catch(function () { err.textContent = "网络异常，请重试"; err.hidden = false; });
  }

  document.addEventListener("click", function (ev) {
    var t = ev.target;
    if (!t || !t.id) return;
    if (t.id === "transfer-open") { ev.preventDefault(); openTransfer(); }
    else if (t.id === "transfer-cancel") {
      var dialog = document.getElementById("transfer-dialog");
      if (dialog && dialog.close) dialog.close();
    } else if (t.id === "take-over") {
      var id = t.getAttribute("data-conversation-id");
      post("/console/c/" + id + "/take-over", {}).then(function (r) {
        if (r.ok) reloadChat(id); else window.alert(errorText(r, "接管失败"));
      });
    }
  });
  document.addEventListener("submit", function (ev) {
    if (ev.target && ev.target.id === "transfer-form") submitTransfer(ev);
  });

  // ---------------------------------------------------------------- alerts
  function toast(text, href) {
    var box = document.getElementById("console-toasts");
    if (!box) {
      box = document.createElement("div");
      box.id = "console-toasts";
      box.className = "console-toasts";
      box.setAttribute("role", "status");
      box.setAttribute("aria-live", "polite");
      document.body.appendChild(box);
    }
    var item = document.createElement(href ? "a" : "div");
    item.className = "console-toast";
    if (href) item.href = href;
    item.textContent = text;
    box.appendChild(item);
    setTimeout(function () { if (item.parentNode) item.parentNode.removeChild(item); }, 10000);
  }

  document.addEventListener("edudesk:frame", function (ev) {
    var f = ev.detail || {};
    if (f.type === "agent_status" && f.user_id === me) { loadStatus(); return; }
    if (f.type !== "ticket" || !f.ticket || !f.ticket.id) return;
    var subject = "#" + f.ticket.id + " " + (f.ticket.subject || "");
    var href = "/tickets/" + f.ticket.id;
    if (f.event === "ticket.mention" && (f.user_ids || []).indexOf(me) >= 0) {
      toast(label("ticket-mention", "有同事在工单中提到了您") + "：" + subject, href);
    } else if ((f.event === "ticket.sla_warning" || f.event === "ticket.sla_breached") &&
               (f.ticket.assignee_id === me || f.ticket.assignee_id == null)) {
      var key = f.event === "ticket.sla_breached" ? "ticket-breached" : "ticket-warning";
      toast(label(key, "工单提醒") + "：" + subject, href);
    } else if (f.event === "ticket.assigned" && f.ticket.assignee_id === me) {
      toast(label("ticket-assigned", "有新工单分配给您") + "：" + subject, href);
    }
  });

  document.addEventListener("DOMContentLoaded", loadStatus);
})();
