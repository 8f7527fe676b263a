"""The sandbox's own pages: the front page with the demo people, the SMS inbox, the phone."""

from __future__ import annotations

import functools
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from assistant_crm.sandbox import data
from assistant_crm.sandbox.world import DemoStaff

STATIC = Path(__file__).resolve().parent / "static"

_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;background:#f4f6f5;color:#1d2a24}
header{background:#0b5d3b;color:#fff;padding:18px 24px}header h1{margin:0;font-size:1.4rem}
header p{margin:.3rem 0 0;opacity:.9}main{padding:16px 24px;max-width:1200px}
nav a,.btn{display:inline-block;margin:0 8px 8px 0;padding:8px 14px;border-radius:18px;background:#fff;
color:#0b5d3b;text-decoration:none;border:1px solid #0b5d3b;font-weight:600}
table{border-collapse:collapse;width:100%;background:#fff;border-radius:8px;overflow:hidden}
th,td{padding:8px 10px;border-bottom:1px solid #e3e8e5;text-align:left;vertical-align:top;font-size:.93rem}
th{background:#e9f1ec}code{background:#eef2ef;padding:1px 4px;border-radius:4px}
td a{color:#0b5d3b;margin-right:6px;white-space:nowrap}.muted{color:#5b6b63;font-size:.9rem}
"""


def people() -> list[dict[str, Any]]:
    """The demo people as the phone and the front page show them."""
    return [
        {
            "person_id": pid,
            "name": p["full_name"],
            "nrc": p["nrc"],
            "phone": p["phone"],
            "roles": list(p["roles"]),
            "try": p.get("try", ""),
        }
        for pid, p in data.PERSONS.items()
    ]


def _staff_section(app_url: str | None, staff: tuple[DemoStaff, ...]) -> str:
    if not staff:
        return ""
    console = f"{escape(app_url.rstrip('/'))}/wcfcb_dashboard" if app_url else "/wcfcb_dashboard"
    rows = "".join(
        f"<tr><td>{escape(s.full_name)}</td><td>{escape(s.role)}</td>"
        f"<td><code>{escape(s.email)}</code></td><td><code>{escape(s.password)}</code></td></tr>"
        for s in staff
    )
    return (
        "<h3>Staff console</h3>"
        f'<p class=muted>Log in at <a href="{console}">{console}</a> with one of these demo accounts '
        "(new passwords every run).</p>"
        "<table><tr><th>Name</th><th>Role</th><th>Email</th><th>Password</th></tr>" + rows + "</table>"
    )


def front_page(base_url: str, app_url: str | None = None, staff: tuple[DemoStaff, ...] = ()) -> str:
    rows = []
    for p in people():
        links = " ".join(
            f'<a href="/phone?{urlencode({"channel": ch, "person": p["person_id"]})}">{label}</a>'
            for ch, label in (
                ("whatsapp", "WhatsApp"),
                ("telegram", "Telegram"),
                ("messenger", "Messenger"),
                ("sms", "SMS"),
            )
        )
        rows.append(
            f"<tr><td><b>{escape(p['name'])}</b><br><span class=muted>{escape(p['person_id'])}</span></td>"
            f"<td><code>{escape(p['nrc'])}</code></td><td>{escape(p['phone'])}</td>"
            f"<td>{escape(', '.join(r.replace('_', ' ') for r in p['roles']))}</td>"
            f"<td>{escape(p['try'])}</td><td>{links}</td></tr>"
        )
    app_links = ""
    if app_url:
        app = escape(app_url.rstrip("/"))
        app_links = (
            f'<a href="{app}/">The website with the chat bubble</a>'
            f'<a href="{app}/wcfcb_dashboard">Staff console</a>'
        )
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        f"<title>Assistant CRM sandbox</title><style>{_STYLE}</style></head><body>"
        "<header><h1>Assistant CRM sandbox: the outside world, simulated</h1>"
        "<p>CoreBusiness, WhatsApp, Messenger, Telegram, Africa's Talking SMS and the Make.com relay, "
        "all answered here with invented demo data.</p></header><main>"
        f'<nav><a href="/phone">Phone simulator</a><a href="/sms">SMS inbox (one-time codes)</a>{app_links}</nav>'
        "<h2>Demo people</h2>"
        '<p class=muted>Open the phone as one of them, ask something personal ("what is my claim status"), '
        "then give the NRC and full name when asked, e.g. <code>214563/11/1 Mwila Banda</code>. "
        "On WhatsApp and SMS from the phone on record no code is needed; on Telegram, Messenger and the "
        "web chat a 6-digit code goes by SMS to the phone on record: read it on the phone's SMS tab or at "
        '<a href="/sms">/sms</a>.</p>'
        "<table><tr><th>Name</th><th>NRC</th><th>Phone</th><th>Role</th><th>What to try</th><th>Chat as them</th></tr>"
        + "".join(rows)
        + "</table>"
        + _staff_section(app_url, staff)
        + f"<p class=muted>CoreBusiness API: <code>{escape(base_url)}/v1/...</code> with "
        "<code>Authorization: Bearer sandbox-key</code> (the sandbox's documented key). "
        "Phone API: <code>POST /phone/api/send</code>, <code>GET /phone/api/messages?channel=&amp;peer=</code>.</p>"
        "</main></body></html>"
    )


def sms_page(items: list[dict[str, str]]) -> str:
    rows = "".join(
        f"<tr><td>{escape(m['at'])}</td><td>{escape(m['to'])}</td><td>{escape(m['message'])}</td></tr>"
        for m in items
    )
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        f"<meta http-equiv=refresh content=5><title>Sandbox SMS inbox</title><style>{_STYLE}</style></head><body>"
        "<header><h1>Sandbox SMS inbox</h1><p>Messages sent through the sandbox's Africa's Talking endpoint "
        "(demo data only), newest first. The page refreshes every 5 seconds.</p></header><main>"
        '<nav><a href="/">Demo people</a><a href="/phone">Phone simulator</a></nav>'
        f"<table><tr><th>sent (UTC)</th><th>to</th><th>message</th></tr>{rows}</table></main></body></html>"
    )


@functools.lru_cache(maxsize=1)
def phone_page() -> bytes:
    return (STATIC / "phone.html").read_bytes()
