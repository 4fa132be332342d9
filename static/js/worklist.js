/* Live worklist: poll a cheap "changed since" endpoint and swap in fresh rows without a reload.
   Works with any number of server processes: the cursor comes from the database. */
(function () {
  "use strict";
  var POLL_MS = 2000;
  var root = document.getElementById("worklist-live");
  var status = document.getElementById("live-status");
  if (!root || !window.fetch) return;
  var busy = false;

  function refresh() {
    return fetch(window.location.href, { credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.text();
      })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.getElementById("worklist-live");
        if (!fresh) return;
        root.innerHTML = fresh.innerHTML;
        root.dataset.liveCursor = fresh.dataset.liveCursor;
        if (status) {
          status.textContent = (root.dataset.updatedLabel || "Updated") + " " + new Date().toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
        }
      });
  }

  function poll() {
    if (busy || document.hidden) return;
    busy = true;
    var url = root.dataset.liveUrl + "?cursor=" + encodeURIComponent(root.dataset.liveCursor || "");
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (body) { return body && body.changed ? refresh() : null; })
      .catch(function () { /* offline for a moment: try again at the next tick */ })
      .then(function () { busy = false; });
  }

  window.setInterval(poll, POLL_MS);
  document.addEventListener("visibilitychange", function () { if (!document.hidden) poll(); });
})();
