"""Messenger Send API sender (``POST {graph}/{page_id|me}/messages``).

The page access token goes as the ``access_token`` query parameter, as the
Send API documents. Quick replies: at most 13, titles at most 20 characters.
Instagram messaging uses the same Send API with the same shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from assistant_crm.services.delivery.channels.base import (
    DEFAULT_TIMEOUT,
    OutboundPart,
    SendResult,
    clip,
    post,
    response_json,
)
from assistant_crm.services.delivery.channels.whatsapp_send import graph_failure

MAX_QUICK_REPLIES = 13


@dataclass
class MessengerSender:
    base_url: str
    page_access_token: str
    page_id: str = ""
    timeout: tuple[float, float] = DEFAULT_TIMEOUT
    name: str = "messenger"

    def body(self, part: OutboundPart) -> dict[str, Any]:
        message: dict[str, Any] = {"text": part.text}
        if part.quick_replies:
            message["quick_replies"] = [
                {"content_type": "text", "title": clip(q, 20), "payload": q[:1000]}
                for q in part.quick_replies[:MAX_QUICK_REPLIES]
            ]
        return {"recipient": {"id": part.recipient_id}, "messaging_type": "RESPONSE", "message": message}

    def send(self, part: OutboundPart) -> SendResult:
        if not self.page_access_token:
            return SendResult.fail("Messenger is not configured (messenger_page_access_token)")
        resp = post(
            "messenger",
            f"{self.base_url.rstrip('/')}/{self.page_id or 'me'}/messages",
            params={"access_token": self.page_access_token},
            json=self.body(part),
            timeout=self.timeout,
        )
        if isinstance(resp, SendResult):
            return resp
        data = response_json(resp)
        if 200 <= resp.status_code < 300:
            return SendResult.success(str(data.get("message_id") or ""), resp.status_code)
        return graph_failure(resp, data)
