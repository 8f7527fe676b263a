"""Shared checks for the end-to-end tests (no product imports)."""

from __future__ import annotations

import re
import time
from typing import Any

from tests.e2e import fakes

FULL_NRC_RE = re.compile(r"(?<![\d/])\d{6}\s*/\s*\d{2}\s*/\s*\d(?![\d/])")
ALL_NRCS = [p["nrc"] for p in fakes.PEOPLE.values()]
ALL_PHONES = [p["phone"] for p in fakes.PEOPLE.values()]


def assert_no_full_nrc(text: str) -> None:
    # The product's own example in its prompt ("123456/78/1 John Banda") belongs to nobody.
    found = [n for n in FULL_NRC_RE.findall(text) if re.sub(r"\s", "", n) != "123456/78/1"]
    assert not found, f"full NRC in reply: {found} in {text!r}"
    for nrc in ALL_NRCS:
        assert nrc.split("/")[0] not in text, f"NRC serial of {nrc} in {text!r}"


def assert_nothing_of_b(text: str) -> None:
    leaked = [m for m in fakes.B_MARKERS if m.lower() in text.lower()]
    assert not leaked, f"B's data leaked: {leaked} in {text!r}"


def otp_for(sms: fakes.FakeAfricasTalking, phone: str, before: int, timeout: float = 10.0) -> str:
    """The code of the first SMS to ``phone`` after the first ``before`` ones."""

    def got() -> str | None:
        msgs = sms.messages_to(phone)
        if len(msgs) > before:
            m = re.search(r"(?<!\d)(\d{6})(?!\d)", msgs[before])
            return m.group(1) if m else None
        return None

    code = fakes.wait_for(got, timeout=timeout, interval=0.05)
    assert code, f"no one-time code reached the SMS endpoint for {phone[:7]}… (had {before})"
    return code


def wrong_code(code: str, k: int) -> str:
    return f"{(int(code) + 1 + 7919 * k) % 1000000:06d}"


def settle(seconds: float) -> None:
    """A bounded wait used only to prove that something does NOT happen."""
    time.sleep(seconds)


def person(pid: str) -> dict[str, Any]:
    return fakes.PEOPLE[pid]


def staff_headers() -> dict[str, str]:
    from tests.e2e.conftest import SECRETS

    return {"Authorization": f"token {SECRETS['staff_api_keys'].split(':')[0]}"}


def find_conversation(server: Any, channel: str, text: str) -> str | None:
    """The agent-API id of the conversation on ``channel`` holding a message exactly ``text``."""
    import requests

    for status in ("open", "closed"):
        convs = requests.get(
            server.api("assistant_crm.api.agent.list_conversations"),
            params={"status": status, "limit": 500},
            headers=staff_headers(),
            timeout=10,
        )
        assert convs.status_code == 200, convs.text
        for c in convs.json()["message"]:
            if c["channel"] != channel:
                continue
            conv = requests.get(
                server.api("assistant_crm.api.agent.get_conversation"),
                params={"session_id": c["session_id"]},
                headers=staff_headers(),
                timeout=10,
            ).json()["message"]
            if any(m.get("text") == text for m in conv["messages"]):
                return c["session_id"]
    return None
