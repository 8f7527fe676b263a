"""Score an intent probe with the Gemini second opinion configured against the local fake.

Usage (from the repository root)::

    .venv/bin/python benchmarks/probe_intents_gemini.py PROBE.jsonl [--fake default|oracle|wrong]

This measures the *plumbing*, not Gemini: the fake (``tests/fakes/gemini_server.py``)
answers by its own rules, never by reading the message as a model would.

- ``default``: the fake's own unscripted answer (a plain-text "Hello from
  Gemini.", not the JSON asked for). Every consultation fails and the offline
  answer must stand: the figure must equal the offline one.
- ``oracle``: the fake answers each message with the probe's own label. The
  figure is the ceiling of the second opinion: what a Gemini that is always
  right could add, given that only messages under the confidence threshold
  are sent to it.
- ``wrong``: the fake answers a wrong intent for every message: the floor, what
  a Gemini that is always wrong could cost.

Prints accuracy and out-of-scope recall offline and with the second opinion,
how many messages were sent to the fake, and what each request carried
(the JSON schema with the twelve names, the guide as system instruction).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assistant_crm.runtime.standalone import create_runtime, shutdown  # noqa: E402
from assistant_crm.services.infra.ports import set_runtime  # noqa: E402
from assistant_crm.services.models import INTENTS  # noqa: E402
from assistant_crm.services.pipeline import intents  # noqa: E402
from tests.fakes.gemini_server import FakeGemini  # noqa: E402


class RuleFake(FakeGemini):
    """The v1beta fake, answering each request by a rule on the message text."""

    def __init__(self, rule) -> None:
        super().__init__()
        self.rule = rule

    def respond(self, h, step) -> None:  # noqa: ANN001 - the fake's own signature
        if self.rule is None:
            return super().respond(h, step)
        body = self.requests[-1]["body"]
        text = body["contents"][-1]["parts"][0]["text"]
        return super().respond(h, ("answer", json.dumps({"intent": self.rule(text)})))


def score(rows: list[dict], use_gemini: bool) -> tuple[int, int, int, list[str]]:
    hits = oos = oos_hits = 0
    sources = []
    for r in rows:
        res = intents.classify(r["text"], second_opinion=use_gemini)
        hits += res.intent == r["intent"]
        if r["intent"] == "out_of_scope":
            oos += 1
            oos_hits += res.intent == "out_of_scope"
        sources.append(res.source)
    return hits, oos, oos_hits, sources


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("probe", type=Path)
    ap.add_argument("--fake", choices=("default", "oracle", "wrong"), default="default")
    args = ap.parse_args()
    logging.disable(logging.WARNING)
    rows = [json.loads(line) for line in args.probe.read_text().splitlines() if line.strip()]
    label = {r["text"]: r["intent"] for r in rows}
    rules = {
        "default": None,
        "oracle": lambda text: label.get(text, "out_of_scope"),
        "wrong": lambda text: next(i for i in INTENTS if i != label.get(text)),
    }
    fake = RuleFake(rules[args.fake]).start()
    workdir = tempfile.mkdtemp()
    os.environ["ASSISTANT_CRM_FILES_DIR"] = f"{workdir}/files"
    rt = create_runtime(
        f"sqlite:///{workdir}/g.sqlite3",
        overrides={"gemini_api_key": "fake-key", "gemini_base_url": fake.url, "gemini_model": "gemini-fake"},
        environ={},
        workers=1,
    )
    try:
        intents.reload()
        offline = score(rows, use_gemini=False)
        assisted = score(rows, use_gemini=True)
    finally:
        shutdown(rt)
        set_runtime(None)
        fake.stop()
    n = len(rows)
    asked = len(fake.requests)
    answered = sum(s == "gemini" for s in assisted[3])
    schema_ok = all(
        sorted(q["body"]["generationConfig"]["responseSchema"]["properties"]["intent"]["enum"])
        == sorted(INTENTS)
        and "boundary rules" in json.dumps(q["body"]["systemInstruction"])
        for q in fake.requests
    )
    print(f"fake: {args.fake}; threshold {intents.confidence_threshold()}")
    print(
        f"offline          accuracy {offline[0]}/{n} = {offline[0] / n:.3f}  oos recall {offline[2]}/{offline[1]}"
    )
    print(
        f"with 2nd opinion accuracy {assisted[0]}/{n} = {assisted[0] / n:.3f}  oos recall {assisted[2]}/{assisted[1]}"
    )
    print(
        f"sent to the fake {asked} ({asked / n:.1%}), answer taken for {answered}; requests well formed: {schema_ok}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
