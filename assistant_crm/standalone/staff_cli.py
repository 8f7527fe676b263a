"""``assistant-crm staff add|list|remove|token``: staff accounts of the standalone runtime."""

from __future__ import annotations

import argparse
import getpass
import json
import os
from collections.abc import Callable
from typing import Any

from assistant_crm.services.infra.errors import AppError


def add_parser(sub: Any, common: Callable[[argparse.ArgumentParser], None], run: Callable[..., int]) -> None:
    """Register ``staff`` and its subcommands; ``run`` is the CLI's handler wrapper."""
    p = sub.add_parser("staff", help="staff accounts for the console (/wcfcb_dashboard)")
    ssub = p.add_subparsers(dest="staff_command", required=True)

    a = ssub.add_parser("add", help="create a staff account, or change its role and password")
    common(a)
    a.add_argument("email")
    a.add_argument("--role", choices=("agent", "manager"), default="agent")
    a.add_argument(
        "--password",
        help="the password (default: ASSISTANT_CRM_STAFF_PASSWORD, else asked for on the terminal)",
    )
    a.add_argument("--name", default="", help="full name shown to colleagues")
    a.set_defaults(func=run, staff_func=cmd_add)

    ls = ssub.add_parser("list", help="list staff accounts")
    common(ls)
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=run, staff_func=cmd_list)

    rm = ssub.add_parser("remove", help="delete a staff account and end its sessions")
    common(rm)
    rm.add_argument("email")
    rm.set_defaults(func=run, staff_func=cmd_remove)

    tk = ssub.add_parser("token", help="issue an API key:secret for scripts (replaces the previous one)")
    common(tk)
    tk.add_argument("email")
    tk.set_defaults(func=run, staff_func=cmd_token)


def cmd_add(rt: Any, args: argparse.Namespace) -> int:
    from assistant_crm.standalone import auth

    password = args.password or os.environ.get("ASSISTANT_CRM_STAFF_PASSWORD") or ""
    if not password:
        password = getpass.getpass(f"Password for {args.email}: ")
    created = auth.add_staff(rt.store, args.email, args.role, password, args.name)
    print(f"{'added' if created else 'updated'} {auth.normalise_email(args.email)} ({args.role})")
    return 0


def cmd_list(rt: Any, args: argparse.Namespace) -> int:
    from assistant_crm.standalone import auth

    rows = auth.list_staff(rt.store)
    if args.json:
        print(json.dumps(rows, default=str))
        return 0
    if not rows:
        print("no staff accounts (add one with: assistant-crm staff add EMAIL --role manager)")
    for r in rows:
        state = "" if r["enabled"] else "  (disabled)"
        print(f"{r['email']:<40} {r['role']:<8} {r['full_name']}{state}")
    return 0


def cmd_remove(rt: Any, args: argparse.Namespace) -> int:
    from assistant_crm.standalone import auth

    if not auth.remove_staff(rt.store, args.email):
        print(f"no staff account {auth.normalise_email(args.email)}")
        return 1
    print(f"removed {auth.normalise_email(args.email)}")
    return 0


def cmd_token(rt: Any, args: argparse.Namespace) -> int:
    from assistant_crm.standalone import auth

    key, secret = auth.issue_api_key(rt.store, args.email)
    print(f"Authorization: token {key}:{secret}")
    return 0


def run_with(runtime_factory: Callable[[argparse.Namespace], Any], args: argparse.Namespace) -> int:
    """Open the runtime (no seeding) and run the chosen subcommand; engine errors become CLI errors."""
    rt = runtime_factory(args)
    try:
        return int(args.staff_func(rt, args) or 0)
    except AppError as e:
        from assistant_crm.standalone.cli import CLIError

        raise CLIError(e.message) from None
