// Copyright (c) 2026, WCFCB and contributors
// For license information, please see license.txt

frappe.listview_settings["Assistant Audit Log"] = {
	onload(listview) {
		listview.page.add_inner_button(__("Verify Chain"), () => {
			frappe
				.call({
					method: "assistant_crm.assistant_crm.doctype.assistant_audit_log.assistant_audit_log.verify_chain",
					freeze: true,
				})
				.then((r) => {
					const broken = r.message || [];
					if (!broken.length) {
						frappe.msgprint({ title: __("Audit Chain"), message: __("The audit chain is intact."), indicator: "green" });
					} else {
						frappe.msgprint({
							title: __("Audit Chain Broken"),
							message: __("These entries were edited or follow a deleted one: {0}", [broken.join(", ")]),
							indicator: "red",
						});
					}
				});
		});
	},
};
