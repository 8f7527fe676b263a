"""The "logout" everywhere: a person's sign-out ends their verification in every session.

:func:`mark` keeps, in the runtime cache, when a person last signed out; a
session verified before that moment is no longer verified (:func:`ended`),
whatever its own stored state says. The gate also ends each such session in
the store at once (``gate.logout``); the mark covers a session that was in the
middle of a turn then and would otherwise save its old verified state back.

The mark lives twice the idle limit: a session idle for longer has lost its
verification anyway, and an active one has read the mark at its next turn.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime

from assistant_crm.services.infra.ports import get_runtime

log = logging.getLogger("assistant_crm.verification")


def _key(person_id: str) -> str:
    return "acrm:signout:" + hashlib.sha256(f"person:{person_id}".encode()).hexdigest()[:40]


def _idle_seconds() -> int:
    return max(1, get_runtime().settings.int("session_idle_minutes")) * 60


def mark(person_id: str, now: datetime) -> None:
    """``person_id`` signed out at ``now``: verifications made before end everywhere."""
    if person_id:
        get_runtime().cache.set(_key(person_id), now.timestamp(), ttl=2 * _idle_seconds())


def ended(person_id: str | None, verified_at: datetime | None) -> bool:
    """Whether the person signed out (anywhere) after this verification was made."""
    if not person_id:
        return False
    try:
        at = get_runtime().cache.get(_key(person_id))
    except Exception:  # noqa: BLE001 - a cache hiccup must not break the turn; the store was updated too
        log.warning("could not read the sign-out mark", exc_info=True)
        return False
    if at in (None, ""):
        return False
    if verified_at is None:
        return True
    try:
        return verified_at.timestamp() <= float(at)
    except (TypeError, ValueError):
        return False
