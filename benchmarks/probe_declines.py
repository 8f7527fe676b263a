"""The other side of the knowledge probe: messages labelled out_of_scope must not
be answered with a knowledge-base passage.

Each out_of_scope message of the given intent files (``{"text", "intent"}`` per
line) opens a new web chat on a fresh ``serve``; a reply that quotes a passage
(``metadata.kb_article``) is a false answer and is printed. ``--label
escalation`` checks complaints and requests for a person the same way.
Usage: python benchmarks/probe_declines.py FILE.jsonl [FILE.jsonl ...] [--label INTENT] [--exe PATH]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import requests
from probe_knowledge import serving  # (benchmarks/ is on the path when run as a script)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("files", type=Path, nargs="+")
    ap.add_argument("--exe", default=str(Path(sys.executable).with_name("assistant-crm")))
    ap.add_argument("--label", default="out_of_scope", help="the intent whose messages must get no passage")
    args = ap.parse_args()
    texts: list[str] = []
    for path in args.files:
        for line in path.read_text().splitlines():
            row = json.loads(line) if line.strip() else {}
            if row.get("intent") == args.label and row.get("text") not in texts:
                texts.append(row["text"])
    answered = 0
    with serving(args.exe) as base:
        for text in texts:
            answer = requests.post(
                f"{base}/assistant_crm.api.chat.send_message", json={"message": text}, timeout=30
            ).json()["message"]
            meta = answer.get("metadata") or {}
            if meta.get("kb_article"):
                answered += 1
                print(
                    f"  ANSWERED [{answer.get('intent')} / {meta.get('policy')}] {text}\n      -> {meta['kb_article']}"
                )
    print(
        f"{args.label} answered from the KB {answered}/{len(texts)}; not {len(texts) - answered}/{len(texts)}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
