"""Measure the chat bubble's JS + CSS as a browser downloads them (gzipped).

Usage: ``python tools/bundle_size.py [--limit BYTES]`` prints JSON figures and
exits 1 when the gzipped total is over the limit (20 KB by default).
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUNDLE = [
    ROOT / "assistant_crm/public/js/chat_bubble.js",
    ROOT / "assistant_crm/public/css/chat_bubble.css",
]
LIMIT = 20 * 1024


def measure(paths: list[Path] | None = None) -> dict:
    """Raw and gzipped (level 9, as a web server would send) size of each file and in total."""
    files = {}
    for p in paths or BUNDLE:
        data = p.read_bytes()
        files[str(p.relative_to(ROOT))] = {"raw": len(data), "gzip": len(gzip.compress(data, 9, mtime=0))}
    return {
        "files": files,
        "total_raw": sum(f["raw"] for f in files.values()),
        "total_gzip": sum(f["gzip"] for f in files.values()),
        "limit_gzip": LIMIT,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=LIMIT, help="gzipped byte budget (default 20480)")
    args = ap.parse_args(argv)
    figures = measure()
    figures["limit_gzip"] = args.limit
    figures["within_limit"] = figures["total_gzip"] <= args.limit
    print(json.dumps(figures, indent=2))
    return 0 if figures["within_limit"] else 1


if __name__ == "__main__":
    sys.exit(main())
