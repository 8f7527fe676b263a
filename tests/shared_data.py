"""The team's shared data files the repository does not hold, and how to find them.

By default they are in ``../shared/data/`` beside the repository's main
checkout (the team's layout: ``/work/main`` and ``/work/shared``); the
environment variables point elsewhere. Tests that need a missing file skip
and say where they looked and how to set the path.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _main_checkout() -> Path:
    """The main checkout (a git worktree's parent repository), else this one."""
    try:
        common = subprocess.run(
            ["git", "rev-parse", "--path-format=absolute", "--git-common-dir"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        common = ""
    return Path(common).parent if common else ROOT


# Older names still honoured.
ALIASES = {"ASSISTANT_CRM_DEV_SET": ("ASSISTANT_CRM_TEST_DEV_SET",)}


def shared_file(env: str, name: str) -> Path:
    """``$env`` if set, else ``../shared/data/<name>`` beside the main checkout."""
    given = next((os.environ[e] for e in (env, *ALIASES.get(env, ())) if os.environ.get(e)), None)
    return Path(given).expanduser() if given else _main_checkout().parent / "shared" / "data" / name


def require(env: str, name: str) -> Path:
    """The file's path, or a skip that tells how to provide it."""
    path = shared_file(env, name)
    if not path.is_file():
        pytest.skip(
            f"{name} not found at {path}: it is the team's shared data, kept outside the repository; "
            f"set {env}=/path/to/{name} (default ../shared/data/{name} beside the repository)"
        )
    return path


DEV_SET_ENV = "ASSISTANT_CRM_DEV_SET"
FACTS_ENV = "ASSISTANT_CRM_FACTS"
