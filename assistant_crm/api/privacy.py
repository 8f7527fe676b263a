"""A person's data on request (managers only): export it, or erase it.

``POST export_person`` (``person``) answers everything kept about the person;
``POST erase_person`` (``person``, ``confirm`` = the same id) replaces it and
logs the erasure in the audit chain. Desk: buttons on the Assistant Audit Log
list; standalone: ``assistant-crm privacy export|erase --person ID``.
"""

from __future__ import annotations

import logging
from typing import Any

from assistant_crm.api.endpoint import ROLE_MANAGER, endpoint
from assistant_crm.services.infra import privacy
from assistant_crm.services.infra.errors import ValidationError

log = logging.getLogger("assistant_crm.api.privacy")


@endpoint(methods=("POST",), roles=(ROLE_MANAGER, "System Manager"))
def export_person(person: Any = None) -> dict[str, Any]:
    """Everything kept about ``person`` (a CoreBusiness person id); 404 when nothing is."""
    return privacy.export_person(person)


@endpoint(methods=("POST",), roles=(ROLE_MANAGER, "System Manager"))
def erase_person(person: Any = None, confirm: Any = None) -> dict[str, Any]:
    """Erase ``person``'s conversations (``confirm`` must repeat the id)."""
    if not isinstance(confirm, str) or not isinstance(person, str) or confirm.strip() != person.strip():
        log.info("privacy erase refused: confirmation does not match")
        raise ValidationError("confirm must repeat the person id", field="confirm")
    result = privacy.erase_person(person, actor="staff")
    return {"status": "erased", "summary": result.summary()}
