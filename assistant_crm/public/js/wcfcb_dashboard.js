/* WCFCB staff console (/wcfcb_dashboard): the same page under Frappe and standalone.
 *
 * Talks only to /api/method/assistant_crm.api.* (Frappe's envelope {"message": ...}).
 * POSTs carry the session's CSRF token in X-Frappe-CSRF-Token (set on window.frappe
 * by the page, as Frappe does). Live updates: server-sent events standalone, Frappe
 * realtime when the page has it, otherwise a cheap change-counter poll.
 * Every text from the server is inserted as text, never as HTML.
 */
(function () {
	"use strict";

	var API = "/api/method/assistant_crm.api.";
	var CHANNEL_TAGS = { web: "WEB", whatsapp: "WA", telegram: "TG", messenger: "FB", instagram: "IG", sms: "SMS" };
	var CHANNEL_NAMES = { web: "Web chat", whatsapp: "WhatsApp", telegram: "Telegram", messenger: "Messenger", instagram: "Instagram", sms: "SMS" };
	var STATUS_LABELS = { bot: "With assistant", waiting_for_agent: "Waiting for agent", with_agent: "With agent", closed: "Closed" };
	var REASONS = { asked: "asked for a person", anger: "upset", low_confidence: "not understood" };
	var LANGUAGES = { en: "English", bem: "Bemba", nya: "Nyanja", toi: "Tonga", loz: "Lozi" };
	var TICKS = { queued: "\u25F7", sending: "\u25F7", sent: "\u2713", delivered: "\u2713\u2713", read: "\u2713\u2713", failed: "!", dead: "!" };

	var state = {
		me: null,
		section: "inbox",
		view: "waiting",
		list: [],
		current: null, // session id
		conversation: null,
		mode: "reply",
		canned: [],
		cannedIndex: 0,
		staff: [],
		version: null,
		charts: {},
		conv: null,
	};

	// ------------------------------------------------------------------ helpers
	function $(id) { return document.getElementById(id); }

	function h(tag, attrs) {
		var el = document.createElement(tag);
		var a = attrs || {};
		Object.keys(a).forEach(function (k) {
			var v = a[k];
			if (v === null || v === undefined || v === false) return;
			if (k === "text") el.textContent = v;
			else if (k === "class") el.className = v;
			else if (k.slice(0, 2) === "on") el.addEventListener(k.slice(2), v);
			else if (k === "dataset") Object.keys(v).forEach(function (d) { el.dataset[d] = v[d]; });
			else el.setAttribute(k, v === true ? "" : v);
		});
		for (var i = 2; i < arguments.length; i++) {
			var c = arguments[i];
			if (c === null || c === undefined || c === false) continue;
			(Array.isArray(c) ? c : [c]).forEach(function (x) {
				if (x === null || x === undefined || x === false) return;
				el.appendChild(typeof x === "string" || typeof x === "number" ? document.createTextNode(String(x)) : x);
			});
		}
		return el;
	}

	function clear(el) { while (el.firstChild) el.removeChild(el.firstChild); return el; }

	function csrf() { return (window.frappe && window.frappe.csrf_token) || ""; }

	function ApiError(status, message) { this.status = status; this.message = message; }

	function errorMessage(body, status) {
		try {
			var msgs = JSON.parse(body._server_messages || "[]");
			if (msgs.length) return JSON.parse(msgs[0]).message;
		} catch (e) { /* fall through */ }
		return (body && (body.exception || body.message)) || "Request failed (" + status + ")";
	}

	function api(method, fn, params) {
		var url = API + fn;
		var opts = { method: method, credentials: "same-origin", headers: { Accept: "application/json" } };
		if (method === "GET") {
			var q = new URLSearchParams();
			Object.keys(params || {}).forEach(function (k) { if (params[k] !== undefined && params[k] !== null && params[k] !== "") q.set(k, params[k]); });
			var qs = q.toString();
			if (qs) url += "?" + qs;
		} else {
			opts.headers["Content-Type"] = "application/json";
			opts.headers["X-Frappe-CSRF-Token"] = csrf();
			opts.body = JSON.stringify(params || {});
		}
		return fetch(url, opts).then(function (r) {
			return r.text().then(function (t) {
				var body = {};
				try { body = t ? JSON.parse(t) : {}; } catch (e) { body = { message: t }; }
				if (r.status === 401) { toLogin(); throw new ApiError(401, "Please log in again."); }
				if (!r.ok) throw new ApiError(r.status, errorMessage(body, r.status));
				return body.message;
			});
		});
	}

	function toLogin() { window.location.href = "/login?redirect-to=" + encodeURIComponent("/wcfcb_dashboard"); }

	var toastTimer = null;
	function toast(text, kind) {
		var t = $("toast");
		t.textContent = text;
		t.className = "toast" + (kind ? " toast-" + kind : "");
		t.hidden = false;
		clearTimeout(toastTimer);
		toastTimer = setTimeout(function () { t.hidden = true; }, 4000);
	}

	function fail(e) { toast(e && e.message ? e.message : String(e), "error"); }

	function parseDate(s) {
		if (!s) return null;
		// Times carry their offset (the site's zone under Frappe); a naive one is UTC.
		var iso = String(s).replace(" ", "T");
		if (!/[zZ]|[+-]\d\d:?\d\d$/.test(iso)) iso += "Z";
		var d = new Date(iso);
		return isNaN(d) ? null : d;
	}

	function fmtTime(s) {
		var d = parseDate(s);
		if (!d) return "";
		var now = new Date();
		var opts = { hour: "2-digit", minute: "2-digit" };
		if (d.toDateString() !== now.toDateString()) { opts.day = "numeric"; opts.month = "short"; }
		return d.toLocaleString(undefined, opts);
	}

	function ago(s) {
		var d = parseDate(s);
		if (!d) return "";
		var sec = Math.max(0, Math.round((Date.now() - d.getTime()) / 1000));
		if (sec < 60) return sec + "s";
		if (sec < 3600) return Math.floor(sec / 60) + "m";
		if (sec < 86400) return Math.floor(sec / 3600) + "h " + Math.floor((sec % 3600) / 60) + "m";
		return Math.floor(sec / 86400) + "d";
	}


	function channelChip(ch) {
		return h("span", { class: "chan chan-" + ch, title: CHANNEL_NAMES[ch] || ch, text: CHANNEL_TAGS[ch] || String(ch || "?").slice(0, 3).toUpperCase() });
	}

	function statusBadge(status) {
		return h("span", { class: "badge badge-" + status, text: STATUS_LABELS[status] || status });
	}

	function download(filename, data) {
		var blob = new Blob([JSON.stringify(data, null, 2)], { type: "application/json" });
		var a = h("a", { href: URL.createObjectURL(blob), download: filename });
		document.body.appendChild(a);
		a.click();
		setTimeout(function () { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
	}

	// ------------------------------------------------------------------ sections
	function showSection(name) {
		if (!state.me) return;
		if (name !== "inbox" && !state.me.is_manager) name = "inbox";
		state.section = name;
		document.querySelectorAll(".tabs [role=tab]").forEach(function (b) {
			b.setAttribute("aria-selected", b.dataset.section === name ? "true" : "false");
		});
		document.querySelectorAll("main > .section").forEach(function (s) { s.hidden = s.dataset.section !== name; });
		if (location.hash !== "#" + name) history.replaceState(null, "", "#" + name);
		if (name === "analytics") loadAnalytics();
		if (name === "knowledge") { loadArticles(); loadGaps(); }
		if (name === "conversations") searchConversations();
		if (name === "health") loadHealth();
	}

	// ------------------------------------------------------------------ inbox
	function loadList() {
		return Promise.all([
			api("GET", "agent.list_conversations", { view: state.view, limit: 200 }),
			api("GET", "agent.inbox_counts"),
		]).then(function (res) {
			state.list = res[0] || [];
			var counts = res[1] || {};
			$("count-waiting").textContent = counts.waiting || 0;
			$("count-mine").textContent = counts.mine || 0;
			$("count-open").textContent = counts.open || 0;
			var pill = $("tab-waiting-count");
			pill.textContent = counts.waiting || 0;
			pill.hidden = !counts.waiting;
			renderList();
		}).catch(fail);
	}

	function renderList() {
		var ul = clear($("conversation-list"));
		$("list-empty").hidden = state.list.length > 0;
		state.list.forEach(function (c) {
			var waiting = c.waiting_since ? ago(c.waiting_since) : "";
			var li = h("li", {
				class: "conv" + (c.session_id === state.current ? " active" : "") + (c.status === "waiting_for_agent" ? " is-waiting" : ""),
				dataset: { session: c.session_id },
				tabindex: "0",
				role: "button",
				onclick: function () { openConversation(c.session_id); },
				onkeydown: function (e) { if (e.key === "Enter") openConversation(c.session_id); },
			},
				h("div", { class: "conv-top" },
					channelChip(c.channel),
					h("span", { class: "conv-name", text: c.display_name }),
					c.verified ? h("span", { class: "verified", title: "Identity verified", text: "\u2714 verified" }) : null,
					h("span", { class: "conv-lang", text: (c.language || "en").toUpperCase() })
				),
				h("div", { class: "conv-last", text: (c.last_author === "agent" ? "You: " : "") + (c.last_message || "") }),
				h("div", { class: "conv-foot" },
					statusBadge(c.status),
					c.assigned_agent ? h("span", { class: "conv-holder", title: "Held by " + staffName(c.assigned_agent), text: staffName(c.assigned_agent) }) : null,
					waiting ? h("span", { class: "waited", title: "Waiting for a reply", text: "waiting " + waiting }) : h("span", { class: "muted", text: fmtTime(c.last_activity) })
				)
			);
			ul.appendChild(li);
		});
	}

	function openConversation(id) {
		state.current = id;
		document.querySelectorAll(".conv").forEach(function (li) { li.classList.toggle("active", li.dataset.session === id); });
		return refreshConversation(true);
	}

	function refreshConversation(scroll) {
		if (!state.current) return Promise.resolve();
		var id = state.current;
		return api("GET", "agent.get_conversation", { session_id: id }).then(function (c) {
			if (state.current !== id) return;
			state.conversation = c;
			renderConversation(scroll);
		}).catch(function (e) {
			if (e.status === 404) { state.current = null; $("thread-body").hidden = true; $("thread-empty").hidden = false; $("side").hidden = true; }
			fail(e);
		});
	}

	function staffName(user) {
		var s = state.staff.find(function (x) { return x.user === user; });
		return s ? s.full_name : user;
	}

	function messageItem(m) {
		var cls = "msg msg-" + (m.author || "bot");
		var who = { user: "", bot: "Assistant", agent: staffName(m.agent) || "Agent", system: "" }[m.author] || "";
		var tick = m.delivery ? h("span", { class: "tick tick-" + m.delivery, title: m.delivery, text: TICKS[m.delivery] || "" }) : null;
		var atts = (m.attachments || []).map(function (a) {
			var url = a.url || a.file_url || "";
			var label = a.name || a.filename || a.file_name || "attachment";
			return url ? h("a", { class: "attachment", href: url, target: "_blank", rel: "noopener", text: "Attachment: " + label }) : h("span", { class: "attachment", text: "Attachment: " + label });
		});
		return h("li", { class: cls },
			who ? h("div", { class: "msg-who", text: who }) : null,
			h("div", { class: "msg-text", text: m.text }),
			atts.length ? h("div", { class: "msg-atts" }, atts) : null,
			h("div", { class: "msg-meta" }, h("time", { datetime: m.created || "", text: fmtTime(m.created) }), tick)
		);
	}

	function renderConversation(scroll) {
		var c = state.conversation;
		var s = c.session;
		$("thread-empty").hidden = true;
		$("thread-body").hidden = false;
		$("side").hidden = false;
		$("thread-title").textContent = s.display_name;
		var meta = clear($("thread-meta"));
		[
			channelChip(s.channel),
			h("span", { text: CHANNEL_NAMES[s.channel] || s.channel }),
			h("span", { class: "sep", text: "\u00B7" }),
			h("span", { text: LANGUAGES[s.language] || s.language }),
			h("span", { class: "sep", text: "\u00B7" }),
			statusBadge(s.status),
			s.verified ? h("span", { class: "verified", text: "\u2714 verified" }) : null,
			s.queue_position ? h("span", { class: "queue", text: "#" + s.queue_position + " in queue" }) : null,
			s.handoff_out_of_hours ? h("span", { class: "badge badge-closed", text: "out of hours" }) : null,
			s.handoff_reason ? h("span", { class: "muted", text: "(" + (REASONS[s.handoff_reason] || String(s.handoff_reason).replace(/_/g, " ")) + ")" }) : null
		].forEach(function (el) { if (el) meta.appendChild(el); });
		var mine = s.status === "with_agent" && s.assigned_agent === state.me.user;
		var held = s.status === "with_agent" && s.assigned_agent && !mine;
		var closed = s.status === "closed";
		$("holder").textContent = s.status === "with_agent" ? (mine ? "You hold this conversation" : "Held by " + staffName(s.assigned_agent)) : (s.status === "waiting_for_agent" ? "Nobody holds it yet" : "");
		$("holder").className = "holder" + (held ? " holder-other" : mine ? " holder-mine" : "");
		$("btn-take").hidden = mine || closed;
		$("btn-take").disabled = !!held;
		$("btn-release").hidden = closed || s.status === "bot";
		$("btn-close").hidden = closed;
		$("transfer-to").hidden = closed;
		$("composer").hidden = closed;
		$("char-count").dataset.limit = c.reply_limit;
		updateCount();

		var ol = clear($("messages"));
		c.messages.forEach(function (m) { ol.appendChild(messageItem(m)); });
		if (scroll !== false) ol.scrollTop = ol.scrollHeight;

		var dl = clear($("person"));
		var p = c.person;
		function row(k, v) { if (v) dl.append(h("dt", { text: k }), h("dd", { text: v })); }
		if (p) {
			row("Name", p.full_name);
			row("NRC", p.nrc);
			row("Phone", p.phone);
			row("Role", (p.roles || []).join(", "));
			row("Employer no.", (p.employer_numbers || []).join(", "));
			row("Verified", fmtTime(p.verified_at) + (p.method ? " (" + p.method.replace(/_/g, " ") + ")" : ""));
		} else {
			row("Identity", "Not verified");
			row("Phone", s.phone);
		}
		row("Channel", CHANNEL_NAMES[s.channel] || s.channel);
		row("Messages", String(s.message_count || c.messages.length));
		var rating = s.csat || c.csat;
		if (rating) row("Rating", "\u2605".repeat(Math.round(rating)) + " " + rating + "/5" + ((s.csat_comment || c.csat_comment) ? " \u2014 " + (s.csat_comment || c.csat_comment) : ""));
		else if (s.csat_asked) row("Rating", "asked, not given yet");

		var notes = clear($("notes"));
		if (!c.notes.length) notes.append(h("li", { class: "muted", text: "No notes yet. Switch the composer to \u201CInternal note\u201D to add one." }));
		c.notes.forEach(function (n) {
			notes.append(h("li", { class: "note" }, h("div", { class: "note-meta", text: staffName(n.agent) + " \u00B7 " + fmtTime(n.created) }), h("div", { text: n.text })));
		});
	}

	function act(fn, extra) {
		var id = state.current;
		if (!id) return Promise.resolve();
		var params = Object.assign({ session_id: id }, extra || {});
		return api("POST", "agent." + fn, params).then(function () {
			return Promise.all([refreshConversation(true), loadList()]);
		}).catch(function (e) { fail(e); return refreshConversation(false); });
	}

	function send() {
		var box = $("reply-text");
		var text = box.value.trim();
		if (!text) { toast("Type a message first.", "error"); return; }
		var fn = state.mode === "note" ? "add_note" : "reply";
		$("btn-send").disabled = true;
		api("POST", "agent." + fn, { session_id: state.current, text: text }).then(function () {
			box.value = "";
			updateCount();
			return Promise.all([refreshConversation(true), loadList()]);
		}).catch(fail).then(function () { $("btn-send").disabled = false; box.focus(); });
	}

	function setMode(mode) {
		state.mode = mode;
		document.querySelectorAll(".composer-modes button").forEach(function (b) { b.setAttribute("aria-selected", b.dataset.mode === mode ? "true" : "false"); });
		$("composer").classList.toggle("is-note", mode === "note");
		$("reply-text").placeholder = mode === "note" ? "Note for colleagues \u2014 the person never sees it" : "Type a reply\u2026  ( / for canned responses )";
		$("btn-send").textContent = mode === "note" ? "Add note" : "Send";
		$("composer-hint").textContent = mode === "note" ? "Internal" : "";
	}

	function updateCount() {
		var el = $("char-count");
		var limit = parseInt(el.dataset.limit || "4000", 10);
		var n = $("reply-text").value.trim().length;
		el.textContent = n ? n + " / " + limit : "";
		el.classList.toggle("over", n > limit);
	}

	// Canned responses: "/" at the start of the box (or after a space) opens the menu.
	function cannedQuery() {
		var box = $("reply-text");
		var upto = box.value.slice(0, box.selectionStart);
		var m = /(^|\s)\/([\w-]*)$/.exec(upto);
		return m ? { query: m[2].toLowerCase(), start: upto.length - m[2].length - 1 } : null;
	}

	function renderCanned() {
		var menu = $("canned-menu");
		var q = cannedQuery();
		if (!q || state.mode !== "reply") { menu.hidden = true; return; }
		var items = state.canned.filter(function (c) {
			return c.shortcut.indexOf(q.query) === 0 || (c.title || "").toLowerCase().indexOf(q.query) >= 0;
		}).slice(0, 8);
		if (!items.length) { menu.hidden = true; return; }
		state.cannedIndex = Math.min(state.cannedIndex, items.length - 1);
		clear(menu);
		items.forEach(function (c, i) {
			menu.append(h("div", {
				class: "canned-item" + (i === state.cannedIndex ? " active" : ""),
				role: "option",
				dataset: { shortcut: c.shortcut },
				onmousedown: function (e) { e.preventDefault(); insertCanned(c); },
			}, h("strong", { text: "/" + c.shortcut }), h("span", { class: "muted", text: " " + (c.title || "") }), h("div", { class: "canned-preview", text: c.content })));
		});
		menu.hidden = false;
		menu._items = items;
	}

	function insertCanned(c) {
		var box = $("reply-text");
		var q = cannedQuery();
		if (!q) return;
		var before = box.value.slice(0, q.start);
		var after = box.value.slice(box.selectionStart);
		var first = ((state.me && state.me.full_name) || "").split(" ")[0];
		var content = c.content.replace(/\{agent\}/g, first || "your agent");
		box.value = before + content + after;
		var pos = (before + content).length;
		box.setSelectionRange(pos, pos);
		$("canned-menu").hidden = true;
		updateCount();
		box.focus();
	}

	function loadStaff() {
		return api("GET", "staff.list_staff").then(function (rows) {
			state.staff = rows || [];
			var sel = clear($("transfer-to"));
			sel.append(h("option", { value: "", text: "Transfer to\u2026" }));
			state.staff.forEach(function (s) {
				if (s.user !== state.me.user) sel.append(h("option", { value: s.user, text: s.full_name + " (" + s.role + ")" }));
			});
		}).catch(fail);
	}

	// ------------------------------------------------------------------ live updates
	var refreshTimer = null;
	function onChange() {
		// Coalesce bursts (a turn stores two messages and the session) into one refresh.
		clearTimeout(refreshTimer);
		refreshTimer = setTimeout(function () {
			if (state.section !== "inbox") return;
			loadList();
			if (state.current) refreshConversation(atBottom());
		}, 250);
	}

	function atBottom() {
		var ol = $("messages");
		return ol.scrollHeight - ol.scrollTop - ol.clientHeight < 60;
	}

	function setLive(on) { $("live-dot").classList.toggle("on", !!on); $("live-dot").title = on ? "Live updates on" : "Reconnecting\u2026"; }

	function startLive() {
		if (window.frappe && window.frappe.realtime && window.frappe.realtime.on) {
			window.frappe.realtime.on("assistant_crm_inbox", onChange);
			setLive(true);
			return;
		}
		if (state.me.runtime !== "frappe" && window.EventSource) {
			var es = new EventSource(API + "agent.events");
			es.addEventListener("hello", function () { setLive(true); });
			es.addEventListener("change", function () { setLive(true); onChange(); });
			es.onerror = function () { setLive(false); };
			return;
		}
		// Fallback: read the change counter (a cache read on the server) every few seconds.
		setInterval(function () {
			api("GET", "agent.changes").then(function (r) {
				setLive(true);
				if (state.version !== null && r.version !== state.version) onChange();
				state.version = r.version;
			}).catch(function () { setLive(false); });
		}, 4000);
	}

	// ------------------------------------------------------------------ analytics
	var CHART_COLORS = ["#0b5d3b", "#f2b705", "#2f80ed", "#8e44ad", "#e67e22", "#16a085", "#c0392b"];

	function chart(id, opts) {
		var el = $(id);
		clear(el);
		if (!window.frappe || !window.frappe.Chart) { el.append(h("p", { class: "muted", text: "Charts unavailable." })); return; }
		var hasData = opts.data.datasets.some(function (d) { return d.values.some(function (v) { return v; }); });
		if (!hasData) { el.append(h("p", { class: "empty", text: "No data in this range." })); return; }
		state.charts[id] = new window.frappe.Chart(el, Object.assign({ height: 220, colors: CHART_COLORS, animate: false, truncateLegends: true }, opts));
	}

	function kpi(label, value, sub) {
		return h("div", { class: "kpi" }, h("div", { class: "kpi-value", text: value }), h("div", { class: "kpi-label", text: label }), sub ? h("div", { class: "kpi-sub", text: sub }) : null);
	}

	function pct(x) { return x === null || x === undefined ? "\u2014" : Math.round(x * 1000) / 10 + "%"; }

	function secs(x) {
		if (x === null || x === undefined) return "\u2014";
		if (x < 60) return Math.round(x) + " s";
		if (x < 3600) return Math.round(x / 60) + " min";
		return (Math.round(x / 360) / 10) + " h";
	}

	function loadAnalytics() {
		var form = $("analytics-range");
		// The first time, the server picks the last 14 days of the site's calendar (a
		// Frappe site's "today" is in its own time zone, not the browser's UTC date).
		var range = form.from_date.value ? { from_date: form.from_date.value, to_date: form.to_date.value } : {};
		api("GET", "dashboard.get_analytics", range).then(function (a) {
			if (!form.from_date.value && a.range) {
				form.from_date.value = a.range.from;
				form.to_date.value = a.range.to;
			}
			var t = a.totals;
			clear($("kpis")).append(
				kpi("Conversations", String(t.conversations), t.messages + " messages"),
				kpi("Contained by the assistant", pct(t.containment), "ended without a person"),
				kpi("Hand-off rate", pct(t.handoff_rate), t.handoffs + " hand-offs"),
				kpi("First agent response", secs(t.first_response.median_seconds), "median, " + t.first_response.count + " hand-offs answered"),
				kpi("Verification success", pct(t.verification.rate), t.verification.succeeded + " of " + t.verification.attempts + " attempts"),
				kpi("CSAT", t.csat.average === null ? "\u2014" : t.csat.average.toFixed(2) + " / 5", t.csat.count + " ratings"),
				kpi("Delivery failures", String(t.delivery_failures), "outbound messages failed")
			);
			var labels = a.days.map(function (d) { return d.slice(5); });
			function sets(byChannel) {
				return Object.keys(byChannel).map(function (ch) { return { name: CHANNEL_NAMES[ch] || ch, values: byChannel[ch] }; });
			}
			chart("chart-conversations", { type: "bar", barOptions: { stacked: 1 }, data: { labels: labels, datasets: sets(a.conversations_by_day) } });
			chart("chart-messages", { type: "line", lineOptions: { regionFill: 1, hideDots: 1 }, data: { labels: labels, datasets: sets(a.messages_by_day) } });
			var intents = Object.keys(a.intents).sort(function (x, y) { return a.intents[y] - a.intents[x]; }).slice(0, 10);
			chart("chart-intents", { type: "bar", data: { labels: intents.map(function (i) { return i.replace(/_/g, " "); }), datasets: [{ name: "Messages", values: intents.map(function (i) { return a.intents[i]; }) }] } });
			var dist = t.csat.distribution;
			chart("chart-csat", { type: "bar", colors: ["#f2b705"], data: { labels: ["1 \u2605", "2 \u2605", "3 \u2605", "4 \u2605", "5 \u2605"], datasets: [{ name: "Ratings", values: [1, 2, 3, 4, 5].map(function (k) { return dist[String(k)] || 0; }) }] } });

			var lt = clear($("latency-table"));
			lt.append(h("thead", null, h("tr", null, h("th", { text: "Stage" }), h("th", { class: "num", text: "p50" }), h("th", { class: "num", text: "p95" }), h("th", { class: "num", text: "Turns" }))));
			var lb = h("tbody");
			Object.keys(a.latency).forEach(function (stage) {
				var l = a.latency[stage];
				lb.append(h("tr", null, h("td", { text: stage }), h("td", { class: "num", text: l.p50 === null ? "\u2014" : l.p50.toFixed(1) }), h("td", { class: "num", text: l.p95 === null ? "\u2014" : l.p95.toFixed(1) }), h("td", { class: "num", text: String(l.count) })));
			});
			if (!Object.keys(a.latency).length) lb.append(h("tr", null, h("td", { colspan: "4", class: "empty", text: "No turns in this range." })));
			lt.append(lb);

			var ft = clear($("failures-table"));
			ft.append(h("thead", null, h("tr", null, h("th", { text: "Channel" }), h("th", { class: "num", text: "Failed" }), h("th", { class: "num", text: "Sent" }))));
			var fb = h("tbody");
			Object.keys(a.delivery).forEach(function (ch) {
				fb.append(h("tr", null, h("td", { text: CHANNEL_NAMES[ch] || ch }), h("td", { class: "num", text: String(a.delivery[ch].failed) }), h("td", { class: "num", text: String(a.delivery[ch].total) })));
			});
			if (!Object.keys(a.delivery).length) fb.append(h("tr", null, h("td", { colspan: "3", class: "empty", text: "No outbound messages in this range." })));
			ft.append(fb);
		}).catch(fail);
	}

	// ------------------------------------------------------------------ knowledge base
	var CATEGORIES = ["General", "Employers", "Claims", "Benefits", "Pensions", "Contributions", "Identity", "Contact", "Prevention"];

	function loadArticles() {
		var q = $("kb-search").q.value;
		api("GET", "dashboard.kb_articles", { q: q }).then(function (rows) {
			var t = clear($("kb-table"));
			t.append(h("thead", null, h("tr", null, h("th", { text: "Title" }), h("th", { text: "Category" }), h("th", { text: "Lang" }), h("th", { text: "Published" }), h("th"))));
			var b = h("tbody");
			rows.forEach(function (r) {
				var toggle = h("input", { type: "checkbox", "aria-label": "Published", onchange: function (e) {
					api("POST", "dashboard.kb_publish", { slug: r.slug, published: e.target.checked ? 1 : 0 }).then(function () {
						toast(e.target.checked ? "Published." : "Unpublished.");
					}).catch(function (err) { e.target.checked = !e.target.checked; fail(err); });
				} });
				toggle.checked = !!r.published;
				b.append(h("tr", null, h("td", { text: r.title }), h("td", { text: r.category || "" }), h("td", { text: r.language || "" }), h("td", null, h("label", { class: "switch" }, toggle, h("span"))), h("td", null, h("button", { class: "btn btn-small", text: "Edit", onclick: function () { editArticle(r.slug); } }))));
			});
			if (!rows.length) b.append(h("tr", null, h("td", { colspan: "5", class: "empty", text: "No articles match." })));
			t.append(b);
		}).catch(fail);
	}

	function loadGaps() {
		api("GET", "dashboard.content_gaps", {}).then(function (rows) {
			var t = clear($("gaps-table"));
			t.append(h("thead", null, h("tr", null, h("th", { text: "Question" }), h("th", { class: "num", text: "Asked" }), h("th", { text: "Why" }), h("th"))));
			var b = h("tbody");
			rows.forEach(function (g) {
				b.append(h("tr", null,
					h("td", null, h("div", { text: g.question }), g.examples && g.examples.length > 1 ? h("div", { class: "muted small", text: "also: " + g.examples.slice(1, 3).join(" \u00B7 ") }) : null),
					h("td", { class: "num", text: String(g.count) }),
					h("td", { class: "small", text: g.reasons.map(function (r) { return r.replace(/_/g, " "); }).join(", ") }),
					h("td", null, h("button", { class: "btn btn-small btn-primary", text: "Write an article from this", onclick: function () { newArticle(g.question); } }))));
			});
			if (!rows.length) b.append(h("tr", null, h("td", { colspan: "4", class: "empty", text: "No unanswered questions in the last 30 days." })));
			t.append(b);
		}).catch(fail);
	}

	function fillEditor(a, title) {
		var f = $("kb-form");
		var cat = clear(f.category);
		CATEGORIES.forEach(function (c) { cat.append(h("option", { text: c })); });
		f.title.value = a.title || "";
		f.category.value = a.category || "General";
		f.language.value = a.language || "en";
		f.published.checked = !!a.published;
		f.keywords.value = a.keywords || "";
		f.body.value = a.body || "";
		f.slug.value = a.slug || "";
		$("kb-editor-title").textContent = title;
		$("kb-error").textContent = "";
		$("kb-editor").showModal();
	}

	function editArticle(slug) {
		api("GET", "dashboard.kb_article", { slug: slug }).then(function (a) { fillEditor(a, "Edit article"); }).catch(fail);
	}

	function newArticle(question) {
		fillEditor({ title: question || "", body: question ? "Question people ask: \u201C" + question + "\u201D\n\n" : "", published: 0 }, question ? "Write an article from a content gap" : "New article");
	}

	function saveArticle(e) {
		var f = $("kb-form");
		if (e.submitter && e.submitter.value === "cancel") return;
		e.preventDefault();
		api("POST", "dashboard.kb_save", {
			slug: f.slug.value || null, title: f.title.value, category: f.category.value, language: f.language.value,
			keywords: f.keywords.value, body: f.body.value, published: f.published.checked ? 1 : 0,
		}).then(function () {
			$("kb-editor").close();
			toast("Article saved.");
			loadArticles();
			loadGaps();
		}).catch(function (err) { $("kb-error").textContent = err.message; });
	}

	// ------------------------------------------------------------------ conversations
	function searchConversations(e) {
		if (e) e.preventDefault();
		var f = $("conv-search");
		api("GET", "dashboard.search_conversations", {
			channel: f.channel.value, status: f.status.value, from_date: f.from_date.value, to_date: f.to_date.value, q: f.q.value,
		}).then(function (rows) {
			var t = clear($("conv-table"));
			t.append(h("thead", null, h("tr", null, h("th", { text: "" }), h("th", { text: "Person" }), h("th", { text: "Status" }), h("th", { text: "Agent" }), h("th", { text: "Started" }), h("th", { text: "Last activity" }), h("th", { class: "num", text: "Messages" }), h("th"))));
			var b = h("tbody");
			rows.forEach(function (c) {
				b.append(h("tr", { class: "clickable", onclick: function () { openTranscript(c); } },
					h("td", null, channelChip(c.channel)),
					h("td", null, c.display_name, c.verified ? h("span", { class: "verified", text: " \u2714" }) : null),
					h("td", null, statusBadge(c.status)),
					h("td", { text: c.assigned_agent || "" }),
					h("td", { text: fmtTime(c.created) }),
					h("td", { text: fmtTime(c.last_activity) }),
					h("td", { class: "num", text: String(c.message_count || 0) }),
					h("td", null, h("button", { class: "btn btn-small", text: "Open" }))));
			});
			if (!rows.length) b.append(h("tr", null, h("td", { colspan: "8", class: "empty", text: "No conversations match." })));
			t.append(b);
		}).catch(fail);
	}

	function openTranscript(c) {
		state.conv = c;
		api("GET", "agent.get_conversation", { session_id: c.session_id }).then(function (data) {
			var rated = data.session.csat || data.csat;
			$("conv-dialog-title").textContent = data.session.display_name + " \u00B7 " + (CHANNEL_NAMES[data.session.channel] || data.session.channel) +
				(rated ? " \u00B7 rated " + rated + "/5" : "");
			var ol = clear($("conv-messages"));
			data.messages.forEach(function (m) { ol.appendChild(messageItem(m)); });
			$("conv-dialog").showModal();
		}).catch(fail);
	}

	function exportPerson() {
		if (!state.conv) return;
		api("GET", "dashboard.export_person", { session_id: state.conv.session_id }).then(function (data) {
			download("wcfcb-conversations-" + state.conv.session_id + ".json", data);
			toast("Exported " + data.conversations.length + " conversation(s).");
		}).catch(fail);
	}

	// ------------------------------------------------------------------ health
	function loadHealth() {
		api("GET", "dashboard.health").then(function (hh) {
			var t = clear($("health-checks"));
			var b = h("tbody");
			hh.checks.forEach(function (c) {
				b.append(h("tr", null, h("td", null, h("span", { class: "dot dot-" + c.status })), h("td", { text: c.name }), h("td", { class: "small", text: c.detail })));
			});
			t.append(b);
			var q = clear($("health-queues"));
			var qb = h("tbody");
			hh.queues.forEach(function (r) { qb.append(h("tr", null, h("td", { text: r.name }), h("td", { class: "num", text: String(r.value) }))); });
			hh.circuits.forEach(function (c) {
				// open: the service failed repeatedly and the assistant answers without it (docs/staff-console.md).
				var detail = (c.failures ? c.failures + " failures in a row" : "") + (c.since ? (c.failures ? ", " : "") + "since " + fmtTime(c.since) : "");
				qb.append(h("tr", null, h("td", { text: c.name + " circuit" }), h("td", { class: "num", title: detail }, h("span", { class: "badge badge-circuit-" + c.state, text: c.state.replace("_", " ") }), detail ? h("small", { class: "muted", text: " " + detail }) : null)));
			});
			q.append(qb);
			var d = clear($("dead-letters"));
			d.append(h("thead", null, h("tr", null, h("th", { text: "Channel" }), h("th", { text: "Recipient" }), h("th", { text: "Error" }), h("th", { class: "num", text: "Attempts" }), h("th", { text: "Last try" }), h("th"))));
			var db = h("tbody");
			hh.dead_letters.forEach(function (m) {
				db.append(h("tr", null, h("td", { text: CHANNEL_NAMES[m.channel] || m.channel }), h("td", { text: m.recipient }), h("td", { class: "small", text: m.error }), h("td", { class: "num", text: String(m.attempts) }), h("td", { text: fmtTime(m.modified) }),
					h("td", null, h("button", { class: "btn btn-small btn-primary", text: "Retry", onclick: function (e) {
						e.target.disabled = true;
						api("POST", "dashboard.retry_dead_letter", { message_id: m.id }).then(function () { toast("Queued for another try."); loadHealth(); }).catch(function (err) { e.target.disabled = false; fail(err); });
					} }))));
			});
			if (!hh.dead_letters.length) db.append(h("tr", null, h("td", { colspan: "6", class: "empty", text: "No dead letters. Every message was delivered or is still being tried." })));
			d.append(db);
		}).catch(fail);
	}

	// ------------------------------------------------------------------ start
	function bind() {
		document.querySelectorAll(".tabs [role=tab]").forEach(function (b) { b.addEventListener("click", function () { showSection(b.dataset.section); }); });
		document.querySelectorAll(".segmented button").forEach(function (b) {
			b.addEventListener("click", function () {
				state.view = b.dataset.view;
				document.querySelectorAll(".segmented button").forEach(function (x) { x.setAttribute("aria-selected", x === b ? "true" : "false"); });
				loadList();
			});
		});
		document.querySelectorAll(".composer-modes button").forEach(function (b) { b.addEventListener("click", function () { setMode(b.dataset.mode); }); });
		$("btn-take").addEventListener("click", function () { act("take"); });
		$("btn-release").addEventListener("click", function () { act("release"); });
		// Two clicks to close (no browser dialog): the button asks once.
		var closeTimer = null;
		$("btn-close").addEventListener("click", function () {
			var b = $("btn-close");
			if (b.dataset.armed !== "1") {
				b.dataset.armed = "1";
				b.textContent = "Confirm close";
				closeTimer = setTimeout(function () { b.dataset.armed = ""; b.textContent = "Close"; }, 4000);
				return;
			}
			clearTimeout(closeTimer);
			b.dataset.armed = "";
			b.textContent = "Close";
			act("close");
		});
		$("transfer-to").addEventListener("change", function (e) {
			var to = e.target.value;
			if (to) act("transfer", { to_agent: to }).then(function () { e.target.value = ""; toast("Transferred."); });
		});
		$("btn-send").addEventListener("click", send);
		var box = $("reply-text");
		box.addEventListener("input", function () { state.cannedIndex = 0; updateCount(); renderCanned(); });
		box.addEventListener("keydown", function (e) {
			var menu = $("canned-menu");
			if (!menu.hidden && menu._items) {
				if (e.key === "ArrowDown" || e.key === "ArrowUp") {
					e.preventDefault();
					state.cannedIndex = (state.cannedIndex + (e.key === "ArrowDown" ? 1 : -1) + menu._items.length) % menu._items.length;
					renderCanned();
					return;
				}
				if (e.key === "Enter" || e.key === "Tab") { e.preventDefault(); insertCanned(menu._items[state.cannedIndex]); return; }
				if (e.key === "Escape") { menu.hidden = true; return; }
			}
			if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); send(); }
		});
		box.addEventListener("blur", function () { setTimeout(function () { $("canned-menu").hidden = true; }, 150); });
		$("logout").addEventListener("click", function () {
			fetch("/api/method/logout", { method: "POST", credentials: "same-origin", headers: { "X-Frappe-CSRF-Token": csrf() } })
				.catch(function () {}).then(function () { window.location.href = "/login"; });
		});
		$("analytics-range").addEventListener("submit", function (e) { e.preventDefault(); loadAnalytics(); });
		$("kb-search").addEventListener("submit", function (e) { e.preventDefault(); loadArticles(); });
		$("kb-new").addEventListener("click", function () { newArticle(""); });
		$("kb-form").addEventListener("submit", saveArticle);
		$("conv-search").addEventListener("submit", searchConversations);
		$("conv-dialog-close").addEventListener("click", function () { $("conv-dialog").close(); });
		$("conv-export").addEventListener("click", exportPerson);
		$("health-refresh").addEventListener("click", loadHealth);
		$("available").addEventListener("change", function (e) {
			var on = e.target.checked;
			api("POST", "agent.set_availability", { available: on ? 1 : 0 }).then(function () {
				$("available-label").textContent = on ? "Available" : "Away";
				toast(on ? "You will be assigned new conversations." : "You will not be assigned new conversations.");
			}).catch(function (err) { e.target.checked = !on; fail(err); });
		});
		// Waiting times move on even when nothing changes.
		setInterval(function () { if (state.section === "inbox") renderList(); }, 30000);
	}

	function start() {
		bind();
		api("GET", "staff.whoami").then(function (me) {
			state.me = me;
			$("me-name").textContent = me.full_name;
			$("me-role").textContent = me.is_manager ? "Manager" : "Agent";
			$("available").checked = !!me.available;
			$("available-label").textContent = me.available ? "Available" : "Away";
			document.querySelectorAll("[data-manager]").forEach(function (el) { el.hidden = !me.is_manager; });
			$("app").dataset.state = "ready";
			loadStaff().then(loadList);
			api("GET", "agent.canned_responses").then(function (rows) { state.canned = rows || []; }).catch(fail);
			startLive();
			var wanted = (location.hash || "").slice(1);
			showSection(wanted || "inbox");
		}).catch(function (e) {
			if (e.status === 403) {
				document.body.textContent = "Your account has no Assistant CRM role. Ask a manager for access.";
			} else fail(e);
		});
	}

	if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
	else start();
})();
