"""The sandbox's credentials and the app settings that point every channel at it.

``serve --with-sandbox`` makes one :class:`World` per run (random secrets,
never written anywhere), starts the sandbox with it and gives the app
:func:`app_settings`. A group of settings the environment already configures
(a real WhatsApp number, say) is left alone: see :data:`GROUPS`.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from assistant_crm.sandbox.app_webhooks import AppSecrets

# The CoreBusiness sandbox keeps a fixed, documented key: it serves invented people only.
COREBUSINESS_KEY = "sandbox-key"
SMS_USERNAME = "sandbox"

# Setting groups: if any of a group's settings is set in the environment, the
# whole group stays as the environment says (no half-sandbox, half-real channel).
GROUPS: dict[str, tuple[str, ...]] = {
    "corebusiness": ("corebusiness_base_url", "corebusiness_api_key"),
    "sms": (
        "sms_provider",
        "africastalking_base_url",
        "africastalking_username",
        "africastalking_api_key",
        "sms_callback_token",
    ),
    "whatsapp": (
        "whatsapp_app_secret",
        "whatsapp_verify_token",
        "whatsapp_access_token",
        "whatsapp_phone_number_id",
    ),
    "messenger": (
        "messenger_app_secret",
        "messenger_verify_token",
        "messenger_page_access_token",
        "messenger_page_id",
    ),
    "graph": ("graph_api_base_url",),
    "telegram": ("telegram_bot_token", "telegram_secret_token", "telegram_api_base_url"),
    "make_com": ("make_com_api_key", "make_com_webhook_secret", "make_com_outbound_url"),
}


def _token(n: int = 24) -> str:
    return secrets.token_urlsafe(n)


@dataclass(frozen=True)
class DemoStaff:
    """A staff account of the demo console; its password is made for this run."""

    email: str
    role: str  # "agent" or "manager"
    full_name: str
    password: str


def demo_staff() -> tuple[DemoStaff, ...]:
    """The demo's agent and manager, with fresh passwords (``serve --with-sandbox`` sets them)."""
    return (
        DemoStaff("agent@demo.wcfcb.local", "agent", "Demo Agent", secrets.token_urlsafe(12)),
        DemoStaff("manager@demo.wcfcb.local", "manager", "Demo Manager", secrets.token_urlsafe(12)),
    )


@dataclass
class World:
    """Every credential the sandbox's platforms check or use, generated per run."""

    corebusiness_key: str = COREBUSINESS_KEY
    at_api_key: str = field(default_factory=_token)
    sms_callback_token: str = field(default_factory=_token)
    whatsapp_app_secret: str = field(default_factory=_token)
    whatsapp_verify_token: str = field(default_factory=_token)
    whatsapp_access_token: str = field(default_factory=lambda: "EAAG" + _token(32))
    whatsapp_phone_number_id: str = "106540352242922"
    messenger_app_secret: str = field(default_factory=_token)
    messenger_verify_token: str = field(default_factory=_token)
    messenger_page_token: str = field(default_factory=lambda: "EAAB" + _token(32))
    messenger_page_id: str = "1234567890123"
    telegram_bot_token: str = field(default_factory=lambda: f"7{secrets.randbelow(10**9):09d}:{_token(26)}")
    telegram_secret_token: str = field(default_factory=lambda: secrets.token_hex(20))
    make_com_api_key: str = field(default_factory=_token)
    make_com_webhook_secret: str = field(default_factory=_token)
    # Staff accounts shown on the front page; only `serve --with-sandbox` makes them,
    # since only it has the app's database to put them in.
    staff: tuple[DemoStaff, ...] = ()

    def app_secrets(self) -> AppSecrets:
        return AppSecrets(
            whatsapp_app_secret=self.whatsapp_app_secret,
            whatsapp_phone_number_id=self.whatsapp_phone_number_id,
            messenger_app_secret=self.messenger_app_secret,
            messenger_page_id=self.messenger_page_id,
            telegram_secret_token=self.telegram_secret_token,
            sms_callback_token=self.sms_callback_token,
            make_com_api_key=self.make_com_api_key,
            make_com_webhook_secret=self.make_com_webhook_secret,
        )


def app_settings(world: World, sandbox_url: str) -> dict[str, dict[str, str]]:
    """The app settings, per group of :data:`GROUPS`, that make the sandbox the outside world."""
    base = sandbox_url.rstrip("/")
    return {
        "corebusiness": {"corebusiness_base_url": base, "corebusiness_api_key": world.corebusiness_key},
        "sms": {
            "sms_provider": "africastalking",
            "africastalking_base_url": base,
            "africastalking_username": SMS_USERNAME,
            "africastalking_api_key": world.at_api_key,
            "sms_callback_token": world.sms_callback_token,
        },
        "whatsapp": {
            "whatsapp_app_secret": world.whatsapp_app_secret,
            "whatsapp_verify_token": world.whatsapp_verify_token,
            "whatsapp_access_token": world.whatsapp_access_token,
            "whatsapp_phone_number_id": world.whatsapp_phone_number_id,
        },
        "messenger": {
            "messenger_app_secret": world.messenger_app_secret,
            "messenger_verify_token": world.messenger_verify_token,
            "messenger_page_access_token": world.messenger_page_token,
            "messenger_page_id": world.messenger_page_id,
        },
        "graph": {"graph_api_base_url": f"{base}/graph/v23.0"},
        "telegram": {
            "telegram_bot_token": world.telegram_bot_token,
            "telegram_secret_token": world.telegram_secret_token,
            "telegram_api_base_url": f"{base}/telegram",
        },
        "make_com": {
            "make_com_api_key": world.make_com_api_key,
            "make_com_webhook_secret": world.make_com_webhook_secret,
            "make_com_outbound_url": f"{base}/make/relay",
        },
    }


def overrides_for(world: World, sandbox_url: str, configured: set[str]) -> tuple[dict[str, str], list[str]]:
    """(settings to apply, names of the groups left to the environment) given the
    names of settings already ``configured`` outside the sandbox."""
    out: dict[str, str] = {}
    kept: list[str] = []
    for group, values in app_settings(world, sandbox_url).items():
        if configured & set(GROUPS[group]):
            kept.append(group)
            continue
        out.update(values)
    return out, kept
