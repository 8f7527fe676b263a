"""The ``assistant-crm`` command: serve, init-db, seed-demo, import-kb, doctor, classify, sandbox."""

from __future__ import annotations

import argparse
import atexit
import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

log = logging.getLogger("assistant_crm.cli")


class CLIError(Exception):
    """A failure worth one clear line, not a traceback."""


def _runtime(args: argparse.Namespace, **kw: Any):
    import redis

    from assistant_crm.runtime.standalone import ConfigError, create_runtime
    from assistant_crm.standalone.store import DatabaseUnavailable

    try:
        return create_runtime(getattr(args, "db", None), config_file=getattr(args, "config", None), **kw)
    except DatabaseUnavailable as e:
        raise CLIError(str(e)) from None
    except ConfigError as e:
        raise CLIError(str(e)) from None
    except redis.RedisError as e:
        raise CLIError(f"cannot connect to Redis: {e}") from None


# -- serve ---------------------------------------------------------------------
def cmd_serve(args: argparse.Namespace) -> int:
    overrides: dict[str, Any] = {}
    sandbox = None
    if args.with_sandbox:
        sandbox, overrides, kept = _start_sandbox(args)
        for group in kept:
            print(f"sandbox: {group} settings come from your environment/config, not the sandbox", flush=True)
    # Fail fast, in the parent, on a bad database/config before any worker starts.
    rt = _runtime(
        args,
        overrides=overrides or None,
        workers=max(2, args.threads),
        scheduler=args.workers <= 1,
        shared_jobs=args.workers <= 1,  # gunicorn's workers take the shared jobs, not this parent
    )
    if args.workers <= 1:
        # With gunicorn each worker's scheduler runs recover() as it starts. Jobs
        # running in this process when gunicorn forks could hold an import lock
        # that no thread of the child ever releases: a worker hung at its start.
        _recover(rt)
    if sandbox:
        _ensure_demo_staff(rt, sandbox.world.staff)
    _warm_up()
    url = f"http://{args.host}:{args.port}"
    print(f"Assistant CRM standalone on {url}  (database: {rt.store.safe_url})", flush=True)
    if sandbox:
        sb = sandbox.base_url
        print(
            f"Sandbox (CoreBusiness, WhatsApp, Telegram, Messenger, SMS, Make.com) on {sb}\n"
            f"  demo people:     {sb}/\n"
            f"  phone simulator: {sb}/phone\n"
            f"  SMS inbox:       {sb}/sms\n"
            f"  website + chat:  {url}/    staff console: {url}/wcfcb_dashboard\n"
            + "".join(
                f"    log in as {s.role + ':':<9} {s.email}  password {s.password}\n"
                for s in sandbox.world.staff
            )
            + "Stop with Ctrl+C.",
            flush=True,
        )
    if args.workers > 1:
        rt.queue.join(timeout=30)  # nothing of ours runs while gunicorn forks (see above)
        rt.queue.stop()
        return _serve_gunicorn(args, overrides)
    from werkzeug.serving import run_simple

    from assistant_crm.standalone.wsgi import AccessLogHandler, create_app

    try:
        run_simple(
            args.host,
            args.port,
            create_app(rt),
            threaded=True,
            use_reloader=False,
            request_handler=AccessLogHandler,
        )
    except OSError as e:
        raise CLIError(f"cannot listen on {args.host}:{args.port}: {e.strerror or e}") from None
    return 0


def _warm_up() -> None:
    """Before the first visitor: the message path imported, the intent
    classifier trained or loaded, the knowledge index built. Imported here, not
    at the top, so that commands other than serve start without the engine."""
    from assistant_crm.services.pipeline.warm_up import warm_message_path

    warm_message_path()


def _recover(rt: Any) -> None:
    import importlib.util

    if importlib.util.find_spec("assistant_crm.services.delivery.inbox") is not None:
        rt.queue.enqueue("assistant_crm.services.delivery.inbox.recover")


def _ensure_demo_staff(rt: Any, staff: Any) -> None:
    """Create the demo's staff accounts, or give them this run's passwords (as `staff add` does)."""
    from assistant_crm.standalone import auth

    for s in staff:
        auth.add_staff(rt.store, s.email, s.role, s.password, s.full_name)


