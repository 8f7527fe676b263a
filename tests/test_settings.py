"""Settings: environment over file over default; secrets never printed."""

from __future__ import annotations

import json

import pytest

from assistant_crm.runtime.standalone import ConfigError, StandaloneSettingsSource
from assistant_crm.services.infra.settings import Settings, secret_fields, settings_fields

DESIGN_FIELDS = """gemini_api_key gemini_model gemini_base_url gemini_timeout_seconds corebusiness_base_url
corebusiness_api_key corebusiness_timeout_seconds make_com_api_key make_com_webhook_secret make_com_outbound_url
whatsapp_app_secret whatsapp_verify_token whatsapp_access_token whatsapp_phone_number_id whatsapp_via_make_com
messenger_app_secret messenger_verify_token messenger_page_access_token messenger_page_id messenger_via_make_com
graph_api_base_url telegram_bot_token telegram_secret_token telegram_api_base_url telegram_via_make_com sms_provider
africastalking_username africastalking_api_key africastalking_base_url sms_sender_id sms_callback_token
twilio_account_sid twilio_auth_token twilio_from_number twilio_base_url chat_rate_limit_per_minute
webhook_ip_allowlist database_url redis_url""".split()


def test_every_design_field_exists():
    assert set(DESIGN_FIELDS) <= set(settings_fields())
    assert settings_fields()["graph_api_base_url"]["default"] == "https://graph.facebook.com/v23.0"


def test_secrets_are_password_fields():
    for f in (
        "gemini_api_key",
        "corebusiness_api_key",
        "make_com_api_key",
        "make_com_webhook_secret",
        "whatsapp_app_secret",
        "whatsapp_access_token",
        "telegram_bot_token",
        "twilio_auth_token",
        "africastalking_api_key",
        "sms_callback_token",
        "messenger_app_secret",
    ):
        assert f in secret_fields()


def test_precedence_environment_over_file_over_default(tmp_path):
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"gemini_model": "from-file", "corebusiness_timeout_seconds": 9}))
    s = Settings(StandaloneSettingsSource(cfg, environ={"ASSISTANT_CRM_GEMINI_MODEL": "from-env"}))
    assert s.str("gemini_model") == "from-env"
    assert s.float("corebusiness_timeout_seconds") == 9.0
    assert s.str("graph_api_base_url") == "https://graph.facebook.com/v23.0"
    assert s.int("chat_rate_limit_per_minute") == 30
    assert s.bool("whatsapp_via_make_com") is False
    s2 = Settings(StandaloneSettingsSource(cfg, environ={"ASSISTANT_CRM_WHATSAPP_VIA_MAKE_COM": "1"}))
    assert s2.bool("whatsapp_via_make_com") is True
    assert s2.str("gemini_model") == "from-file"


def test_bad_config_files_are_clear_errors(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        StandaloneSettingsSource(tmp_path / "missing.json", environ={})
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    with pytest.raises(ConfigError, match="not valid JSON"):
        StandaloneSettingsSource(bad, environ={})
    unknown = tmp_path / "unknown.json"
    unknown.write_text(json.dumps({"gemini_modle": "x"}))
    with pytest.raises(ConfigError, match="unknown settings: gemini_modle"):
        StandaloneSettingsSource(unknown, environ={})


def test_unknown_setting_name_is_refused_and_repr_hides_values():
    s = Settings(StandaloneSettingsSource(environ={"ASSISTANT_CRM_GEMINI_API_KEY": "sk-secret-123"}))
    with pytest.raises(KeyError):
        s.get("no_such_setting")
    assert "sk-secret-123" not in repr(s)
