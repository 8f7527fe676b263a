// Copyright (c) 2026, WCFCB and contributors
// For license information, please see license.txt

frappe.ui.form.on("Assistant CRM Settings", {
	refresh(frm) {
		frm.set_intro(
			__("Secrets are stored encrypted. Every change is written to the Assistant Audit Log by field name, never by value."),
			"blue"
		);
	},
});
