# Copyright (c) 2026, WCFCB and contributors
# For license information, please see license.txt

import ipaddress

import frappe
from frappe import _
from frappe.model.document import Document

from assistant_crm.services.dialogue import business_hours

# Base URLs the clients call; each must be http(s).
URL_FIELDS = (
    "gemini_base_url",
    "corebusiness_base_url",
    "make_com_outbound_url",
    "graph_api_base_url",
    "telegram_api_base_url",
    "africastalking_base_url",
    "twilio_base_url",
    "public_base_url",
    "logo_url",
)


def allowlist_problems(text: str | None) -> list[str]:
    """Entries of the webhook IP allow-list that are not an IP or CIDR."""
    bad = []
    for line in (text or "").replace(",", "\n").splitlines():
        entry = line.strip()
        if not entry or entry.startswith("#"):
            continue
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            bad.append(entry)
    return bad


class AssistantCRMSettings(Document):
    # begin: auto-generated types
    # This code is auto-generated. Do not modify anything in this block.

    from typing import TYPE_CHECKING

    if TYPE_CHECKING:
        from frappe.types import DF

        africastalking_api_key: DF.Password | None
        africastalking_base_url: DF.Data | None
        africastalking_username: DF.Data | None
        assistant_name: DF.Data | None
        brand_accent_colour: DF.Color | None
        brand_primary_colour: DF.Color | None
        chat_auto_launch_seconds: DF.Int
        chat_rate_limit_per_minute: DF.Int
        corebusiness_api_key: DF.Password | None
        corebusiness_base_url: DF.Data | None
        corebusiness_timeout_seconds: DF.Float
        database_url: DF.Data | None
        default_language: DF.Literal["en", "bem", "nya", "toi", "loz"]
        files_path: DF.Data | None
        gemini_api_key: DF.Password | None
        gemini_base_url: DF.Data | None
        gemini_model: DF.Data | None
        gemini_timeout_seconds: DF.Float
        graph_api_base_url: DF.Data | None
        intent_confidence_threshold: DF.Float
        logo_url: DF.Data | None
        make_com_api_key: DF.Password | None
        make_com_outbound_url: DF.Data | None
        make_com_webhook_secret: DF.Password | None
        messenger_app_secret: DF.Password | None
        messenger_page_access_token: DF.Password | None
        messenger_page_id: DF.Data | None
        messenger_verify_token: DF.Password | None
        messenger_via_make_com: DF.Check
        outbound_backoff_base_seconds: DF.Float
        outbound_backoff_max_seconds: DF.Float
        outbound_max_attempts: DF.Int
        outbound_read_timeout_seconds: DF.Float
        outbound_sending_timeout_seconds: DF.Int
        public_base_url: DF.Data | None
        redis_url: DF.Data | None
        session_idle_minutes: DF.Int
        otp_codes_per_15_minutes: DF.Int
        sms_callback_token: DF.Password | None
        sms_max_segments: DF.Int
        sms_provider: DF.Literal["africastalking", "twilio"]
        sms_sender_id: DF.Data | None
        staff_api_keys: DF.Password | None
        telegram_api_base_url: DF.Data | None
        telegram_bot_token: DF.Password | None
        telegram_secret_token: DF.Password | None
        telegram_via_make_com: DF.Check
        twilio_account_sid: DF.Data | None
        twilio_auth_token: DF.Password | None
        twilio_base_url: DF.Data | None
        twilio_from_number: DF.Data | None
        verification_secret: DF.Password | None
        webhook_ip_allowlist: DF.SmallText | None
        webhook_rate_limit_per_minute: DF.Int
        whatsapp_access_token: DF.Password | None
        whatsapp_app_secret: DF.Password | None
        whatsapp_phone_number_id: DF.Data | None
        whatsapp_template_language: DF.Data | None
        whatsapp_template_name: DF.Data | None
        whatsapp_verify_token: DF.Password | None
        whatsapp_via_make_com: DF.Check
    # end: auto-generated types

    def validate(self):
        for field in URL_FIELDS:
            value = (self.get(field) or "").strip()
            self.set(field, value)
            if value and not value.startswith(("https://", "http://")):
                frappe.throw(
                    _("{0} must start with https://").format(frappe.bold(self.meta.get_label(field)))
                )
        bad = allowlist_problems(self.webhook_ip_allowlist)
        if bad:
            frappe.throw(_("Not an IP address or CIDR range: {0}").format(", ".join(bad)))
        threshold = self.intent_confidence_threshold
        if threshold is not None and not (0 <= float(threshold) <= 1):
            frappe.throw(_("Intent Confidence Threshold must be between 0 and 1"))
        unreadable = business_hours.problems(
            self.business_hours, self.business_holidays, self.business_timezone
        )
        if unreadable:
            frappe.throw(
                _(
                    "Cannot read {0}: write hours like Mon-Fri 08:00-17:00, holidays like 2026-12-25 Christmas Day"
                ).format(", ".join(unreadable))
            )
        # Rate limits: 0 means "no limit" (as the engine reads them); never negative.
        for field in ("chat_rate_limit_per_minute", "webhook_rate_limit_per_minute"):
            if self.get(field) is not None and int(self.get(field)) < 0:
                frappe.throw(_("{0} must be 0 (no limit) or more").format(self.meta.get_label(field)))
        for field in (
            "session_idle_minutes",
            "outbound_max_attempts",
            "still_waiting_minutes",
            "handoff_give_up_minutes",
            "handoff_minutes_per_person",
            "csat_window_minutes",
        ):
            if self.get(field) is not None and int(self.get(field)) < 1:
                frappe.throw(_("{0} must be at least 1").format(self.meta.get_label(field)))
        for field in ("gemini_timeout_seconds", "corebusiness_timeout_seconds"):
            if self.get(field) is not None and float(self.get(field)) <= 0:
                frappe.throw(_("{0} must be more than 0").format(self.meta.get_label(field)))
        # Passwords become '*****' once saved (after validate), so changes are
        # found now and the audit entry written in on_update.
        self.flags.changed_fields = self.changed_fields()

    def changed_fields(self) -> list[str]:
        """Names (never values) of the fields this save changes."""
        before = self.get_doc_before_save()
        changed = []
        for df in self.meta.fields:
            if df.fieldtype in ("Section Break", "Column Break", "Tab Break"):
                continue
            value = self.get(df.fieldname)
            if df.fieldtype == "Password":
                had = bool(before and before.get(df.fieldname))
                if (value and not self.is_dummy_password(value)) or (had and not value):
                    changed.append(df.fieldname)
            elif before is None or (before.get(df.fieldname) or None) != (value or None):
                changed.append(df.fieldname)
        return changed

    def on_update(self):
        changed = self.flags.changed_fields or []
        if not changed:
            return
        from assistant_crm.runtime.frappe import call_engine, current_runtime

        call_engine(
            "assistant_crm.services.infra.audit.record",
            frappe.session.user,
            "settings.changed",
            "Assistant CRM Settings",
            {"fields": sorted(changed)},
        )
        # Engine parts that cache something derived from settings drop it.
        for hook in current_runtime().extras.get("on_settings_change", []):
            try:
                hook()
            except Exception:
                frappe.log_error(title="Assistant CRM settings hook failed")
