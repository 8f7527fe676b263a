"""Where a running ``serve --with-sandbox`` tells ``doctor`` what it configured.

The sandbox's credentials are made per run and live only in the serving
process. So that ``assistant-crm doctor`` in another terminal can check the
same services, ``serve --with-sandbox`` writes them to
``$XDG_STATE_HOME/assistant-crm/sandbox-run.json`` (default
``~/.local/state/assistant-crm/``), readable by the user only, outside any
source tree, and removes it when it stops. A file whose process is gone is
ignored and removed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

FILE_NAME = "sandbox-run.json"


def state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "assistant-crm"


def path() -> Path:
    return state_dir() / FILE_NAME


def write(settings: dict[str, Any], sandbox_url: str, app_url: str) -> Path:
    """Record this process's sandbox settings (mode 0600)."""
    target = path()
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    payload = {"pid": os.getpid(), "sandbox_url": sandbox_url, "app_url": app_url, "settings": settings}
    tmp = target.with_suffix(".part")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(payload, f)
    os.replace(tmp, target)
    return target


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read() -> dict[str, Any] | None:
    """The running sandbox's record, or None (no file, unreadable, or its process is gone)."""
    target = path()
    try:
        data = json.loads(target.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("pid"), int) or not _alive(data["pid"]):
        remove(only_pid=None)
        return None
    return data


def remove(only_pid: int | None = None) -> None:
    """Delete the record (only if it is ``only_pid``'s, when given)."""
    target = path()
    if only_pid is not None:
        try:
            if json.loads(target.read_text()).get("pid") != only_pid:
                return
        except (OSError, ValueError, AttributeError):
            return
    try:
        target.unlink()
    except OSError:
        pass
