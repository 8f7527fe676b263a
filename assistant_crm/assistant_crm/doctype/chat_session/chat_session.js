// Copyright (c) 2026, WCFCB and contributors
// For license information, please see license.txt

// Agent actions go through the same API the standalone agent console uses, so
// the engine's cache, the outbox and the audit log see every action.
const AGENT_API = "assistant_crm.api.agent";

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

frappe.ui.form.on("Chat Session", {
	refresh(frm) {
		if (frm.is_new()) return;
		const status = frm.doc.status;
		if (status === "bot" || status === "waiting_for_agent") {
			frm.add_custom_button(__("Take Over"), () => agent_call(frm, "take"));
		}
		if (status === "with_agent") {
			frm.add_custom_button(__("Reply"), () => {
				frappe.prompt(
					{ fieldname: "text", fieldtype: "Small Text", label: __("Message"), reqd: 1 },
					(values) => agent_call(frm, "reply", { text: values.text }),
					__("Reply to {0}", [frm.doc.display_name || frm.doc.name]),
					__("Send")
				);
			}).addClass("btn-primary");
			frm.add_custom_button(__("Hand Back to Assistant"), () => agent_call(frm, "release"));
		}
		if (status !== "closed") {
			frm.add_custom_button(__("Close"), () => agent_call(frm, "close"));
		}
		frm.add_custom_button(__("Messages"), () =>
			frappe.set_route("List", "Chat History", { session: frm.doc.name })
		);
		const colours = { bot: "blue", waiting_for_agent: "orange", with_agent: "green", closed: "gray" };
		frm.page.set_indicator(__(frappe.unscrub(status)), colours[status] || "gray");
	},
});
