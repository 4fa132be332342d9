/* Idle sign-out for staff pages. The server ends a session that has not been used for the idle
   timeout (recovery.care.sessions); this shows a warning shortly before, with a button that
   keeps the session. When the time is up it asks the server (/account/idle, a background
   request that is not itself activity): unless another tab of the session was used meanwhile,
   the session ends there and then and the page goes to the sign-in page, so that a patient's
   record does not stay on an unattended screen; otherwise the timer takes the time the server
   says is left. Typing or clicking on the page counts as use: it tells the server, at most
   once a minute. */
(function () {
  "use strict";
  var box = document.getElementById("idle-warning");
  if (!box || !window.fetch || !box.showModal) return;
  var idleMs = Number(box.dataset.idleSeconds) * 1000;
  var warnMs = Number(box.dataset.warningSeconds) * 1000;
  var lastSeen = Date.now();   // the last request the server counted as activity
  var lastUse = Date.now();    // the last key press or click on this page
  var sending = false;

  function keepAlive() {
    if (sending) return;
    sending = true;
    fetch(box.dataset.keepaliveUrl, {
      method: "POST",
      credentials: "same-origin",
      redirect: "manual",
      headers: { "X-CSRFToken": box.dataset.csrf }
    })
      .then(function (response) {
        if (response.status === 204) {
          lastSeen = Date.now();
          if (box.open) box.close();
        } else {
          window.location.reload();  // the session had ended: the sign-in page says so
        }
      })
      .catch(function () { /* offline for a moment: the next use tries again */ })
      .then(function () { sending = false; });
  }

  function used() {
    lastUse = Date.now();
    if (lastUse - lastSeen > 60000) keepAlive();
  }

  var asking = false;

  function timeUp() {
    if (asking) return;
    asking = true;
    fetch(box.dataset.idleUrl, {
      method: "POST",
      credentials: "same-origin",
      redirect: "manual",
      headers: { "X-CSRFToken": box.dataset.csrf, "X-Recovery-Background": "1" }
    })
      .then(function (response) {
        if (!response.ok) {  // signed out already: the sign-in page says why
          window.location.reload();
          return null;
        }
        return response.json();
      })
      .then(function (answer) {
        if (!answer) return;
        if (answer.ended) {
          window.location.assign(answer.login);
        } else {  // used in another tab: the time the server says is left
          lastSeen = Date.now() - (idleMs - answer.remaining * 1000);
          if (box.open && answer.remaining * 1000 > warnMs) box.close();
        }
      })
      .catch(function () { /* offline for a moment: the next check asks again */ })
      .then(function () { asking = false; });
  }

  function check() {
    var idle = Date.now() - lastSeen;
    if (idle >= idleMs) {
      timeUp();
    } else if (idle >= idleMs - warnMs && !box.open) {
      box.showModal();  // the page behind is inert until the choice is made
      box.querySelector("[data-idle-stay]").focus();
    }
  }

  box.querySelector("[data-idle-stay]").addEventListener("click", keepAlive);
  ["keydown", "pointerdown"].forEach(function (type) {
    document.addEventListener(type, used, { passive: true });
  });
  window.setInterval(check, 5000);
})();
