// Supervisor board: take over a live conversation, then open it in the console.
(function () {
  "use strict";
  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    if (!form.classList || !form.classList.contains("take-over")) return;
    ev.preventDefault();
    fetch(form.action, { method: "POST", body: new FormData(form), credentials: "same-origin" })
      .then(function (resp) { return resp.json().then(function (data) { return { ok: resp.ok, data: data }; }); })
      .then(function (r) {
        if (r.ok) {
          window.location.href = "/console?c=" + r.data.conversation.id;
        } else {
          window.alert((r.data.error && r.data.error.message) || "接管失败");
        }
      });
  });
})();
