"""``send_message`` against ``/api/method/ping`` on a running Frappe bench (issue 13.3 and 13.4).

Needs a bench with the app installed and its web server running (this script
builds nothing; docs/frappe.md says how to build one). Not in ``benchmarks/run.py``
for that reason. Two modes::

    # restart the web worker first (nothing else may reach it in between)
    .venv/bin/python benchmarks/frappe_overhead.py --url http://SITE:8000 --first

    # warm: N pings and N send_message, interleaved, sequential
    .venv/bin/python benchmarks/frappe_overhead.py --url http://SITE:8000 --requests 200 [--server-pid PID]

``--first`` times the very first ``send_message`` the worker serves (the
classifier must come from the model cache, not be trained). The warm mode
alternates one ping and one ``send_message`` so both see the same machine load;
each visitor asks 5 questions in one session, then a new visitor starts (a
session is created every 5th message). The site's ``chat_rate_limit_per_minute``
must be 0 (no limit) or high enough for the run. Prints one JSON object:
medians and p90 in ms, the ratio of the medians, and the load average; with
``--server-pid`` (the only web worker's pid, same machine) also the worker's CPU
ms per ping and per ``send_message``, which a busy machine distorts far less.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import requests

QUESTIONS = [
    "Hello",
    "How do I report an accident at work?",
    "What is the minimum monthly pension?",
    "which documents do I need for a death claim",
    "Thank you, bye",
]
PER_SESSION = len(QUESTIONS)


def _send(http: requests.Session, url: str, text: str, session_id: str | None) -> tuple[float, str]:
    started = time.perf_counter()
    r = http.post(
        f"{url}/api/method/assistant_crm.api.chat.send_message",
        json={"message": text, "session_id": session_id},
        timeout=60,
    )
    elapsed = (time.perf_counter() - started) * 1000
    r.raise_for_status()
    return elapsed, r.json()["message"]["session_id"]


def _ping(http: requests.Session, url: str) -> float:
    started = time.perf_counter()
    r = http.get(f"{url}/api/method/ping", timeout=60)
    elapsed = (time.perf_counter() - started) * 1000
    r.raise_for_status()
    return elapsed


def _p(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1))))
    return round(ordered[k], 1)


def first(url: str) -> dict:
    http = requests.Session()
    elapsed, _ = _send(http, url, QUESTIONS[1], None)
    again, _ = _send(http, url, QUESTIONS[2], None)
    return {"first_send_message_ms": round(elapsed, 1), "second_send_message_ms": round(again, 1)}


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of a process (Linux ``/proc``), in seconds."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_cpu(url: str, n: int, pid: int) -> dict:
    """CPU ms the web worker spends per ping and per send_message (n of each, one after the
    other): less sensitive to a busy machine than wall-clock medians."""
    http = requests.Session()
    before = _cpu_seconds(pid)
    for _ in range(n):
        _ping(http, url)
    ping_cpu = (_cpu_seconds(pid) - before) / n * 1000
    session_id = None
    before = _cpu_seconds(pid)
    for i in range(n):
        if i % PER_SESSION == 0:
            session_id = None
        _, session_id = _send(http, url, QUESTIONS[i % PER_SESSION], session_id)
    send_cpu = (_cpu_seconds(pid) - before) / n * 1000
    return {
        "server_cpu_ping_ms": round(ping_cpu, 2),
        "server_cpu_send_message_ms": round(send_cpu, 2),
        "server_cpu_ratio": round(send_cpu / ping_cpu, 2) if ping_cpu else None,
    }


def warm(url: str, n: int, warmup: int) -> dict:
    http = requests.Session()  # keep-alive, as a browser would
    session_id = None
    for i in range(warmup):
        _ping(http, url)
        _, session_id = _send(http, url, QUESTIONS[i % PER_SESSION], session_id)
    pings: list[float] = []
    sends: list[float] = []
    session_id = None
    for i in range(n):
        pings.append(_ping(http, url))
        if i % PER_SESSION == 0:
            session_id = None
        elapsed, session_id = _send(http, url, QUESTIONS[i % PER_SESSION], session_id)
        sends.append(elapsed)
    ping_median = statistics.median(pings)
    send_median = statistics.median(sends)
    return {
        "requests": n,
        "ping_median_ms": round(ping_median, 1),
        "ping_p90_ms": _p(pings, 90),
        "send_message_median_ms": round(send_median, 1),
        "send_message_p90_ms": _p(sends, 90),
        "ratio_of_medians": round(send_median / ping_median, 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", required=True, help="the site's base URL, e.g. http://acrm.localhost:8000")
    ap.add_argument("--first", action="store_true", help="time the first send_message of a fresh worker")
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--server-pid", type=int, help="the web worker's pid: also measure its CPU per request")
    args = ap.parse_args()
    url = args.url.rstrip("/")
    load_before = os.getloadavg()[0]
    result = first(url) if args.first else warm(url, args.requests, args.warmup)
    if args.server_pid and not args.first:
        result.update(server_cpu(url, args.requests, args.server_pid))
    result["load_avg_1m"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    print(json.dumps(result))


if __name__ == "__main__":
    main()