def _start_sandbox(args: argparse.Namespace) -> tuple[Any, dict[str, Any], list[str]]:
    """Start the sandbox with credentials made for this run; returns (server,
    the settings that point the app at it, groups left to the environment)."""
    from assistant_crm.sandbox import make_server, runfile
    from assistant_crm.sandbox.world import World, demo_staff, overrides_for

    world = World(staff=demo_staff())
    app_host = "127.0.0.1" if args.host in ("0.0.0.0", "::", "") else args.host
    try:
        srv = make_server(
            args.host,
            args.sandbox_port,
            world.corebusiness_key,
            world=world,
            app_url=f"http://{app_host}:{args.port}",
        )
    except OSError as e:
        raise CLIError(
            f"cannot start the sandbox on {args.host}:{args.sandbox_port}: {e.strerror or e} "
            "(another `make run`? choose another port with --sandbox-port)"
        ) from None
    threading.Thread(target=srv.serve_forever, name="sandbox", daemon=True).start()
    sandbox_url = f"http://{app_host}:{args.sandbox_port}"
    overrides, kept = overrides_for(world, sandbox_url, _configured_elsewhere(args))
    # So that `doctor` in another terminal checks what this server uses (user-only file, removed on exit).
    try:
        runfile.write(overrides, sandbox_url, f"http://{app_host}:{args.port}")
        atexit.register(runfile.remove, os.getpid())
        # A plain `kill` (SIGTERM) ends the server through sys.exit, so atexit still runs.
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    except OSError as e:
        log.warning("doctor will not see the sandbox: cannot write %s (%s)", runfile.path(), e.strerror or e)
    return srv, overrides, kept


def _configured_elsewhere(args: argparse.Namespace) -> set[str]:
    """Settings given by the environment or the --config file."""
    from assistant_crm.services.infra.settings import settings_fields

    names = {f for f in settings_fields() if os.environ.get(f"ASSISTANT_CRM_{f.upper()}")}
    if getattr(args, "config", None):
        try:
            data = json.loads(Path(args.config).read_text())
        except (OSError, ValueError):
            data = {}  # the runtime reports a bad config file with its own message
        if isinstance(data, dict):
            names |= {k for k, v in data.items() if v not in (None, "")}
    return names


def _serve_gunicorn(args: argparse.Namespace, overrides: dict[str, Any]) -> int:
    from gunicorn.app.base import BaseApplication

    class App(BaseApplication):
        def load_config(self) -> None:
            self.cfg.set("bind", f"{args.host}:{args.port}")
            self.cfg.set("workers", args.workers)
            self.cfg.set("threads", args.threads)
            self.cfg.set("worker_class", "gthread")
            self.cfg.set("accesslog", None)
            self.cfg.set("timeout", 60)

        def load(self) -> Any:
            # Each worker process builds its own runtime after the fork.
            from assistant_crm.standalone.wsgi import create_app

            rt = _runtime(
                args, overrides=overrides or None, workers=2, scheduler=True, seed=False, shared_jobs=True
            )
            _warm_up()
            return create_app(rt)

    App().run()
    return 0


# -- database ------------------------------------------------------------------
def cmd_init_db(args: argparse.Namespace) -> int:
    rt = _runtime(args, seed=False)
    from assistant_crm.services.infra.seed import seed

    counts = seed(rt.store)
    print(f"database ready: {rt.store.safe_url}; seeded {json.dumps(counts)}")
    return 0


def cmd_seed_demo(args: argparse.Namespace) -> int:
    rt = _runtime(args, seed=False)
    from assistant_crm.services.infra.seed import seed

    counts = seed(rt.store, force=True)
    print(f"demo data applied to {rt.store.safe_url}: {json.dumps(counts)}")
    return 0


