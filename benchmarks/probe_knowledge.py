"""Score a knowledge probe end to end: each question opens a new web chat on a fresh `serve`.

A reply counts when it carries one of the question's ``expect_any`` substrings
(``facts`` in ``tests/data/knowledge_questions.jsonl``, the development set).
A miss is printed with the intent and the policy rule that answered it.
Usage: python benchmarks/probe_knowledge.py PROBE.jsonl [--exe PATH-TO-assistant-crm] [--set NAME]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import requests


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serving(exe: str) -> Iterator[str]:
    """A fresh ``assistant-crm serve`` on a new SQLite file and a free port; yields the API base URL."""
    port, workdir = _free_port(), tempfile.mkdtemp()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_CRM_")}
    env.update(ASSISTANT_CRM_FILES_PATH=workdir, ASSISTANT_CRM_CHAT_RATE_LIMIT_PER_MINUTE="0")
    cmd = [exe, "serve", "--host", "127.0.0.1", "--port", str(port), "--db", f"sqlite:///{workdir}/k.sqlite3"]
    base = f"http://127.0.0.1:{port}/api/method"
    with open(f"{workdir}/serve.log", "w") as log:
        server = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        for _ in range(240):
            try:
                requests.get(f"{base}/ping", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.5)
        yield base
    finally:
        server.terminate()
        server.wait(10)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("probe", type=Path)
    ap.add_argument("--exe", default=str(Path(sys.executable).with_name("assistant-crm")))
    ap.add_argument("--set", default=None, help="only the rows whose field 'set' has this value")
    args = ap.parse_args()
    rows = [json.loads(line) for line in args.probe.read_text().splitlines() if line.strip()]
    rows = [r for r in rows if args.set is None or r.get("set") == args.set]
    hits = 0
    with serving(args.exe) as base:
        for r in rows:
            answer = requests.post(
                f"{base}/assistant_crm.api.chat.send_message", json={"message": r["question"]}, timeout=30
            ).json()["message"]
            reply = answer.get("reply", "")
            expected = r.get("expect_any") or r.get("facts") or []
            if any(e.lower() in reply.lower() for e in expected):
                hits += 1
            else:
                policy = (answer.get("metadata") or {}).get("policy")
                print(f"  MISS [{answer.get('intent')} / {policy}] {r['question']}\n      -> {reply[:160]!r}")
    print(f"knowledge facts {hits}/{len(rows)} = {hits / len(rows):.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
