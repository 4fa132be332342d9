/* Live worklist: poll a cheap "changed since" endpoint and swap in fresh lists without a reload.
   Works with any number of server processes: the cursor comes from the database.
   Only the elements marked data-live-part are replaced, never the filter form: a nurse may be
   typing a name into it. A part that holds the focus (a link reached with the keyboard) keeps
   its content until the focus leaves it, so the focus never jumps back to the page. */
(function () {
  "use strict";
  var POLL_MS = 2000;
  // The page's own polling is not a nurse's activity: it does not hold off the idle sign-out.
  var BACKGROUND = { "X-Recovery-Background": "1" };
  var root = document.getElementById("worklist-live");
  var status = document.getElementById("live-status");
  if (!root || !window.fetch) return;
  var busy = false;
  // Fresh content of parts that held the focus when it arrived, by part id.
  var waiting = {};

  function holdsFocus(part) {
    var active = document.activeElement;
    return active !== null && active !== document.body && part.contains(active);
  }

  function swap(part, fresh) {
    if (holdsFocus(part)) {
      waiting[part.id] = fresh;
      return;
    }
    delete waiting[part.id];
    part.innerHTML = fresh.innerHTML;
  }

  function swapWaiting() {
    Object.keys(waiting).forEach(function (id) {
      var part = document.getElementById(id);
      if (part) swap(part, waiting[id]);
    });
  }

  function refresh() {
    return fetch(window.location.href, { credentials: "same-origin", headers: BACKGROUND })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.text();
      })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.getElementById("worklist-live");
        if (!fresh) return;
        root.querySelectorAll("[data-live-part]").forEach(function (part) {
          var freshPart = doc.getElementById(part.id);
          if (freshPart) swap(part, freshPart);
        });
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
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json", "X-Recovery-Background": "1" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (body) { return body && body.changed ? refresh() : null; })
      .catch(function () { /* offline for a moment: try again at the next tick */ })
      .then(function () { busy = false; });
  }

  window.setInterval(poll, POLL_MS);
  document.addEventListener("visibilitychange", function () { if (!document.hidden) poll(); });
  // Once the focus has moved on (focusout fires before it lands), a waiting part can be updated.
  document.addEventListener("focusout", function () { window.setTimeout(swapWaiting, 0); });
})();
