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
    """Reads settings by name, typed; the default is the DocType field's own.

    Call sites give no second default: ``settings.int("outbound_max_attempts")``.
    A value that does not parse as the asked type falls back to the field's
    default (and that to the type's zero). Never logs secret values.
    """

    def __init__(self, source: SettingsSource):
        self._source = source

    def raw(self, fieldname: str) -> Any | None:
        """The stored value, else the DocType default, else None."""
        if fieldname not in settings_fields():
            raise KeyError(f"Unknown setting {fieldname!r}")
        value = self._source.get(fieldname)
        if value in (None, ""):
            return _default(fieldname)
        return value

    def get(self, fieldname: str) -> Any:
        return self.raw(fieldname)

    def str(self, fieldname: str) -> str:
        value = self.raw(fieldname)
        return "" if value is None else str(value).strip()

    def int(self, fieldname: str) -> int:
        return int(self._number(fieldname))

    def float(self, fieldname: str) -> float:
        return self._number(fieldname)

    def bool(self, fieldname: str) -> bool:
        value = self.raw(fieldname)
        if isinstance(value, str):
            return value.strip().lower() in ("1", "true", "yes", "on")
        return bool(value)

    def is_set(self, fieldname: str) -> bool:
        return self.raw(fieldname) not in (None, "")

    def _number(self, fieldname: str) -> float:
        for value in (self.raw(fieldname), _default(fieldname)):
            try:
                return 0.0 if value is None else float(value)
            except (TypeError, ValueError):
                continue
        return 0.0

    def __repr__(self) -> str:  # never print secrets
        return f"<Settings source={type(self._source).__name__}>"


def _default(fieldname: str) -> Any | None:
    default = settings_fields()[fieldname].get("default")
    return default if default not in (None, "") else None
