"""Typed access to the fields of the Single DocType ``Assistant CRM Settings``.

The field list and defaults come from the DocType JSON, so both runtimes share
one definition. A runtime supplies a :class:`~assistant_crm.services.infra.ports.SettingsSource`
(Frappe's Single DocType, or environment + JSON file in standalone).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from assistant_crm.services.infra.ports import SettingsSource

SETTINGS_DOCTYPE = "Assistant CRM Settings"
_JSON = (
    Path(__file__).resolve().parents[2]
    / "assistant_crm"
    / "doctype"
    / "assistant_crm_settings"
    / "assistant_crm_settings.json"
)
_NON_VALUE_TYPES = {"Section Break", "Column Break", "Tab Break", "HTML", "Button", "Heading"}


@functools.lru_cache(maxsize=1)
def settings_fields() -> dict[str, dict[str, Any]]:
    """fieldname -> field definition, for every value field of the Settings DocType."""
    doc = json.loads(_JSON.read_text())
    return {f["fieldname"]: f for f in doc["fields"] if f["fieldtype"] not in _NON_VALUE_TYPES}


def secret_fields() -> set[str]:
    return {name for name, f in settings_fields().items() if f["fieldtype"] == "Password"}


class Settings:
    """Reads settings with defaults and types; never logs secret values."""

    def __init__(self, source: SettingsSource):
        self._source = source

    def raw(self, fieldname: str) -> Any | None:
        if fieldname not in settings_fields():
            raise KeyError(f"Unknown setting {fieldname!r}")
        value = self._source.get(fieldname)
        if value in (None, ""):
            default = settings_fields()[fieldname].get("default")
            return default if default not in (None, "") else None
        return value

    def get(self, fieldname: str, default: Any = None) -> Any:
        value = self.raw(fieldname)
        return default if value is None else value

    def str(self, fieldname: str, default: str = "") -> str:
        value = self.raw(fieldname)
        return default if value is None else str(value).strip()

    def int(self, fieldname: str, default: int = 0) -> int:
        value = self.raw(fieldname)
        try:
            return default if value is None else int(float(value))
        except (TypeError, ValueError):
            return default

    def float(self, fieldname: str, default: float = 0.0) -> float:
        value = self.raw(fieldname)
        try:
            return default if value is None else float(value)
        except (TypeError, ValueError):
            return default

    def bool(self, fieldname: str, default: bool = False) -> bool:
        value = self.raw(fieldname)
        if value is None:
            return default
        if isinstance(value, str):
            return value.strip().lower() in ("1", "true", "yes", "on")
        return bool(value)

    def is_set(self, fieldname: str) -> bool:
        return self.raw(fieldname) not in (None, "")

    def __repr__(self) -> str:  # never print secrets
        return f"<Settings source={type(self._source).__name__}>"


class DictSettingsSource:
    """Settings from a plain mapping (tests, and the base of the standalone source)."""

    def __init__(self, values: dict[str, Any] | None = None):
        self.values = dict(values or {})

    def get(self, fieldname: str) -> Any | None:
        return self.values.get(fieldname)
