"""Loads the shipped fixtures (Intent Definitions, Knowledge Base Articles,
Response Templates) into the store.

Frappe installs ``fixtures/*.json`` itself; the standalone runtime calls
:func:`ensure_seeded` on a new database and :func:`seed` from ``seed-demo``.
Seeding is idempotent: a row is matched by its ``name``, so running it twice
changes nothing, and rows an administrator added or edited are kept unless
``force=True`` asks to put the fixture's values back.
"""

from __future__ import annotations

import functools
import json
import logging
from pathlib import Path
from typing import Any

from assistant_crm.services.infra.errors import AppError, DuplicateError
from assistant_crm.services.infra.ports import Store, get_runtime

log = logging.getLogger("assistant_crm.seed")

PACKAGE_DIR = Path(__file__).resolve().parents[2]
FIXTURES_DIR = PACKAGE_DIR / "fixtures"
DOCTYPE_DIR = PACKAGE_DIR / "assistant_crm" / "doctype"

# Order matters: Response Templates link to Intent Definitions.
FIXTURES: tuple[tuple[str, str], ...] = (
    ("Intent Definition", "intent_definition.json"),
    ("Knowledge Base Article", "knowledge_base_article.json"),
    ("Response Template", "response_template.json"),
    ("Canned Response", "canned_response.json"),
)
_NON_VALUE_TYPES = {"Section Break", "Column Break", "Tab Break", "HTML", "Button", "Heading"}


@functools.cache
def _fieldnames(doctype: str) -> frozenset[str]:
    """Value fields of a DocType, read from its JSON (the one schema)."""
    folder = doctype.lower().replace(" ", "_")
    doc = json.loads((DOCTYPE_DIR / folder / f"{folder}.json").read_text())
    return frozenset(f["fieldname"] for f in doc["fields"] if f["fieldtype"] not in _NON_VALUE_TYPES)


def load_fixture(doctype: str, path: Path) -> list[dict[str, Any]]:
    """The docs of one fixtures file that belong to ``doctype``, reduced to its
    fields plus ``name``. A missing file gives an empty list."""
    if not path.exists():
        log.warning("seed: fixtures file %s not found; %s not seeded", path.name, doctype)
        return []
    docs = json.loads(path.read_text(encoding="utf-8"))
    fields = _fieldnames(doctype)
    out = []
    for doc in docs:
        if doc.get("doctype", doctype) != doctype or not doc.get("name"):
            log.warning("seed: skipping a doc without name or of another doctype in %s", path.name)
            continue
        values = {"name": doc["name"]}
        for key, value in doc.items():
            if key in fields:
                # Frappe text fields hold strings; accept lists for one-per-line fields.
                values[key] = "\n".join(map(str, value)) if isinstance(value, list) else value
        out.append(values)
    return out


def seed(store: Store | None = None, *, force: bool = False) -> dict[str, int]:
    """Insert the fixture rows missing from the store (``force``: also reset
    existing ones to the fixture's values). Returns the number of rows of each
    seeded DocType in the store afterwards."""
    store = store or get_runtime().store
    counts: dict[str, int] = {}
    changed: set[str] = set()
    for doctype, filename in FIXTURES:
        docs = load_fixture(doctype, FIXTURES_DIR / filename)
        existing = {r["name"] for r in store.list(doctype, fields=["name"])} if docs else set()
        inserted = updated = failed = 0
        for values in docs:
            name = values["name"]
            try:
                if name not in existing:
                    store.insert(doctype, values)
                    inserted += 1
                elif force:
                    store.update(doctype, name, {k: v for k, v in values.items() if k != "name"})
                    updated += 1
            except DuplicateError:
                pass  # another process seeded it at the same moment
            except AppError as e:
                # A bad fixture row must not stop the rest from loading.
                failed += 1
                log.error("seed: %s %r not loaded: %s", doctype, name, e.message)
        store.commit()
        if inserted or updated:
            changed.add(doctype)
        counts[doctype] = store.count(doctype)
        log.info(
            "seed: %s inserted=%d updated=%d failed=%d total=%d",
            doctype,
            inserted,
            updated,
            failed,
            counts[doctype],
        )
    _invalidate_caches(changed)
    return counts


def ensure_seeded(store: Store | None = None) -> dict[str, int] | None:
    """Seed a new database (no Intent Definitions yet); otherwise do nothing.
    Returns the counts when it seeded."""
    store = store or get_runtime().store
    if store.count("Intent Definition") > 0:
        return None
    return seed(store)


def _invalidate_caches(changed: set[str]) -> None:
    """Seeded rows must be seen at once by the in-process caches; a seed that
    changed nothing leaves them (and the trained classifier) alone."""
    from assistant_crm.services.pipeline import knowledge, templates

    if "Knowledge Base Article" in changed:
        knowledge.invalidate()
    if "Response Template" in changed:
        templates.invalidate()
    if "Intent Definition" not in changed:
        return
    try:
        from assistant_crm.services.pipeline import intents
    except ImportError:
        return
    reload = getattr(intents, "reload", None)
    if callable(reload):
        try:
            reload()
        except Exception:  # the classifier rebuilds itself on next use anyway
            log.warning("seed: intents.reload() failed", exc_info=True)
