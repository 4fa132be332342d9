/* The check-in page without a connection. The form posts as usual when the phone is online;
   offline, the answer is kept on the phone (outbox.js) and sent to the API when the
   connection returns, with what happened shown in the page's status region. The words come
   from the page (#offline-data), in the patient's language. See docs/offline.md. */
(function () {
  "use strict";
  var outbox = window.RecoveryOutbox;
  var dataNode = document.getElementById("offline-data");
  var form = document.querySelector("form.checkin");
  var status = document.getElementById("offline-status");
  if (!outbox || !dataNode || !form || !status || !outbox.supported()) return;
  var data = JSON.parse(dataNode.textContent);
  var words = data.text;
  var lines = {};
  var flushing = null;
  var again = false;

  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register(data.service_worker, { scope: data.scope }).catch(function () {});
  }

  // A fresh key for every answer: a page opened from the phone's copy, or a second answer
  // kept offline, must not repeat an earlier one's.
  var keyField = form.elements.idempotency_key;
  keyField.value = outbox.newKey();

  function line(key) {
    if (!lines[key]) {
      lines[key] = document.createElement("p");
      lines[key].className = "offline-status__line";
      status.appendChild(lines[key]);
    }
    return lines[key];
  }

  function say(key, text, link) {
    var p = line(key);
    p.textContent = text;
    if (link) {
      var a = document.createElement("a");
      a.href = link.href;
      a.textContent = link.text;
      a.className = link.className || "";
      p.appendChild(document.createTextNode(" "));
      p.appendChild(a);
    }
    return p;
  }

  function refused(record) {
    var text = words.refused.replace("{pain}", String(record.body.pain));
    var call = data.clinic_phone
      ? { href: "tel:" + data.clinic_phone, text: words.call, className: "button offline-status__call" }
      : null;
    say(record.idempotency_key, text, call).classList.add("offline-status__line--error");
  }

  // One pass at a time; a call during a pass (the connection came back while it was failing)
  // runs one more pass after it, so no answer waits for the next periodic try.
  function flush() {
    if (flushing) {
      again = true;
      return flushing;
    }
    flushing = outbox.all().then(function (records) {
      return records.reduce(function (previous, record) {
        return previous.then(function () {
          say(record.idempotency_key, words.saved);
          return outbox.send(record, data.api, data.episode_api).then(function (outcome) {
            if (outcome.state === "sent") {
              say(record.idempotency_key, words.sent, { href: outcome.resultUrl, text: words.result });
            } else if (outcome.state === "refused") {
              refused(record);
            }
          });
        });
      }, Promise.resolve());
    }).catch(function () {}).then(function () {
      flushing = null;
      if (again) {
        again = false;
        flush();
      }
    });
    return flushing;
  }

  form.addEventListener("submit", function (event) {
    if (navigator.onLine) return;  // the normal post; the service worker keeps it if it fails
    event.preventDefault();
    var at = new Date();
    var answer = outbox.answerFromForm(new FormData(form));
    if (answer.pain === null) {
      say("form", words.choose).classList.add("offline-status__line--error");
      var first = form.querySelector("input[name=pain]");
      if (first) first.focus();
      return;
    }
    outbox.keep(answer, keyField.value, location.pathname, at).then(function (record) {
      if (lines.form) { status.removeChild(lines.form); delete lines.form; }
      form.reset();
      keyField.value = outbox.newKey();
      say(record.idempotency_key, words.saved);
      status.focus();
      flush();
    }, function () {
      say("form", words.not_kept).classList.add("offline-status__line--error");
      status.focus();
    });
  });

  window.addEventListener("online", flush);
  setInterval(flush, data.retry_seconds * 1000);
  flush();
})();
