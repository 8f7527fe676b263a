"""Make.com relay sender: ``POST make_com_outbound_url`` with ``X-API-Key``.

Body as in ``contracts/make_com.md`` ("Outbound"). Any 2xx marks the record
sent; anything else or a timeout is retried with backoff (the contract makes
no difference between failures), until ``outbound_max_attempts``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from assistant_crm.services.delivery.channels.base import (
    DEFAULT_TIMEOUT,
    OutboundPart,
    SendResult,
    parse_retry_after,
    post,
    response_json,
)


@dataclass
class MakeComSender:
    url: str
    api_key: str
    timeout: tuple[float, float] = DEFAULT_TIMEOUT
    name: str = "make_com"

    def body(self, part: OutboundPart) -> dict[str, Any]:
        message: dict[str, Any] = {"type": "text", "content": part.text}
        if part.quick_replies:
            message["quick_replies"] = list(part.quick_replies)
        if part.template:
            # Outside WhatsApp's 24-hour window: the scenario must send a template.
            message["type"] = "template"
            message["template"] = part.template
        recipient: dict[str, Any] = {"id": part.recipient_id}
        if part.recipient_phone:
            recipient["phone"] = part.recipient_phone
        return {
            "platform": part.channel,
            "recipient": recipient,
            "message": message,
            "conversation_id": part.session or None,
            "correlation_id": part.correlation_id,
            "reply_to": part.reply_to or None,
        }

    def send(self, part: OutboundPart) -> SendResult:
        if not self.url:
            return SendResult.fail("Make.com relay is not configured (make_com_outbound_url)")
        resp = post(
            "make_com",
            self.url,
            json=self.body(part),
            headers={"X-API-Key": self.api_key or ""},
            timeout=self.timeout,
        )
        if isinstance(resp, SendResult):
            return resp
        if 200 <= resp.status_code < 300:
            data = response_json(resp)
            # A scenario may answer the platform's id; else Make echoes the
            # correlation id in status events, which is found by name.
            pmid = str(data.get("message_id") or data.get("platform_message_id") or "")
            return SendResult.success(pmid, resp.status_code)
        return SendResult.retry(
            f"Make.com relay HTTP {resp.status_code}",
            status_code=resp.status_code,
            retry_after=parse_retry_after(resp.headers.get("Retry-After")),
        )
