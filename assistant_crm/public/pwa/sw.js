/*
 * Service worker of the WCFCB chat PWA. Caches the app shell so the chat page
 * opens on a flaky or absent connection; API calls are never cached (sends made
 * offline are queued by chat_bubble.js itself and sent in order once online).
 * Serve it at /sw.js (or with "Service-Worker-Allowed: /") so its scope covers
 * /assistant_chat.
 */
"use strict";
var CACHE = "wcfcb-chat-v1";
var SHELL = [
	"/assistant_chat",
	"/assets/assistant_crm/js/chat_bubble.js",
	"/assets/assistant_crm/css/chat_bubble.css",
	"/assets/assistant_crm/images/wcfcb_logo.svg",
	"/assets/assistant_crm/pwa/manifest.webmanifest",
	"/assets/assistant_crm/pwa/icon-192.png",
	"/assets/assistant_crm/pwa/icon.svg",
];

self.addEventListener("install", function (e) {
	e.waitUntil(
		caches.open(CACHE).then(function (c) {
			// One missing file must not stop the install: cache what answers.
			return Promise.all(
				SHELL.map(function (u) {
					return c.add(u).catch(function () {});
				})
			);
		}).then(function () {
			return self.skipWaiting();
		})
	);
});

self.addEventListener("activate", function (e) {
	e.waitUntil(
		caches.keys().then(function (keys) {
			return Promise.all(
				keys.filter(function (k) {
					return k.indexOf("wcfcb-chat-") === 0 && k !== CACHE;
				}).map(function (k) {
					return caches.delete(k);
				})
			);
		}).then(function () {
			return self.clients.claim();
		})
	);
});

function isShell(url) {
	return url.pathname === "/assistant_chat" || SHELL.indexOf(url.pathname) >= 0;
}

// Network first (fresh code when online), the cached shell when not.
self.addEventListener("fetch", function (e) {
	var req = e.request;
	var url = new URL(req.url);
	if (req.method !== "GET" || url.origin !== self.location.origin || !isShell(url)) return;
	var key = url.pathname === "/assistant_chat" ? "/assistant_chat" : req;
	e.respondWith(
		fetch(req).then(
			function (res) {
				if (res.ok) {
					var copy = res.clone();
					caches.open(CACHE).then(function (c) {
						c.put(key, copy);
					});
				}
				return res;
			},
			function () {
				return caches.match(key).then(function (hit) {
					return hit || Response.error();
				});
			}
		)
	);
});
