// Copyright (c) 2026, WCFCB and contributors
// For license information, please see license.txt

// Labelled statuses in the list (the stored values are the engine's contract).
const CHAT_SESSION_STATUS = {
	bot: [__("With the assistant"), "blue"],
	waiting_for_agent: [__("Waiting for an agent"), "orange"],
	with_agent: [__("With an agent"), "green"],
	closed: [__("Closed"), "gray"],
};

frappe.listview_settings["Chat Session"] = {
	add_fields: ["status", "channel", "assigned_agent", "display_name", "csat"],
	hide_name_column: true,
	get_indicator(doc) {
		const [label, colour] = CHAT_SESSION_STATUS[doc.status] || [__(frappe.unscrub(doc.status || "")), "gray"];
		return [label, colour, `status,=,${doc.status}`];
	},
	formatters: {
		status(value) {
			return (CHAT_SESSION_STATUS[value] || [value])[0];
		},
		csat(value) {
			return value ? "★".repeat(value) : "";
		},
	},
};
