"""Seeding the fixtures into the store (services/seed.py)."""

from __future__ import annotations

import json
from pathlib import Path

from assistant_crm.services.infra import seed
from assistant_crm.services.pipeline import knowledge, templates

FIXTURES = Path(seed.FIXTURES_DIR)
KB = "Knowledge Base Article"


def _fixture_count(filename: str) -> int:
    path = FIXTURES / filename
    return len(json.loads(path.read_text(encoding="utf-8"))) if path.exists() else 0


def test_new_runtime_is_seeded_with_every_fixture(rt):
    # The rt fixture's runtime ran ensure_seeded() on its new database.
    for doctype, filename in seed.FIXTURES:
        assert rt.store.count(doctype) == _fixture_count(filename), doctype
    assert rt.store.count(KB) >= 30
    row = rt.store.get(KB, "minimum-pension")
    assert row["published"] == 1 and "K400" in row["body"] and row["source"]


def test_seed_is_idempotent(rt):
    first = seed.seed(rt.store)
    second = seed.seed()
    assert first == second
    assert first[KB] == _fixture_count("knowledge_base_article.json")
    assert first["Response Template"] == _fixture_count("response_template.json")
    assert seed.ensure_seeded() is None  # already seeded: nothing to do


def test_seed_keeps_edits_unless_forced(rt):
    rt.store.update(KB, "funeral-grant", {"title": "Edited by an administrator"})
    rt.store.delete(KB, "minimum-pension")
    counts = seed.seed()
    assert counts[KB] == _fixture_count("knowledge_base_article.json")  # the deleted one is back
    assert rt.store.get(KB, "funeral-grant")["title"] == "Edited by an administrator"
    assert "K400" in knowledge.best("minimum pension").text  # caches were invalidated

    seed.seed(force=True)
    assert rt.store.get(KB, "funeral-grant")["title"] == "Funeral grant"


def test_force_restores_templates_and_drops_caches(rt):
    row = rt.store.get_by("Response Template", {"template_key": "logout", "language": "en", "channel": "all"})
    rt.store.update("Response Template", row["name"], {"body": "Bye for now."})
    templates.invalidate()
    assert templates.render("logout").text == "Bye for now."
    seed.seed(force=True)
    assert templates.render("logout").text.startswith("You're signed out everywhere")


def test_ensure_seeded_on_an_empty_database(rt):
    for doctype, _ in seed.FIXTURES:
        for r in rt.store.list(doctype, fields=["name"]):
            rt.store.delete(doctype, r["name"])
    counts = seed.ensure_seeded()
    assert counts is not None and counts[KB] == _fixture_count("knowledge_base_article.json")


def test_a_bad_row_does_not_stop_the_others(rt, tmp_path, monkeypatch, caplog):
    good = {
        "doctype": KB,
        "name": "good-one",
        "title": "Good",
        "slug": "good-one",
        "category": "General",
        "language": "en",
        "published": 1,
        "keywords": "k",
        "source": "s",
        "body": "<p>Fine.</p>",
    }
    bad = dict(good, name="bad-one", slug="bad-one", category="Not A Category")
    no_name = dict(good, name="")
    (tmp_path / "knowledge_base_article.json").write_text(json.dumps([bad, no_name, good]))
    monkeypatch.setattr(seed, "FIXTURES_DIR", tmp_path)  # only this fixtures file exists there
    seed.seed()
    assert rt.store.get(KB, "good-one") is not None
    assert rt.store.get(KB, "bad-one") is None
    assert "bad-one" in caplog.text and "not found" in caplog.text  # the missing files are reported


def test_load_fixture_keeps_only_doctype_fields(tmp_path):
    path = tmp_path / "f.json"
    path.write_text(
        json.dumps(
            [
                {
                    "doctype": KB,
                    "name": "x",
                    "title": "T",
                    "modified": "2020-01-01",
                    "bogus": 1,
                    "keywords": ["a", "b"],
                }
            ]
        )
    )
    assert seed.load_fixture(KB, path) == [{"name": "x", "title": "T", "keywords": "a\nb"}]
    assert seed.load_fixture(KB, tmp_path / "missing.json") == []
