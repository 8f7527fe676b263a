frappe.provide("frappe.dashboards.chart_sources");

frappe.dashboards.chart_sources["Assistant CRM Messages by Channel"] = {
	method: "assistant_crm.assistant_crm.dashboard_chart_source.assistant_crm_messages_by_channel.assistant_crm_messages_by_channel.get",
	filters: [],
};
