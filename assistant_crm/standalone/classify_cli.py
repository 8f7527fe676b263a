"""``assistant-crm classify``: one message per line in, one JSON line per message out.

Works without a database: with no runtime installed the classifier trains from
the shipped fixtures file. Each output line is
``{"intent": "...", "confidence": 0.0-1.0}``; blank input lines give
``out_of_scope`` with confidence 0 so the output stays line-aligned with the
input.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import TextIO

log = logging.getLogger("assistant_crm.classify_cli")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="assistant-crm classify",
        description="Classify messages read from stdin, one per line; writes one JSON line per message.",
    )
    p.add_argument(
        "--pending",
        default=None,
        help="the bot's open question (verify_identity, otp, claim_choice, clarify)",
    )
    p.add_argument(
        "--details", action="store_true", help="also print source, language and the top alternatives"
    )
    return p


def main(argv: list[str] | None = None, stdin: TextIO | None = None, stdout: TextIO | None = None) -> int:
    """Read messages from ``stdin`` and write their intents to ``stdout``; returns the exit status."""
    stdin = sys.stdin if stdin is None else stdin
    stdout = sys.stdout if stdout is None else stdout
    args = _parser().parse_args(argv)

    from assistant_crm.services.pipeline import intents, language

    intents.warm_up()  # train once before the first line, so every line answers at once
    count = 0
    for line in stdin:
        text = line.rstrip("\r\n")
        result = intents.classify(text, pending=args.pending)
        out: dict[str, object] = {"intent": result.intent, "confidence": round(float(result.confidence), 4)}
        if args.details:
            out["source"] = result.source
            out["language"] = language.detect(text)
            out["alternatives"] = [[name, round(p, 4)] for name, p in result.alternatives]
        stdout.write(json.dumps(out, ensure_ascii=False) + "\n")
        stdout.flush()  # one answer per line as it comes, for pipes
        count += 1
    log.info("classify: %d messages", count)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
