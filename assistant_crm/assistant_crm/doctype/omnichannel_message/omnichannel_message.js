// Copyright (c) 2026, WCFCB and contributors
// For license information, please see license.txt

frappe.ui.form.on("Omnichannel Message", {
	refresh(frm) {
		const failed = ["failed", "dead"].includes(frm.doc.status);
		if (!frm.is_new() && frm.doc.direction === "outbound" && failed) {
			frm.add_custom_button(__("Retry Delivery"), () =>
				frm.call("retry").then(() => frm.reload_doc())
			);
		}
	},
});
