// Copyright (c) 2026, WCFCB and contributors
// For license information, please see license.txt

// Agent actions go through the same API the staff console uses, so the
// engine's cache, the outbox and the audit log see every action.
const AGENT_API = "assistant_crm.api.agent";
const TRANSCRIPT_API = "assistant_crm.assistant_crm.doctype.chat_session.chat_session.get_transcript";

// Labels for the stored status values (the values are the engine's contract).
const STATUS = {
	bot: { label: __("With the assistant"), colour: "blue" },
	waiting_for_agent: { label: __("Waiting for an agent"), colour: "orange" },
	with_agent: { label: __("With an agent"), colour: "green" },
	closed: { label: __("Closed"), colour: "gray" },
};

function agent_call(frm, action, args) {
	return frappe
		.call({
			method: `${AGENT_API}.${action}`,
			type: "POST",
			args: Object.assign({ session_id: frm.doc.name }, args || {}),
			freeze: true,
		})
		.then(() => frm.reload_doc());
}

function label_statuses(frm) {
	frm.set_df_property(
		"status",
		"options",
		Object.keys(STATUS).map((value) => ({ value, label: STATUS[value].label }))
	);
}

function render_transcript(frm, html) {
	const field = frm.get_field("transcript_html");
	if (!field) return;
	const $wrapper = field.$wrapper.empty();
	$wrapper.append($("<div class='acrm-transcript-body'>").html(html || ""));
	const $body = $wrapper.find(".acrm-transcript");
	if ($body.length) $body.scrollTop($body[0].scrollHeight);
	if (frm.doc.status !== "closed") add_reply_box(frm, $wrapper);
}

function add_reply_box(frm, $wrapper) {
	const $box = $(`
		<div class="acrm-reply" style="margin-top:8px">
			<textarea class="form-control" rows="3"></textarea>
			<div style="margin-top:6px;text-align:right">
				<button class="btn btn-primary btn-sm acrm-send"></button>
			</div>
		</div>`);
	$box.find("textarea").attr("placeholder", __("Write a reply to {0}", [frm.doc.display_name || frm.doc.name]));
	$box.find(".acrm-send").text(__("Send"));
	$box.find(".acrm-send").on("click", () => {
		const text = ($box.find("textarea").val() || "").trim();
		if (!text) {
			frappe.show_alert({ message: __("Write a message first"), indicator: "orange" });
			return;
		}
		// Replying takes the conversation when nobody holds it (the API answers 409 if someone else does).
		agent_call(frm, "reply", { text });
	});
	$wrapper.append($box);
}

function refresh_transcript(frm) {
	return frappe.call({ method: TRANSCRIPT_API, args: { name: frm.doc.name } }).then((r) => {
		const data = r.message || {};
		if (data.status && data.status !== frm.doc.status) {
			frm.reload_doc(); // who holds it changed: the buttons change too
			return;
		}
		render_transcript(frm, data.html);
	});
}

frappe.ui.form.on("Chat Session", {
	onload(frm) {
		label_statuses(frm);
		if (frm._acrm_listening) return;
		frm._acrm_listening = true;
		// A person wrote in a conversation staff hold (services/pipeline/reply.py publishes it).
		frappe.realtime.on("assistant_crm_agent_message", (data) => {
			if (data && data.session === frm.doc.name && !frm.is_dirty()) refresh_transcript(frm);
		});
	},

	refresh(frm) {
		if (frm.is_new()) return;
		label_statuses(frm);
		render_transcript(frm, (frm.doc.__onload || {}).transcript);
		const status = frm.doc.status;
		if (status === "bot" || status === "waiting_for_agent") {
			frm.add_custom_button(__("Take Over"), () => agent_call(frm, "take"));
		}
		if (status === "with_agent") {
			frm.add_custom_button(__("Hand Back to Assistant"), () => agent_call(frm, "release"));
		}
		if (status !== "closed") {
			frm.add_custom_button(__("Close"), () => agent_call(frm, "close"));
		}
		frm.add_custom_button(__("Refresh Transcript"), () => refresh_transcript(frm));
		const s = STATUS[status] || { label: __(frappe.unscrub(status || "")), colour: "gray" };
		let label = s.label;
		if (status === "with_agent" && frm.doc.assigned_agent) label = __("With {0}", [frm.doc.assigned_agent]);
		frm.page.set_indicator(label, s.colour);
	},
});
