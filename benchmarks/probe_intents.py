"""Score an intent probe set through `assistant-crm classify` (accuracy, recall per intent and language).

Usage: python benchmarks/probe_intents.py PROBE.jsonl [--exe PATH-TO-assistant-crm]
"""

from __future__ import annotations

import argparse
import collections
import json
import subprocess
import sys
from pathlib import Path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("probe", type=Path)
    ap.add_argument("--exe", default=str(Path(sys.executable).with_name("assistant-crm")))
    args = ap.parse_args()
    rows = [json.loads(line) for line in args.probe.read_text().splitlines() if line.strip()]
    text = "\n".join(r["text"].replace("\n", " ") for r in rows) + "\n"
    out = subprocess.run([args.exe, "classify"], input=text, capture_output=True, text=True, check=True)
    preds = [json.loads(line)["intent"] for line in out.stdout.splitlines()]
    assert len(preds) == len(rows), (len(preds), len(rows))
    hits = sum(p == r["intent"] for p, r in zip(preds, rows, strict=True))
    print(f"accuracy {hits}/{len(rows)} = {hits / len(rows):.3f}")
    for key in ("intent", "lang"):
        tally: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0])
        for p, r in zip(preds, rows, strict=True):
            tally[r.get(key, "?")][0] += p == r["intent"]
            tally[r.get(key, "?")][1] += 1
        for name, (a, b) in sorted(tally.items()):
            print(f"  {key} {name:24s} {a}/{b} = {a / b:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
