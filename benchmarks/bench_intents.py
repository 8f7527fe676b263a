"""Intent classifier quality and speed on the labelled dev set (evaluation only).

Run from the repository root::

    .venv/bin/python benchmarks/bench_intents.py

The dev set is ``../shared/data/intents_dev.jsonl`` relative to the repository
root, or the file named by ``ASSISTANT_CRM_DEV_SET``. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assistant_crm.services.pipeline import intents  # noqa: E402


def dev_set_path() -> Path:
    """Where the dev set is: ``ASSISTANT_CRM_DEV_SET`` or ``../shared/data/intents_dev.jsonl``."""
    env = os.environ.get("ASSISTANT_CRM_DEV_SET")
    return Path(env) if env else (ROOT.parent / "shared" / "data" / "intents_dev.jsonl")


def load_dev(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def new_process_load() -> dict:
    """A fresh interpreter (as a new worker is): time to import the module and load the cached model."""
    script = (
        "import json, time\n"
        "t0, c0 = time.perf_counter(), time.process_time()\n"
        "from assistant_crm.services.pipeline import intents\n"
        "t1, c1 = time.perf_counter(), time.process_time()\n"
        "intents.warm_up()\n"
        "t2, c2 = time.perf_counter(), time.process_time()\n"
        "print(json.dumps({'import_ms': round((t1 - t0) * 1000, 1), 'load_ms': round((t2 - t1) * 1000, 1),"
        " 'import_cpu_ms': round((c1 - c0) * 1000, 1), 'load_cpu_ms': round((c2 - c1) * 1000, 1),"
        " 'origin': intents._get_model().origin}))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def new_process_training() -> dict:
    """A fresh interpreter with an empty model cache (a cold start): import, then train at first use."""
    script = (
        "import json, os, tempfile, time\n"
        f"os.environ[{intents.MODEL_CACHE_ENV!r}] = tempfile.mkdtemp()\n"
        "t0, c0 = time.perf_counter(), time.process_time()\n"
        "from assistant_crm.services.pipeline import intents\n"
        "t1, c1 = time.perf_counter(), time.process_time()\n"
        "intents.warm_up()\n"
        "t2, c2 = time.perf_counter(), time.process_time()\n"
        "assert intents._get_model().origin == 'trained'\n"
        "print(json.dumps({'import_cpu_ms': round((c1 - c0) * 1000, 1), 'train_cpu_ms': round((c2 - c1) * 1000, 1),"
        " 'train_wall_ms': round((t2 - t1) * 1000, 1)}))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def evaluate(rows: list[dict], repeats: int = 5) -> dict:
    """Accuracy, per-intent recall, confusions and timings over ``rows``."""
    definitions, source = intents.load_definitions()
    t0, c0 = time.perf_counter(), time.process_time()
    intents.train(definitions, source)  # always a training run, whatever the model cache holds
    train_s, train_cpu_s = time.perf_counter() - t0, time.process_time() - c0
    intents.reload()
    intents.warm_up()  # trains and saves, or loads: either way the cache file exists now
    loads, load_cpu = [], []
    for _ in range(5):
        t0, c0 = time.perf_counter(), time.process_time()
        model = intents.build(definitions, source)
        loads.append(time.perf_counter() - t0)
        load_cpu.append(time.process_time() - c0)
    assert model.origin == "disk", "the model cache is not writable"
    new_process = new_process_load()
    cold = [new_process_training() for _ in range(3)]

    total = Counter()
    hits = Counter()
    confusions: dict[str, Counter] = defaultdict(Counter)
    errors = []
    confident_right = confident = 0
    threshold = intents.confidence_threshold()
    for row in rows:
        res = intents.classify(row["text"])
        gold = row["intent"]
        total[gold] += 1
        if res.intent == gold:
            hits[gold] += 1
        else:
            confusions[gold][res.intent] += 1
            errors.append(
                {"text": row["text"], "gold": gold, "got": res.intent, "confidence": round(res.confidence, 3)}
            )
        if intents.is_confident(res):
            confident += 1
            confident_right += res.intent == gold

    # Timing: every dev message classified `repeats` times after warm-up. CPU time
    # is reported too: on a shared machine wall time mostly measures the neighbours.
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(repeats):
        for row in rows:
            intents.classify(row["text"])
    per_msg_ms = (time.perf_counter() - t0) * 1000 / (repeats * len(rows))
    per_msg_cpu_ms = (time.process_time() - c0) * 1000 / (repeats * len(rows))

    n = sum(total.values())
    return {
        "dev_set_size": n,
        "accuracy": round(sum(hits.values()) / n, 4),
        "out_of_scope_recall": round(hits["out_of_scope"] / total["out_of_scope"], 4)
        if total["out_of_scope"]
        else None,
        "per_intent_recall": {k: round(hits[k] / total[k], 4) for k in sorted(total)},
        "confidence_threshold": threshold,
        "share_confident": round(confident / n, 4),
        "accuracy_when_confident": round(confident_right / confident, 4) if confident else None,
        "ms_per_message": round(per_msg_ms, 4),
        "cpu_ms_per_message": round(per_msg_cpu_ms, 4),
        "train_seconds": round(train_s, 3),
        "train_cpu_seconds": round(train_cpu_s, 3),
        "load_from_cache_ms_median": round(sorted(loads)[len(loads) // 2] * 1000, 1),
        "load_from_cache_cpu_ms_median": round(sorted(load_cpu)[len(load_cpu) // 2] * 1000, 1),
        "new_process": new_process,
        # Median of three fresh processes with an empty model cache (the "training at first use" figure).
        "cold_start_training": sorted(cold, key=lambda c: c["train_cpu_ms"])[1],
        "training_examples": intents._get_model().n_examples,
        "errors": errors,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dev-set", default=None, help="path of the labelled JSONL dev set")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--no-errors", action="store_true", help="leave the list of misclassified messages out"
    )
    args = parser.parse_args(argv)
    path = Path(args.dev_set) if args.dev_set else dev_set_path()
    if not path.exists():
        print(json.dumps({"error": f"dev set not found: {path}"}))
        return 2
    result = evaluate(load_dev(path), repeats=args.repeats)
    if args.no_errors:
        result.pop("errors")
    print(json.dumps(result, indent=1, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
