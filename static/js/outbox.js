/* The phone's outbox: check-ins made without a connection, kept in IndexedDB until the server
   has them. Shared by the check-in page (offline.js) and the service worker (served at
   /p/sw.js), so both keep and send an entry the same way. See docs/offline.md. */
(function (scope) {
  "use strict";
  var DB_NAME = "recovery-outbox";
  var STORE = "checkins";
  // The server's answers that will never change on a retry: the entry is refused for good.
  var FINAL = [400, 401, 403, 404, 409, 413, 415, 422];
  // Python's str.strip() whitespace, so the key below matches the server's for any note.
  var SPACE = "[\\t\\n\\v\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]+";
  var EDGES = new RegExp("^" + SPACE + "|" + SPACE + "$", "g");

  function supported() {
    return "indexedDB" in scope && !!(scope.crypto && scope.crypto.subtle) && "fetch" in scope;
  }

  function newKey() {
    var bytes = new Uint8Array(16);
    scope.crypto.getRandomValues(bytes);
    return Array.from(bytes, function (b) { return b.toString(16).padStart(2, "0"); }).join("");
  }

  function open() {
    return new Promise(function (resolve, reject) {
      var request = scope.indexedDB.open(DB_NAME, 1);
      request.onupgradeneeded = function () {
        request.result.createObjectStore(STORE, { keyPath: "idempotency_key" });
      };
      request.onsuccess = function () { resolve(request.result); };
      request.onerror = function () { reject(request.error); };
    });
  }

  function transact(mode, work) {
    return open().then(function (db) {
      return new Promise(function (resolve, reject) {
        var tx = db.transaction(STORE, mode);
        var request = work(tx.objectStore(STORE));
        tx.oncomplete = function () { db.close(); resolve(request.result); };
        tx.onerror = tx.onabort = function () { db.close(); reject(tx.error); };
      });
    });
  }

  function all() {
    return transact("readonly", function (store) { return store.getAll(); }).then(function (rows) {
      return rows.sort(function (a, b) { return a.body.recorded_at < b.body.recorded_at ? -1 : 1; });
    });
  }

  function remove(key) {
    return transact("readwrite", function (store) { return store.delete(key); });
  }

  /* The answer of a check-in form's fields (a FormData), as the server reads the form. */
  function answerFromForm(fields) {
    var pain = String(fields.get("pain") || "");
    return {
      pain: /^(10|[0-9])$/.test(pain) ? Number(pain) : null,
      red_flags: fields.getAll("red_flags").map(String),
      analgesic: fields.has("analgesic"),
      // A form sends line breaks as CR LF; so does this, for the same key and the same note.
      note: String(fields.get("note") || "").replace(/\r\n|\r|\n/g, "\r\n"),
    };
  }

  /* Python's json.dumps with its defaults: ", " and ": " between items, non-ASCII escaped. */
  function pythonJson(value) {
    if (Array.isArray(value)) return "[" + value.map(pythonJson).join(", ") + "]";
    var text = JSON.stringify(value);
    if (typeof value !== "string") return text;
    return text.replace(/[^\x20-\x7e]/g, function (c) {
      return "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0");
    });
  }

  /* The key the server gives this answer when the form itself is posted (answer_key in
     recovery/care/episodes.py): a form post that reached the server although its answer was
     lost, then sent again from the outbox, is the same entry, not a second one. */
  function answerKey(pageKey, answer) {
    var flags = Array.from(new Set(answer.red_flags)).sort();
    var note = answer.note.replace(EDGES, "");
    var text = pythonJson([pageKey, answer.pain, flags, answer.analgesic, note, null]);
    return scope.crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)).then(function (hash) {
      return Array.from(new Uint8Array(hash), function (b) { return b.toString(16).padStart(2, "0"); }).join("");
    });
  }

  /* Keep an answer on the phone: `page` is its check-in page's path (/p/<token>), `at` when the
     patient pressed Submit. Resolves with the stored record. */
  function keep(answer, pageKey, page, at) {
    return answerKey(pageKey, answer).then(function (key) {
      var record = {
        idempotency_key: key,
        page: page,
        token: decodeURIComponent(page.split("/")[2] || ""),
        body: {
          pain: answer.pain,
          recorded_at: at.toISOString(),
          red_flags: answer.red_flags,
          analgesic: answer.analgesic,
          note: answer.note,
          idempotency_key: key,
        },
      };
      return transact("readwrite", function (store) { return store.put(record); }).then(function () {
        return record;
      });
    });
  }

  function call(url, token, options) {
    options = options || {};
    options.headers = Object.assign({ Authorization: "Bearer " + token }, options.headers || {});
    options.credentials = "omit";
    options.cache = "no-store";
    return fetch(url, options);
  }

  /* The entry the server holds under `key`, or null (a 409: stored first by the form post). */
  function storedEntry(record, episodeUrl) {
    return call(episodeUrl, record.token).then(function (response) {
      if (!response.ok) return null;
      return response.json().then(function (episode) {
        return episode.entries.find(function (e) { return e.idempotency_key === record.idempotency_key; }) || null;
      });
    });
  }

  /* Send one kept entry to the API. Resolves with {state: "sent", resultUrl}, {state: "refused",
     status} (removed: it will never be taken) or {state: "kept"} (no connection, or the server
     is busy: tried again later, with the same key). */
  function send(record, apiUrl, episodeUrl) {
    var sent = function (entry) {
      return remove(record.idempotency_key).then(function () {
        return { state: "sent", resultUrl: record.page + "/entries/" + entry.id };
      });
    };
    return call(apiUrl, record.token, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(record.body),
    }).then(function (response) {
      if (response.ok) return response.json().then(function (body) { return sent(body.entry); });
      if (FINAL.indexOf(response.status) === -1) return { state: "kept" };
      var found = response.status === 409 ? storedEntry(record, episodeUrl) : Promise.resolve(null);
      return found.then(function (entry) {
        if (entry) return sent(entry);
        return remove(record.idempotency_key).then(function () {
          return { state: "refused", status: response.status };
        });
      });
    }).catch(function () {
      // No connection, or the phone's storage failed: the entry stays and goes again, same key.
      return { state: "kept" };
    });
  }

  scope.RecoveryOutbox = {
    supported: supported,
    newKey: newKey,
    answerFromForm: answerFromForm,
    answerKey: answerKey,
    keep: keep,
    all: all,
    send: send,
  };
})(self);
