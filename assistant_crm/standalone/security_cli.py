"""``assistant-crm audit verify`` and ``assistant-crm privacy export|erase``.

Kept out of ``cli.py`` (which wires them in) so the security commands live
beside each other: each prints one clear result and exits 1 on a problem.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any


def add_commands(sub: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    """Register the ``audit`` and ``privacy`` command groups on ``sub``."""
    p = sub.add_parser("audit", help="audit log checks")
    asub = p.add_subparsers(dest="audit_command", required=True)
    v = asub.add_parser("verify", help="verify the audit hash chain and its anchors (exit 1 on a break)")
    common(v)
    v.set_defaults(func=cmd_audit_verify)

    p = sub.add_parser("privacy", help="a person's personal data: export or erase")
    psub = p.add_subparsers(dest="privacy_command", required=True)
    for name, func, text in (
        ("export", cmd_privacy_export, "print everything kept about a person as JSON"),
        ("erase", cmd_privacy_erase, "erase a person's conversations and personal data (audit kept valid)"),
    ):
        q = psub.add_parser(name, help=text)
        common(q)
        q.add_argument("--person", required=True, help="the CoreBusiness person id (e.g. S-1001)")
        if name == "erase":
            q.add_argument("--yes", action="store_true", help="do not ask for confirmation")
        q.set_defaults(func=func)


def _rt(args: argparse.Namespace) -> Any:
    from assistant_crm.standalone.cli import _runtime

    return _runtime(args, seed=False)


def cmd_audit_verify(args: argparse.Namespace) -> int:
    from assistant_crm.services.infra import audit

    _rt(args)
    report = audit.verify()
    if report.ok:
        head = f"head sequence {report.head_sequence}, row {report.head_name}" if report.rows else "empty"
        print(f"audit chain intact: {report.rows} rows ({head})")
        return 0
    print(f"audit chain BROKEN ({len(report.problems)} problem(s)):")
    for problem in report.problems:
        print(f"  - {problem}")
    return 1


def cmd_privacy_export(args: argparse.Namespace) -> int:
    from assistant_crm.services.infra import privacy

    _rt(args)
    data = privacy.export_person(args.person)
    json.dump(data, sys.stdout, indent=2, ensure_ascii=False, default=str)
    print()
    return 0


def cmd_privacy_erase(args: argparse.Namespace) -> int:
    from assistant_crm.services.infra import privacy

    _rt(args)
    if not args.yes:
        try:
            answer = input(
                f"Erase every conversation and personal record of {args.person}? Type the id to confirm: "
            )
        except EOFError:
            # No terminal to confirm on (a script, cron): refuse, and say how to confirm there.
            print("\nnot erased: no confirmation could be read; run with --yes to confirm in a script")
            return 1
        if answer.strip() != args.person:
            print("not erased")
            return 1
    result = privacy.erase_person(args.person, actor="cli")
    print(f"erased {args.person}: {result.summary()}")
    return 0
