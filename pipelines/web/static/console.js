// Follows a running sync on its page: polls the API (same-origin, session cookie) and reloads
// the page when the sync ends. Loaded from /static so the CSP needs no inline script.
(function () {
  "use strict";
  function follow(state) {
    var id = state.getAttribute("data-sync-id");
    var lines = document.getElementById("progress-lines");
    var phase = document.getElementById("sync-phase");
    function poll() {
      fetch("/api/v1/syncs/" + encodeURIComponent(id), {credentials: "same-origin", headers: {"Accept": "application/json"}})
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (sync) {
          if (sync && sync.launch && lines) { lines.textContent = sync.launch.progress.join("\n"); }
          if (sync && sync.launch && phase && sync.launch.phase) { phase.textContent = sync.launch.phase; }
          if (sync && sync.status !== "running") { window.location.reload(); return; }
          window.setTimeout(poll, 1500);
        })
        .catch(function () { window.setTimeout(poll, 3000); });
    }
    window.setTimeout(poll, 1000);
  }
  document.addEventListener("DOMContentLoaded", function () {
    var state = document.getElementById("sync-state");
    if (state && state.getAttribute("data-status") === "running") { follow(state); }
  });
})();
