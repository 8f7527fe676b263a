"""Runs every ``benchmarks/bench_*.py`` and prints one JSON document of their figures.

Each benchmark is a script that prints a JSON object on its last line of
stdout. Pass names to run a subset: ``python benchmarks/run.py intents turn``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def run(script: Path, timeout: int = 900) -> dict:
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, str(script)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**__import__("os").environ, "PYTHONPATH": str(ROOT)},
    )
    lines = [line for line in proc.stdout.strip().splitlines() if line.strip().startswith("{")]
    result: dict = {"seconds": round(time.monotonic() - started, 1)}
    if proc.returncode != 0 or not lines:
        result["error"] = (proc.stderr.strip().splitlines() or ["no JSON output"])[-1]
        return result
    result.update(json.loads(lines[-1]))
    return result


def main(argv: list[str]) -> int:
    wanted = set(argv)
    report = {}
    for script in sorted(HERE.glob("bench_*.py")):
        name = script.stem[len("bench_") :]
        if wanted and name not in wanted:
            continue
        print(f"running {name} ...", file=sys.stderr, flush=True)
        report[name] = run(script)
    print(json.dumps(report, indent=2))
    return 1 if any("error" in r for r in report.values()) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
