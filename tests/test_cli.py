"""The ``assistant-crm`` command, run as a real process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import requests

from tests.support import free_port

CLI = [sys.executable, "-m", "assistant_crm.standalone.cli"]


def run(args, env=None, timeout=120, **kw):
    e = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_CRM_")}
    e.update(env or {})
    return subprocess.run(CLI + args, capture_output=True, text=True, timeout=timeout, env=e, **kw)


def serve(tmp_path, port: int) -> subprocess.Popen:
    """``assistant-crm serve`` on a fresh SQLite file, output (stdout and stderr) in ``proc.stdout``."""
    return subprocess.Popen(
        CLI + ["serve", "--db", f"sqlite:///{tmp_path / 'x.sqlite3'}", "--port", str(port)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_CRM_")},
    )


def test_serve_with_unreachable_database_exits_with_one_clear_line(tmp_path):
    port = free_port()
    r = run(
        ["serve", "--db", f"mysql+pymysql://root@127.0.0.1:{port}/nothing", "--port", str(free_port())],
        cwd=tmp_path,
    )
    assert r.returncode != 0
    assert "Traceback" not in r.stderr
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("assistant-crm: error: cannot connect to the database")


def test_serve_with_bad_config_file_exits_cleanly(tmp_path):
    cfg = tmp_path / "c.json"
    cfg.write_text("{oops")
    r = run(["serve", "--db", f"sqlite:///{tmp_path / 'x.sqlite3'}", "--config", str(cfg)], cwd=tmp_path)
    assert r.returncode == 2 and "not valid JSON" in r.stderr and "Traceback" not in r.stderr


def test_serve_answers_ping(tmp_path):
    port = free_port()
    proc = serve(tmp_path, port)
    try:
        body = None
        for _ in range(150):
            try:
                body = requests.get(f"http://127.0.0.1:{port}/api/method/ping", timeout=1).json()
                break
            except requests.ConnectionError:
                time.sleep(0.2)
        assert body == {"message": "pong"}
    finally:
        proc.terminate()
        proc.wait(10)


def test_import_kb_markdown_and_json(tmp_path):
    kb = tmp_path / "kb"
    kb.mkdir()
    (kb / "night-shifts.md").write_text(
        "# Night shift injuries\nCategory: Claims\nSource: test\n\nInjuries on night shifts are covered.\n"
    )
    (kb / "more.json").write_text(json.dumps([{"title": "Second", "body": "Body two", "source": "s"}]))
    db = f"sqlite:///{tmp_path / 'kb.sqlite3'}"
    r = run(["import-kb", str(kb), "--db", db, "-q"], cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "imported 2 articles (2 new, 0 updated)" in r.stdout
    r = run(["import-kb", str(kb), "--db", db, "-q"], cwd=tmp_path)
    assert "(0 new, 2 updated)" in r.stdout


def test_import_kb_bad_input(tmp_path):
    bad = tmp_path / "bad.md"
    bad.write_text("no title here\n")
    r = run(["import-kb", str(bad), "--db", f"sqlite:///{tmp_path / 'k.sqlite3'}"], cwd=tmp_path)
    assert r.returncode == 2 and "no '# Title' line" in r.stderr
    r = run(
        ["import-kb", str(tmp_path / "missing"), "--db", f"sqlite:///{tmp_path / 'k.sqlite3'}"], cwd=tmp_path
    )
    assert r.returncode == 2 and "no such file" in r.stderr


def test_doctor_reports_each_service(tmp_path):
    r = run(
        ["doctor", "--db", f"sqlite:///{tmp_path / 'd.sqlite3'}"],
        env={
            "ASSISTANT_CRM_COREBUSINESS_API_KEY": "k",
            "ASSISTANT_CRM_COREBUSINESS_BASE_URL": f"http://127.0.0.1:{free_port()}",
        },
        cwd=tmp_path,
    )
    out = r.stdout
    assert "runtime: standalone" in out and "database: ok" in out and "cache: ok in-process" in out
    assert "Gemini: not configured" in out
    assert "CoreBusiness: unreachable" in out
    # The circuit breakers, as the servers left them (none has run here).
    assert "CoreBusiness circuit: closed" in out and "Gemini circuit: off" in out
    assert r.returncode == 1
    assert "k\n" not in out


def test_access_log_never_shows_query_strings(tmp_path):
    port = free_port()
    proc = serve(tmp_path, port)
    try:
        for _ in range(150):
            try:
                requests.get(f"http://127.0.0.1:{port}/api/method/ping?token=s3cret-token-value", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.2)
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
    assert '"GET /api/method/ping" 200' in out
    assert "s3cret-token-value" not in out
