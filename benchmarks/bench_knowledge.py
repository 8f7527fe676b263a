"""Knowledge-base retrieval and template rendering speed.

Run from the repository root::

    .venv/bin/python benchmarks/bench_knowledge.py [--db URL] [--redis URL] [--rounds N]

Seeds a fresh database (a temporary SQLite file unless ``--db`` names one),
then measures: index build time (articles read from the store and indexed),
``knowledge.search``/``best`` latency with a warm index (the questions below and
the question set), ``templates.render`` latency with warm caches, and the
retrieval hit rate on ``tests/data/knowledge_questions.jsonl`` (the passage
``best()`` returns carries the question's fact). Prints one JSON object on its
last line.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assistant_crm.runtime.standalone import create_runtime, shutdown  # noqa: E402
from assistant_crm.services.pipeline import knowledge, templates  # noqa: E402

QUESTION_SET = ROOT / "tests" / "data" / "knowledge_questions.jsonl"
QUESTIONS = [
    "How many days do I have to report an accident?",
    "what is the minimum pension",
    "When are assessments due?",
    "funeral grant how much",
    "my boss never registered the company, how long does he have?",
    "wat is the minimun pension?",
    "is there a maximum salary used for assessments",
    "Are casual workers covered?",
    "what papers do i need to bring for a claim",
    "can i get my pension paid as a lump sum",
    "how do pensions go up with inflation",
    "where are your offices",
    "how is my money paid? mobile money?",
    "Bushe ofesi yenu ku Kasama ili kwi?",
    "who won the football match yesterday",
    "what is the capital of France",
]
TEMPLATE_CALLS = [
    ("greeting", "en", "web", {}),
    ("verified", "bem", "whatsapp", {"first_name": "Mary"}),
    ("claim_status", "en", "sms", {"plural": "s", "first_name": "Mary"}),
    ("otp_sent", "nya", "telegram", {"masked_phone": "+260 97*** **67"}),
    ("records_unavailable", "toi", "web", {}),
]


def _ms(samples: list[float]) -> dict:
    ordered = sorted(samples)
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 3),
        "p95_ms": round(ordered[int(len(ordered) * 0.95) - 1] * 1000, 3),
        "max_ms": round(ordered[-1] * 1000, 3),
        "n": len(ordered),
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="database URL (default: a temporary SQLite file)")
    parser.add_argument("--redis", help="Redis URL for the cache (default: in-process)")
    parser.add_argument("--rounds", type=int, default=50)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    tmp = tempfile.TemporaryDirectory()
    url = args.db or f"sqlite:///{tmp.name}/bench.sqlite3"
    rt = create_runtime(url, overrides={"redis_url": args.redis} if args.redis else None, environ={})
    try:
        builds = []
        for _ in range(10):
            knowledge.invalidate()
            t = time.perf_counter()
            index = knowledge.current_index()
            builds.append(time.perf_counter() - t)

        rows = [
            json.loads(line) for line in QUESTION_SET.read_text(encoding="utf-8").splitlines() if line.strip()
        ]
        hits = 0
        for row in rows:
            passage = knowledge.best(row["question"])
            hits += passage is not None and any(f in passage.text for f in row["facts"])

        search_times, best_times = [], []
        for _ in range(args.rounds):
            for q in QUESTIONS + [r["question"] for r in rows]:
                t = time.perf_counter()
                knowledge.search(q, top_k=3)
                search_times.append(time.perf_counter() - t)
                t = time.perf_counter()
                knowledge.best(q)
                best_times.append(time.perf_counter() - t)

        render_times = []
        for _ in range(args.rounds):
            for key, lang, channel, data in TEMPLATE_CALLS:
                t = time.perf_counter()
                templates.render(key, language=lang, channel=channel, data=data)
                render_times.append(time.perf_counter() - t)

        result = {
            "database": rt.store.dialect,
            "cache": type(rt.cache).__name__,
            "articles": rt.store.count("Knowledge Base Article", {"published": 1}),
            "passages": len(index.docs),
            "terms": len(index.idf),
            "index_build": _ms(builds),
            "search_top3": _ms(search_times),
            "best": _ms(best_times),
            "template_render": _ms(render_times),
            "question_set": {"questions": len(rows), "hits": hits, "hit_rate": round(hits / len(rows), 4)},
        }
    finally:
        shutdown(rt)
        tmp.cleanup()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
