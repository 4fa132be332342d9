/* The patient pages' service worker, served at /p/sw.js (scope /p/: staff pages are never in
   its reach) by recovery/patient/offline.py, which puts SHELL, OUTBOX, START and VERSION
   before this text. What it keeps, for how long, and how a new version replaces the old:
   docs/offline.md. */
/* global SHELL, OUTBOX, START, VERSION, RecoveryOutbox */
importScripts(OUTBOX);

var STATIC_CACHE = "recovery-static-" + VERSION;
var PAGES_CACHE = "recovery-pages";
var CHECKIN_PAGE = /^\/p\/[^/]+$/;

function isCheckinPage(url) {
  return url.origin === self.location.origin && CHECKIN_PAGE.test(url.pathname) && !/\.(js|webmanifest)$/.test(url.pathname);
}

/* Keep the patient's own check-in page (no query: one copy per link), newest last. */
function rememberPage(url, response) {
  var key = url.origin + url.pathname;
  return caches.open(PAGES_CACHE).then(function (cache) {
    if (response.ok) return cache.delete(key).then(function () { return cache.put(key, response); });
    // A link that no longer works (revoked, closed): forget its copy.
    if (response.status === 404) return cache.delete(key);
  });
}

function refreshPage(href) {
  var url = new URL(href);
  return fetch(url.origin + url.pathname, { credentials: "omit" })
    .then(function (response) { return rememberPage(url, response); })
    .catch(function () {});
}

self.addEventListener("install", function (event) {
  event.waitUntil(
    caches.open(STATIC_CACHE)
      .then(function (cache) { return cache.addAll(SHELL.concat([START])); })
      .then(function () {
        // The page that registered this worker, and every copy already kept, fetched anew so
        // they name this version's files.
        return Promise.all([
          self.clients.matchAll({ type: "window", includeUncontrolled: true }),
          caches.open(PAGES_CACHE).then(function (cache) { return cache.keys(); }),
        ]);
      })
      .then(function (found) {
        var pages = found[0].map(function (c) { return c.url; }).concat(found[1].map(function (r) { return r.url; }));
        return Promise.all(pages.filter(function (href) { return isCheckinPage(new URL(href)); }).map(refreshPage));
      })
      .then(function () { return self.skipWaiting(); })
  );
});

self.addEventListener("activate", function (event) {
  event.waitUntil(
    caches.keys()
      .then(function (names) {
        return Promise.all(names.filter(function (name) {
          return name.indexOf("recovery-static-") === 0 && name !== STATIC_CACHE;
        }).map(function (name) { return caches.delete(name); }));
      })
      .then(function () { return self.clients.claim(); })
  );
});

/* The check-in page: from the network when there is one (and kept), else the kept copy. */
function openCheckin(request, url) {
  return fetch(request)
    .then(function (response) {
      return rememberPage(url, response.clone()).then(function () { return response; });
    })
    .catch(function (error) {
      return caches.open(PAGES_CACHE).then(function (cache) {
        return cache.match(url.origin + url.pathname).then(function (kept) {
          if (kept) return kept;
          throw error;
        });
      });
    });
}

/* A check-in posted by the form: when it cannot reach the server, the answer goes into the
   outbox (with the time of Submit) and the page opens again to say so and send it later. */
function postCheckin(event, url) {
  var at = new Date();
  var copy = event.request.clone();
  return fetch(event.request).catch(function (error) {
    return copy.formData().then(function (fields) {
      var answer = RecoveryOutbox.answerFromForm(fields);
      if (answer.pain === null) throw error;
      return RecoveryOutbox.keep(answer, String(fields.get("idempotency_key") || ""), url.pathname, at);
    }).then(function () {
      return Response.redirect(url.href, 303);
    });
  });
}

/* The start page the home-screen icon opens: the patient's own link when it is kept here. */
function openStart(request) {
  return caches.open(PAGES_CACHE)
    .then(function (cache) { return cache.keys(); })
    .then(function (kept) {
      if (kept.length) return Response.redirect(kept[kept.length - 1].url, 303);
      return fetch(request).catch(function () { return caches.match(START); });
    });
}

/* Fingerprinted static files never change under their URL: the kept copy first. A file kept
   under an older fingerprint stands in for its newer one only when there is no connection. */
function openStatic(request, url) {
  return caches.open(STATIC_CACHE).then(function (cache) {
    return cache.match(request).then(function (kept) {
      if (kept) return kept;
      return fetch(request).then(function (response) {
        if (response.ok && url.searchParams.has("v")) cache.put(request, response.clone());
        return response;
      }).catch(function (error) {
        return caches.match(request, { ignoreSearch: true }).then(function (any) {
          if (any) return any;
          throw error;
        });
      });
    });
  });
}

self.addEventListener("fetch", function (event) {
  var request = event.request;
  var url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  // API answers, staff pages and everything else go to the network, untouched and unkept.
  if (request.mode === "navigate" && isCheckinPage(url)) {
    if (request.method === "GET") event.respondWith(openCheckin(request, url));
    else if (request.method === "POST") event.respondWith(postCheckin(event, url));
  } else if (request.mode === "navigate" && request.method === "GET" && url.pathname === START) {
    event.respondWith(openStart(request));
  } else if (request.method === "GET" && url.pathname.indexOf("/static/") === 0) {
    event.respondWith(openStatic(request, url));
  }
});