def cmd_import_kb(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from assistant_crm.standalone.kb_import import KBImportError, read_articles, upsert_article

    try:
        articles = read_articles(Path(args.path))
    except KBImportError as e:
        raise CLIError(str(e)) from None
    rt = _runtime(args, seed=False)
    created = updated = 0
    for article in tqdm(articles, desc="importing", unit="article", disable=args.quiet):
        if upsert_article(rt.store, article):
            created += 1
        else:
            updated += 1
    try:
        from assistant_crm.services.pipeline.knowledge import invalidate

        invalidate()
    except ImportError:
        pass
    print(f"imported {len(articles)} articles ({created} new, {updated} updated)")
    return 0


# -- doctor --------------------------------------------------------------------
def cmd_doctor(args: argparse.Namespace) -> int:
    """Database, cache, then one authenticated call per configured service.

    While a ``serve --with-sandbox`` runs, its sandbox settings (recorded in
    the run file, see sandbox/runfile.py) fill what the environment leaves unset,
    exactly as that server applied them."""
    from assistant_crm.sandbox import runfile
    from assistant_crm.sandbox.world import GROUPS
    from assistant_crm.standalone import doctor

    overrides: dict[str, Any] = {}
    running = runfile.read()
    if running:
        configured = _configured_elsewhere(args)
        settings = running.get("settings") or {}
        for fields in GROUPS.values():
            if not configured & set(fields):
                overrides.update({f: settings[f] for f in fields if f in settings})
    try:
        rt = _runtime(args, seed=False, overrides=overrides or None)
    except CLIError as e:
        print(f"database: FAIL {e}")
        return 1
    print("runtime: standalone")
    counts = {d: rt.store.count(d) for d in ("Chat Session", "Knowledge Base Article", "Intent Definition")}
    print(f"database: ok {rt.store.safe_url} ({', '.join(f'{k}: {v}' for k, v in counts.items())})")
    describe = getattr(rt.cache, "describe", None)
    print(f"cache: {describe() if describe else 'ok in-process'}")
    degraded = bool(getattr(rt.cache, "degraded", False))
    if running:
        print(
            f"sandbox: running at {running.get('sandbox_url')} (pid {running.get('pid')}, "
            "`serve --with-sandbox`); its settings are used for what your environment leaves unset"
        )
    else:
        print("sandbox: not running (`make run` or `assistant-crm serve --with-sandbox` starts it)")
    results = doctor.run(rt.settings)
    for r in results:
        print(r.line())
    for circuit in doctor.circuits(rt.settings):
        print(doctor.circuit_line(circuit))
    return 1 if degraded or any(r.failed for r in results) else 0


# -- delegates -----------------------------------------------------------------
def cmd_staff(args: argparse.Namespace) -> int:
    from assistant_crm.standalone.staff_cli import run_with

    return run_with(lambda a: _runtime(a, seed=False), args)


def cmd_classify(args: argparse.Namespace) -> int:
    from assistant_crm.standalone.classify_cli import main as classify_main

    return classify_main([])


def cmd_sandbox(args: argparse.Namespace) -> int:
    from assistant_crm.sandbox import main as sandbox_main

    return sandbox_main(
        ["--host", args.host, "--port", str(args.port)]
        + (["--api-key", args.api_key] if args.api_key else [])
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="assistant-crm", description="WCFCB Assistant CRM (standalone runtime)"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--db", help="database URL (default: database_url setting or sqlite:///assistant_crm.sqlite3)"
        )
        p.add_argument("--config", help="JSON file of settings (the environment wins)")

    p = sub.add_parser("serve", help="HTTP server plus background worker")
    common(p)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--workers", type=int, default=1, help="processes (more than 1 runs gunicorn)")
    p.add_argument("--threads", type=int, default=8, help="threads per process")
    p.add_argument("--with-sandbox", action="store_true", help="also run the CoreBusiness sandbox and use it")
    p.add_argument("--sandbox-port", type=int, default=8701)
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("init-db", help="create or update the tables and load the starter data")
    common(p)
    p.set_defaults(func=cmd_init_db)

    p = sub.add_parser("seed-demo", help="re-apply intents, knowledge base and templates")
    common(p)
    p.set_defaults(func=cmd_seed_demo)

    p = sub.add_parser("import-kb", help="import knowledge-base articles (Markdown files, a folder, or JSON)")
    common(p)
    p.add_argument("path")
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(func=cmd_import_kb)

    p = sub.add_parser("doctor", help="check the database, cache and every external service")
    common(p)
    p.set_defaults(func=cmd_doctor)

    from assistant_crm.standalone import staff_cli
    from assistant_crm.standalone.security_cli import add_commands

    staff_cli.add_parser(sub, common, cmd_staff)
    add_commands(sub, common)  # audit verify, privacy export|erase

    p = sub.add_parser("classify", help="classify messages from stdin, one JSON line each")
    p.set_defaults(func=cmd_classify)

    p = sub.add_parser("sandbox", help="run the CoreBusiness sandbox server")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8701)
    p.add_argument("--api-key", default=None)
    p.set_defaults(func=cmd_sandbox)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.func(args) or 0)
    except CLIError as e:
        print(f"assistant-crm: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
