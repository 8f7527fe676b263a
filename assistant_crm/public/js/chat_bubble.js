/*
 * WCFCB web chat bubble (and the full-page PWA chat).
 *
 * Vanilla JS, no dependencies, no external requests. Mounts itself on any page
 * that includes it; on a page with <div id="wcfcb-chat-page"> it fills that
 * element instead (the PWA). Message text is only ever put in the DOM with
 * textContent/createElement: no markup from any message is rendered.
 */
(function () {
	"use strict";
	if (window.__wcfcbChat) return; // Frappe web_include_js + a page <script> must not mount twice
	window.__wcfcbChat = true;

	var API = "/api/method/assistant_crm.api.chat.";
	var K_SID = "wcfcb_chat_sid",
		K_STATE = "wcfcb_chat_state",
		K_OUTBOX = "wcfcb_chat_outbox",
		K_DISMISSED = "wcfcb_chat_dismissed";
	var maxFile = 5 * 1024 * 1024; // the server may say otherwise (get_config.max_upload_bytes)
	var FILE_TYPES = ["image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf"];
	var URL_RE = /\bhttps?:\/\/[^\s<>"']+/gi;
	var QUICK = ["Check my claim status", "Report a work injury", "Register as an employer", "Talk to a person"];

	var cfg = {
		assistant_name: "Mwana",
		brand_primary_colour: "#0b5d3b",
		brand_accent_colour: "#f2b705",
		logo_url: "/assets/assistant_crm/images/wcfcb_logo.svg",
		chat_auto_launch_seconds: 8,
		greeting: "Hello! I am Mwana, the WCFCB assistant. How can I help you today?",
	};

	var store = safeStorage("localStorage"),
		sstore = safeStorage("sessionStorage");
	var pageHost = document.getElementById("wcfcb-chat-page");
	var fullPage = !!pageHost;
	var sid = store.get(K_SID) || null;
	var since = null; // cursor for get_messages: id of the newest message seen
	var seen = {}; // message names already shown
	var pendingLocal = []; // messages shown locally, not yet seen back from the server
	var polledBot = []; // bot texts that arrived by poll before send_message answered
	var unread = 0;
	var isOpen = false;
	var sending = Promise.resolve(); // sends go one after another, in order
	var inFlight = 0;
	var pollAbort = null;
	var pollGen = 0;
	var realtime = false;
	var installEvt = null;
	var flushing = {}; // outbox ids being sent now
	var lastStatus = "bot";
	var el = {};

	function safeStorage(kind) {
		var s = null;
		try {
			s = window[kind];
			s.setItem("__wcfcb", "1");
			s.removeItem("__wcfcb");
		} catch (e) {
			s = null; // private mode or blocked: keep working without persistence
		}
		return {
			get: function (k) {
				try {
					return s ? s.getItem(k) : null;
				} catch (e) {
					return null;
				}
			},
			set: function (k, v) {
				try {
					if (s) v == null ? s.removeItem(k) : s.setItem(k, v);
				} catch (e) {
					/* quota: ignore */
				}
			},
		};
	}

	/* ---------- DOM helpers ---------- */
	function h(tag, attrs, kids) {
		var n = document.createElement(tag);
		for (var k in attrs || {}) {
			if (k === "text") n.textContent = attrs[k];
			else if (k === "cls") n.className = attrs[k];
			else if (k.slice(0, 2) === "on") n.addEventListener(k.slice(2), attrs[k]);
			else if (attrs[k] !== false && attrs[k] != null) n.setAttribute(k, attrs[k] === true ? "" : attrs[k]);
		}
		(kids || []).forEach(function (c) {
			if (c) n.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
		});
		return n;
	}

	function safeHref(u) {
		try {
			var p = new URL(u, location.href);
			return p.protocol === "http:" || p.protocol === "https:" ? p.href : null;
		} catch (e) {
			return null;
		}
	}

	function link(href, label) {
		return h("a", { href: href, target: "_blank", rel: "noopener noreferrer", text: label });
	}

	// Plain text with http(s) URLs turned into links; everything else stays text.
	function richText(text) {
		var frag = document.createDocumentFragment();
		var last = 0;
		String(text || "").replace(URL_RE, function (m, at) {
			var url = m.replace(/[.,;:!?)\]}'"]+$/, "");
			var href = safeHref(url);
			if (!href) return m;
			frag.appendChild(document.createTextNode(text.slice(last, at)));
			frag.appendChild(link(href, url));
			last = at + url.length;
			return m;
		});
		frag.appendChild(document.createTextNode(String(text || "").slice(last)));
		return frag;
	}

	function parseTime(s) {
		if (!s) return new Date();
		if (typeof s === "string" && !/[zZ]|[+-]\d\d:?\d\d$/.test(s)) s = s.replace(" ", "T") + "Z"; // the API sends offsets; an offset-less time is UTC (older servers)
		var d = new Date(s);
		return isNaN(d) ? new Date() : d;
	}

	function fmtTime(d) {
		return ("0" + d.getHours()).slice(-2) + ":" + ("0" + d.getMinutes()).slice(-2);
	}

	/* ---------- HTTP ---------- */
	function headers(json) {
		var hd = { Accept: "application/json" };
		if (json) hd["Content-Type"] = "application/json";
		var f = window.frappe;
		if (f && f.csrf_token && f.csrf_token !== "None") hd["X-Frappe-CSRF-Token"] = f.csrf_token;
		return hd;
	}

	function serverMessage(body) {
		// Frappe error bodies: _server_messages is a JSON list of JSON strings.
		try {
			var list = JSON.parse(body._server_messages || "[]");
			var m = list.length && JSON.parse(list[0]).message;
			if (m) return String(m).replace(/<[^>]*>/g, "");
		} catch (e) {
			/* fall through */
		}
		if (body && body.exception) return String(body.exception).replace(/^[\w.]+:\s*/, "");
		return "";
	}

	function call(method, opts) {
		var ctl = window.AbortController ? new AbortController() : null;
		var timer = ctl && setTimeout(function () { ctl.abort(); }, opts.timeout || 30000);
		if (ctl && opts.signalHolder) opts.signalHolder(ctl);
		return fetch(API + method + (opts.query || ""), {
			method: opts.body ? "POST" : "GET",
			headers: opts.form ? headers(false) : headers(!!opts.body),
			body: opts.form || (opts.body ? JSON.stringify(opts.body) : undefined),
			credentials: "same-origin",
			signal: ctl ? ctl.signal : undefined,
		}).then(
			function (r) {
				clearTimeout(timer);
				return r.text().then(function (t) {
					var b = {};
					try {
						b = t ? JSON.parse(t) : {};
					} catch (e) {
						/* non-JSON (proxy error page) */
					}
					if (r.ok) return b.message;
					var err = new Error(serverMessage(b) || "HTTP " + r.status);
					err.status = r.status;
					err.friendly = r.status < 500 ? serverMessage(b) : "";
					throw err;
				});
			},
			function (e) {
				clearTimeout(timer);
				e.status = 0; // network failure, offline or timeout
				throw e;
			}
		);
	}

	/* ---------- rendering ---------- */
	function scroll() {
		el.log.scrollTop = el.log.scrollHeight;
	}

	function authorLabel(a) {
		return a === "user" ? "You" : a === "agent" ? "WCFCB agent" : a === "system" ? "" : cfg.assistant_name;
	}

	function addMessage(m) {
		var who = m.author || "bot";
		var when = parseTime(m.created || m.creation);
		var atts = m.attachments || [];
		// A stored upload reads "[file] name": the link below says it better.
		var text = atts.length && /^\[file\] /.test(m.text || "") ? "" : m.text;
		var body = h("div", { cls: "wcfcb-text" }, [richText(text)]);
		atts.forEach(function (a) {
			var href = safeHref(a.url || a.file_url);
			if (href) body.appendChild(h("div", { cls: "wcfcb-file" }, ["\uD83D\uDCCE ", link(href, a.name || "attachment")]));
		});
		var meta = h("div", { cls: "wcfcb-meta" }, [
			authorLabel(who) ? h("span", { cls: "wcfcb-who", text: authorLabel(who) }) : null,
			h("time", { datetime: when.toISOString(), text: fmtTime(when) }),
		]);
		var row = h("div", { cls: "wcfcb-msg wcfcb-" + who }, [body, meta]);
		el.log.insertBefore(row, el.typing);
		if ((who === "bot" || who === "agent") && !isOpen && !fullPage) setUnread(unread + 1);
		scroll();
		return row;
	}

	function setQuickReplies(list) {
		el.qr.textContent = "";
		(list || []).slice(0, 6).forEach(function (q) {
			el.qr.appendChild(
				h("button", {
					type: "button",
					cls: "wcfcb-chip",
					text: q,
					onclick: function () {
						setQuickReplies([]);
						send(q);
					},
				})
			);
		});
		el.qr.hidden = !el.qr.firstChild;
	}

	function showTyping(on) {
		el.typing.hidden = !on;
		if (on) scroll();
	}

	function note(text) {
		addMessage({ author: "system", text: text });
	}

	function setStatus(s) {
		lastStatus = s;
		var t = {
			waiting_for_agent: "Connecting you to a WCFCB agent…",
			with_agent: "You are chatting with a WCFCB agent",
			closed: "This conversation has ended",
		}[s];
		el.sub.textContent = t || "WCFCB virtual assistant · online";
	}

	function setUnread(n) {
		unread = n;
		el.badge.textContent = n > 9 ? "9+" : String(n);
		el.badge.hidden = !n;
		el.launcher.setAttribute(
			"aria-label",
			"Open chat with " + cfg.assistant_name + (n ? " (" + n + " unread message" + (n > 1 ? "s" : "") + ")" : "")
		);
	}

	/* ---------- receiving (long-poll or Frappe realtime) ---------- */
	function sameText(a, b) {
		return String(a || "").trim() === String(b || "").trim();
	}

	function receive(list, status, cursor) {
		(list || []).forEach(function (m) {
			var id = m.id || m.name;
			if (id) since = id;
			if (id && seen[id]) return;
			if (id) seen[id] = 1;
			var url = m.attachments && m.attachments[0] && (m.attachments[0].url || m.attachments[0].file_url);
			for (var i = 0; i < pendingLocal.length; i++) {
				var p = pendingLocal[i];
				if (p.author === m.author && (url ? p.url === url : sameText(p.text, m.text))) {
					pendingLocal.splice(i, 1); // our own optimistic copy: already on screen
					return;
				}
			}
			if (m.author === "bot" && inFlight) polledBot.push(m.text); // send_message's answer must not repeat it
			addMessage(m);
			if (m.quick_replies && m.quick_replies.length) setQuickReplies(m.quick_replies);
		});
		if (cursor) since = cursor;
		if (status) setStatus(status);
	}

	function pushed() {
		// Subscribed and the socket is really up: a page can have frappe.realtime while
		// socket.io is unreachable (not running, not proxied); then long-poll as without it.
		var rt = window.frappe && window.frappe.realtime;
		return realtime && !!(rt && rt.socket && rt.socket.connected);
	}

	function poll(gen) {
		if (gen !== pollGen || !sid) return;
		// With Frappe realtime pushing agent replies, a cheap check now and then is a safety net
		// that keeps Frappe's few web workers free of 20-second long-polls.
		var push = pushed();
		var q = "?session_id=" + encodeURIComponent(sid) + "&timeout=" + (push ? 0 : 20) + (since ? "&since=" + encodeURIComponent(since) : "");
		call("get_messages", {
			query: q,
			timeout: 30000,
			signalHolder: function (c) {
				pollAbort = c;
			},
		}).then(
			function (r) {
				r = r || {};
				receive(r.messages, r.status, r.last_id);
				// poll_after: the server does not hold requests (one request per process at a
				// time, e.g. Frappe on gunicorn sync workers) and asks to come back later.
				var next = push ? 30000 : r.poll_after > 0 ? r.poll_after * 1000 : 250;
				setTimeout(function () { poll(gen); }, next);
			},
			function (e) {
				// Unknown/expired session: start afresh rather than poll forever.
				if (e.status === 404) return resetSession();
				if (e.status === 400) since = null; // a cursor the server does not know: re-read (ids dedupe)
				setTimeout(function () { poll(gen); }, e.status === 0 ? 3000 : 10000);
			}
		);
	}

	function startPolling() {
		pollGen++;
		if (pollAbort) pollAbort.abort();
		poll(pollGen);
	}

	function resetSession() {
		sid = null;
		since = null;
		store.set(K_SID, null);
	}

	function subscribeRealtime(token) {
		var rt = window.frappe && window.frappe.realtime;
		if (!token || !rt || !rt.task_subscribe || realtime) return;
		realtime = true;
		rt.task_subscribe(token);
		rt.on("assistant_crm_message", function (d) {
			d = d || {};
			// A message with personal details is not pushed (anyone with the token can join the
			// room): fetch it, with this browser's cookie, through get_messages.
			if (d.refresh) return startPolling();
			receive(d.messages || [d], d.status);
		});
	}

	function loadHistory() {
		if (!sid) return Promise.resolve();
		return call("get_messages", { query: "?session_id=" + encodeURIComponent(sid) + "&timeout=0" }).then(
			function (r) {
				r = r || {};
				receive(r.messages, r.status, r.last_id);
			},
			function (e) {
				if (e.status === 404) resetSession();
			}
		);
	}

	/* ---------- sending ---------- */
	function outbox(list) {
		if (list) return store.set(K_OUTBOX, list.length ? JSON.stringify(list) : null);
		try {
			return JSON.parse(store.get(K_OUTBOX) || "[]");
		} catch (e) {
			return [];
		}
	}

	function markState(row, state, retry) {
		var old = row.querySelector(".wcfcb-state");
		if (old) old.remove();
		row.classList.toggle("wcfcb-failed", state === "failed");
		if (state === "failed") {
			row.querySelector(".wcfcb-meta").appendChild(
				h("button", { type: "button", cls: "wcfcb-state wcfcb-retry", text: "Not sent — retry", onclick: retry })
			);
		} else if (state === "queued") {
			row.querySelector(".wcfcb-meta").appendChild(
				h("span", { cls: "wcfcb-state", text: "Queued — will send when online" })
			);
		}
	}

	function dropQueued(item) {
		outbox(outbox().filter(function (q) {
			return q.id !== item.id;
		}));
	}

	function queuedRow(item) {
		var row = addMessage({ author: "user", text: item.text });
		row.setAttribute("data-qid", item.id);
		pendingLocal.push({ author: "user", text: item.text });
		markState(row, "queued");
		return row;
	}

	function send(text, row, item) {
		text = String(text || "").trim();
		if (!text) return;
		setQuickReplies([]);
		if (!row) {
			row = addMessage({ author: "user", text: text });
			pendingLocal.push({ author: "user", text: text });
		}
		if (!item && navigator.onLine === false) {
			// Offline: keep it, in order, in the outbox; flushed on the "online" event.
			item = { id: Date.now().toString(36) + Math.random().toString(36).slice(2, 6), text: text };
			outbox(outbox().concat([item]));
			row.setAttribute("data-qid", item.id);
			markState(row, "queued");
			return;
		}
		if (item) flushing[item.id] = 1;
		inFlight++;
		showTyping(true);
		markState(row, "sending");
		var p = sending.then(function () {
			return call("send_message", { body: { message: text, session_id: sid }, timeout: 45000 });
		});
		sending = p.then(
			function (r) {
				r = r || {};
				if (item) dropQueued(item);
				row.removeAttribute("data-qid");
				var fresh = r.session_id && r.session_id !== sid;
				if (r.session_id) {
					sid = r.session_id;
					store.set(K_SID, sid);
				}
				var md = r.metadata || {};
				subscribeRealtime(md.visitor_token || sid);
				var dup = -1;
				for (var i = 0; i < polledBot.length; i++) if (sameText(polledBot[i], r.reply)) dup = i;
				if (dup >= 0) polledBot.splice(dup, 1);
				else if (r.reply) {
					addMessage({ author: "bot", text: r.reply });
					pendingLocal.push({ author: "bot", text: r.reply });
				}
				setQuickReplies(r.quick_replies);
				if (r.handoff) setStatus(md.status || "waiting_for_agent");
				if (fresh) startPolling();
			},
			function (e) {
				if (item) delete flushing[item.id];
				markState(row, "failed", function () {
					send(text, row, item);
				});
				if (e.friendly) note(e.friendly);
			}
		);
		sending.then(function () {
			inFlight--;
			if (!inFlight) {
				showTyping(false);
				polledBot = [];
			}
		});
		return sending;
	}

	function flushOutbox() {
		outbox().forEach(function (item) {
			if (flushing[item.id]) return;
			var row = el.log.querySelector('[data-qid="' + item.id + '"]') || queuedRow(item);
			send(item.text, row, item);
		});
	}

	function upload(file) {
		if (!file) return;
		if (FILE_TYPES.indexOf(file.type) < 0) return note("Only images (PNG, JPEG, GIF, WebP) and PDF files can be sent.");
		if (file.size > maxFile) return note("That file is too large: the limit is " + Math.round(maxFile / 1048576) + " MB.");
		// A file belongs to a conversation: start one first when there is none yet.
		var ensure = (sid ? null : send("I would like to send you a document.")) || Promise.resolve();
		var row = addMessage({ author: "user", text: "Uploading " + file.name + "…" });
		ensure
			.then(function () {
				if (!sid) throw new Error("no session");
				var fd = new FormData();
				fd.append("session_id", sid);
				fd.append("file", file, file.name);
				return call("upload_file", { form: fd, body: true, timeout: 120000 });
			})
			.then(
				function (r) {
					var url = r.url || r.file_url;
					if (r.message_id && seen[r.message_id]) {
						row.remove(); // a poll brought the stored message back first: it is already on screen
						return;
					}
					var fresh = addMessage({ author: "user", text: "", attachments: [{ url: url, name: r.name }] });
					row.replaceWith(fresh);
					if (r.message_id) seen[r.message_id] = 1;
					else pendingLocal.push({ author: "user", url: url });
				},
				function (e) {
					row.replaceWith(addMessage({ author: "user", text: "File not sent: " + file.name }));
					note(e.friendly || "The file could not be uploaded. Please try again.");
				}
			);
	}

	/* ---------- open / close ---------- */
	function open(focus) {
		isOpen = true;
		el.panel.hidden = false;
		el.root.classList.add("wcfcb-is-open");
		if (!fullPage) {
			el.launcher.setAttribute("aria-expanded", "true");
			store.set(K_STATE, "open");
		}
		setUnread(0);
		if (el.teaser) el.teaser.hidden = true;
		scroll();
		if (focus !== false) el.input.focus();
	}

	function hide(state) {
		if (fullPage) return;
		isOpen = false;
		el.panel.hidden = true;
		el.root.classList.remove("wcfcb-is-open");
		el.launcher.setAttribute("aria-expanded", "false");
		store.set(K_STATE, state);
		if (state === "closed") sstore.set(K_DISMISSED, "1");
		el.launcher.focus();
	}

	// The greeting is not stored: it always opens the conversation, before any history.
	// On a phone a full-screen chat jumping over the page is rude: show a small teaser instead.
	function autoLaunch() {
		if (isOpen || store.get(K_STATE)) return;
		if (window.matchMedia && matchMedia("(max-width: 480px)").matches) {
			el.teaserText.textContent = cfg.greeting;
			el.teaser.hidden = false;
			setUnread(Math.max(unread, 1));
		} else open(false);
	}

	function setOnline() {
		el.root.classList.toggle("wcfcb-offline", navigator.onLine === false);
		if (navigator.onLine === false) el.sub.textContent = "Offline — messages will be sent when you reconnect";
		else setStatus(lastStatus);
	}

	function greet() {
		var first = el.log.querySelector(".wcfcb-msg");
		var g = addMessage({ author: "bot", text: cfg.greeting });
		if (unread) setUnread(unread - 1);
		if (first) el.log.insertBefore(g, first);
		else setQuickReplies(cfg.quick_replies && cfg.quick_replies.length ? cfg.quick_replies : QUICK);
	}

	/* ---------- build ---------- */
	function icon(path) {
		var ns = "http://www.w3.org/2000/svg";
		var s = document.createElementNS(ns, "svg");
		s.setAttribute("viewBox", "0 0 24 24");
		s.setAttribute("aria-hidden", "true");
		s.setAttribute("focusable", "false");
		var p = document.createElementNS(ns, "path");
		p.setAttribute("d", path);
		s.appendChild(p);
		return s;
	}

	function applyBrand() {
		var hex = /^#([0-9a-f]{3}|[0-9a-f]{6})$/i;
		var st = el.root.style;
		if (hex.test(cfg.brand_primary_colour)) {
			st.setProperty("--wcfcb-primary", cfg.brand_primary_colour);
			st.setProperty("--wcfcb-on-primary", onColour(cfg.brand_primary_colour));
		}
		if (hex.test(cfg.brand_accent_colour)) st.setProperty("--wcfcb-accent", cfg.brand_accent_colour);
		el.title.textContent = cfg.assistant_name;
		var logo = safeHref(cfg.logo_url);
		if (logo) el.logo.src = logo;
		el.input.placeholder = "Message " + cfg.assistant_name + "…";
		setUnread(unread);
	}

	// Text on the brand colour: white or near-black, whichever contrasts more (WCAG).
	function onColour(hex) {
		var c = hex.length === 4 ? hex.replace(/(\w)/g, "$1$1").slice(1) : hex.slice(1);
		var L = [0, 2, 4]
			.map(function (i) {
				var v = parseInt(c.substr(i, 2), 16) / 255;
				return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
			})
			.reduce(function (a, v, i) {
				return a + v * [0.2126, 0.7152, 0.0722][i];
			}, 0);
		return 1.05 / (L + 0.05) >= (L + 0.05) / 0.0625 ? "#ffffff" : "#111111";
	}

	function build() {
		var name = cfg.assistant_name;
		el.root = h("div", { cls: "wcfcb-chat" + (fullPage ? " wcfcb-page" : ""), id: "wcfcb-chat" });
		el.logo = h("img", { cls: "wcfcb-logo", alt: "", width: 36, height: 36, src: cfg.logo_url });
		el.title = h("h2", { id: "wcfcb-title", cls: "wcfcb-title", text: name });
		el.sub = h("p", { cls: "wcfcb-sub" });
		var tools = h("div", { cls: "wcfcb-tools" });
		if (!fullPage) {
			tools.appendChild(
				h("button", { type: "button", cls: "wcfcb-icon", "aria-label": "Minimise chat", onclick: function () { hide("min"); } }, [
					icon("M5 12h14v2H5z"),
				])
			);
			tools.appendChild(
				h("button", { type: "button", cls: "wcfcb-icon", "aria-label": "Close chat", onclick: function () { hide("closed"); } }, [
					icon("M6.4 5 12 10.6 17.6 5 19 6.4 13.4 12l5.6 5.6-1.4 1.4-5.6-5.6L6.4 19 5 17.6l5.6-5.6L5 6.4z"),
				])
			);
		}
		el.install = h("button", {
			type: "button",
			cls: "wcfcb-install",
			hidden: true,
			text: "Install app",
			onclick: function () {
				if (installEvt) installEvt.prompt();
				el.install.hidden = true;
			},
		});
		tools.insertBefore(el.install, tools.firstChild);
		var head = h("header", { cls: "wcfcb-head" }, [el.logo, h("div", { cls: "wcfcb-head-text" }, [el.title, el.sub]), tools]);
		el.typing = h("div", { cls: "wcfcb-typing", role: "status", hidden: true }, [
			h("span", { cls: "wcfcb-dot" }),
			h("span", { cls: "wcfcb-dot" }),
			h("span", { cls: "wcfcb-dot" }),
			h("span", { cls: "wcfcb-sr", text: name + " is typing" }),
		]);
		el.log = h("div", { cls: "wcfcb-log", role: "log", "aria-live": "polite", "aria-label": "Conversation", tabindex: "0" }, [
			el.typing,
		]);
		el.qr = h("div", { cls: "wcfcb-qr", role: "group", "aria-label": "Suggested replies", hidden: true });
		el.file = h("input", { type: "file", accept: FILE_TYPES.join(","), cls: "wcfcb-sr", tabindex: "-1", "aria-hidden": "true" });
		el.file.addEventListener("change", function () {
			upload(el.file.files[0]);
			el.file.value = "";
		});
		el.input = h("textarea", { cls: "wcfcb-input", rows: "1", maxlength: "2000", "aria-label": "Type your message" });
		el.input.addEventListener("input", autosize);
		el.input.addEventListener("keydown", function (e) {
			if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
				e.preventDefault();
				submit();
			}
		});
		var form = h(
			"form",
			{
				cls: "wcfcb-form",
				onsubmit: function (e) {
					e.preventDefault();
					submit();
				},
			},
			[
				h("button", { type: "button", cls: "wcfcb-icon wcfcb-attach", "aria-label": "Attach an image or PDF (up to 5 MB)", onclick: function () { el.file.click(); } }, [
					icon("M16.5 6v11.5a4 4 0 0 1-8 0V5a2.5 2.5 0 0 1 5 0v10.5a1 1 0 0 1-2 0V6H10v9.5a2.5 2.5 0 0 0 5 0V5a4 4 0 0 0-8 0v12.5a5.5 5.5 0 0 0 11 0V6z"),
				]),
				el.input,
				h("button", { type: "submit", cls: "wcfcb-send", "aria-label": "Send message" }, [icon("M3 20.5 21 12 3 3.5v6.6L15 12 3 13.9z")]),
				el.file,
			]
		);
		el.panel = h(
			"section",
			{ cls: "wcfcb-panel", id: "wcfcb-panel", role: "dialog", "aria-labelledby": "wcfcb-title", hidden: !fullPage },
			[head, el.log, el.qr, form, h("p", { cls: "wcfcb-foot", text: "Never share your PIN or passwords in the chat." })]
		);
		el.panel.addEventListener("keydown", function (e) {
			if (e.key === "Escape") hide("closed");
		});
		el.badge = h("span", { cls: "wcfcb-badge", hidden: true, "aria-hidden": "true" });
		el.launcher = h(
			"button",
			{
				type: "button",
				cls: "wcfcb-launcher",
				"aria-controls": "wcfcb-panel",
				"aria-expanded": "false",
				onclick: function () {
					isOpen ? hide("min") : open();
				},
			},
			[icon("M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H8l-4 4V6a2 2 0 0 1 2-2z"), el.badge]
		);
		el.teaserText = h("span");
		el.teaser = h("div", { cls: "wcfcb-teaser", hidden: true }, [
			h("button", { type: "button", cls: "wcfcb-teaser-open", onclick: function () { open(); } }, [el.teaserText]),
			h("button", {
				type: "button",
				cls: "wcfcb-teaser-x",
				"aria-label": "Dismiss",
				text: "\u00D7",
				onclick: function () {
					el.teaser.hidden = true;
					sstore.set(K_DISMISSED, "1");
				},
			}),
		]);
		if (!fullPage) {
			el.root.appendChild(el.teaser);
			el.root.appendChild(el.launcher);
		}
		el.root.appendChild(el.panel);
		(pageHost || document.body).appendChild(el.root);
		setStatus("bot");
		applyBrand();
	}

	// The message box grows with what is typed, up to the CSS max-height.
	function autosize() {
		el.input.style.height = "auto";
		el.input.style.height = el.input.scrollHeight + 2 + "px";
	}

	function submit() {
		var t = el.input.value;
		if (!t.trim()) return;
		el.input.value = "";
		autosize();
		send(t);
	}

	function start() {
		build();
		if (fullPage) open(false);
		// Offline sends queued in an earlier visit are shown again, in order.
		outbox().forEach(queuedRow);
		call("get_config", {})
			.then(
				function (c) {
					for (var k in c || {}) if (c[k] !== null && c[k] !== "") cfg[k] = c[k];
					if (+cfg.max_upload_bytes > 0) maxFile = +cfg.max_upload_bytes;
					applyBrand();
				},
				function () {
					/* defaults are fine */
				}
			)
			.then(loadHistory)
			.then(function () {
				greet();
				if (sid) {
					subscribeRealtime(sid);
					startPolling();
				}
				if (navigator.onLine !== false && outbox().length) flushOutbox();
				var st = store.get(K_STATE);
				if (fullPage) return;
				if (st === "open") open(false);
				else if (!st && !sstore.get(K_DISMISSED)) {
					var secs = +cfg.chat_auto_launch_seconds;
					if (secs >= 0) setTimeout(autoLaunch, secs * 1000);
				}
			});
		window.addEventListener("online", function () {
			setOnline();
			flushOutbox();
		});
		window.addEventListener("offline", setOnline);
		setOnline();
		window.addEventListener("beforeinstallprompt", function (e) {
			e.preventDefault();
			installEvt = e;
			if (fullPage) el.install.hidden = false;
		});
		if (fullPage && "serviceWorker" in navigator) {
			var swUrl = pageHost.getAttribute("data-sw") || "/sw.js";
			navigator.serviceWorker.register(swUrl, { scope: "/" }).catch(function () {
				/* no SW: the page still works online */
			});
		}
	}

	window.WCFCBChat = {
		open: function () { open(); },
		close: function () { hide("closed"); },
		send: function (t) { return send(t); },
	};

	if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
	else start();
})();
