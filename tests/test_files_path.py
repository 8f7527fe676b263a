"""Uploaded files live in a data folder outside the source tree (setting ``files_path``)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import requests

from assistant_crm.services.delivery import attachments
from tests.support import set_settings
from tests.test_chat_api import _png, _upload
from tests.test_conversations import Visitor

ROOT = Path(__file__).resolve().parent.parent


def test_default_is_next_to_a_sqlite_file_outside_the_source_tree(tmp_path):
    assert (
        attachments.default_files_dir(f"sqlite:///{tmp_path}/demo.sqlite3") == tmp_path / "demo.sqlite3-files"
    )


def test_default_is_the_users_data_folder_for_a_database_in_the_source_tree(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    expected = tmp_path / "data" / "assistant-crm" / "files"
    # `make run`'s database, in the repository root (relative URL, run from there).
    monkeypatch.chdir(ROOT)
    assert attachments.default_files_dir("sqlite:///assistant_crm.sqlite3") == expected
    assert attachments.default_files_dir(f"sqlite:///{ROOT}/x.sqlite3") == expected
    assert attachments.default_files_dir("mysql+pymysql://root@127.0.0.1/crm") == expected
    assert attachments.default_files_dir("sqlite:///:memory:") == expected


def test_files_path_setting_wins_and_the_upload_is_served_from_there(rt, server, tmp_path):
    folder = tmp_path / "uploads"
    set_settings(rt, files_path=str(folder))
    v = Visitor(server)
    v.send("hello")
    png = _png()
    r = _upload(server, v.session_id, "form.png", png, "image/png")
    assert r.status_code == 200, r.text
    url = r.json()["message"]["file_url"]
    stored = list(folder.rglob("*-form.png"))
    assert len(stored) == 1 and stored[0].read_bytes() == png
    got = requests.get(server + url, timeout=10)
    assert got.status_code == 200 and got.content == png
    assert not (ROOT / "files").exists() or not list((ROOT / "files").rglob("*-form.png"))


def test_without_settings_the_upload_lands_next_to_the_database(rt, server, tmp_path, monkeypatch):
    monkeypatch.delenv("ASSISTANT_CRM_FILES_DIR", raising=False)
    v = Visitor(server)
    v.send("hello")
    r = _upload(server, v.session_id, "scan.png", _png(), "image/png")
    assert r.status_code == 200, r.text
    db_file = Path(rt.extras["database_url"][len("sqlite:///") :])
    assert list((db_file.parent / f"{db_file.name}-files").rglob("*-scan.png"))


def test_git_ignores_every_runtime_output():
    outputs = [
        "files/assistant_crm/s1/abc-form.png",
        "assistant_crm.sqlite3",
        "assistant_crm.sqlite3-wal",
        "assistant_crm.sqlite3-files/assistant_crm/s/a.png",
        "test-artefacts/screenshots/x.png",
        ".venv/bin/python",
        "serve.log",
        "config.json",
        ".pytest_cache/v/x",
        "benchmarks/results/x.json",
    ]
    r = subprocess.run(
        ["git", "check-ignore", "--no-index", *outputs], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert sorted(r.stdout.split()) == sorted(outputs), r.stderr
    # And the repository itself holds none of them.
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert not [p for p in tracked.split() if p.endswith((".sqlite3", ".log")) or p.startswith("files/")]
