// Copyright (c) 2026, WCFCB and contributors
// For license information, please see license.txt

frappe.listview_settings["Assistant Audit Log"] = {
	onload(listview) {
		const privacy = (action) => {
			frappe.prompt(
				[{ fieldname: "person", fieldtype: "Data", label: __("CoreBusiness person id"), reqd: 1 }],
				(values) => {
					const person = values.person.trim();
					const args = action === "erase_person" ? { person, confirm: person } : { person };
					const run = () =>
						frappe
							.call({ method: `assistant_crm.api.privacy.${action}`, args, freeze: true })
							.then((r) => {
								if (action === "erase_person") {
									frappe.msgprint({ title: __("Erased"), message: frappe.utils.escape_html(r.message.summary), indicator: "green" });
								} else {
									const blob = new Blob([JSON.stringify(r.message, null, 2)], { type: "application/json" });
									const a = document.createElement("a");
									a.href = URL.createObjectURL(blob);
									a.download = `personal-data-${person}.json`;
									a.click();
									URL.revokeObjectURL(a.href);
								}
							});
					if (action === "erase_person") {
						frappe.confirm(__("Erase every conversation of {0}? This cannot be undone.", [frappe.utils.escape_html(person)]), run);
					} else {
						run();
					}
				},
				action === "erase_person" ? __("Erase personal data") : __("Export personal data"),
			);
		};
		listview.page.add_inner_button(__("Export personal data"), () => privacy("export_person"), __("Privacy"));
		listview.page.add_inner_button(__("Erase personal data"), () => privacy("erase_person"), __("Privacy"));
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
							message: __("The chain is broken. Edited entries, entries that follow a deleted one, or a cut tail: {0}", [
								broken.map((b) => frappe.utils.escape_html(b)).join("<br>"),
							]),
							indicator: "red",
						});
					}
				});
		});
	},
};
