"""Telegram Bot API sender (``POST {base}/bot{token}/sendMessage``).

Quick replies become a one-time reply keyboard, one button per row. The bot
token is part of the URL, so URLs are never logged.
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
class TelegramSender:
    base_url: str
    bot_token: str
    timeout: tuple[float, float] = DEFAULT_TIMEOUT
    name: str = "telegram"

    def body(self, part: OutboundPart) -> dict[str, Any]:
        chat_id: int | str = part.recipient_id
        try:
            chat_id = int(part.recipient_id)  # 64-bit ids stay exact in JSON integers
        except (TypeError, ValueError):
            pass  # "@channelusername" form
        msg: dict[str, Any] = {"chat_id": chat_id, "text": part.text}
        if part.quick_replies:
            msg["reply_markup"] = {
                "keyboard": [[{"text": q[:200]}] for q in part.quick_replies],
                "one_time_keyboard": True,
                "resize_keyboard": True,
            }
        if part.reply_to and str(part.reply_to).isdigit():
            msg["reply_parameters"] = {"message_id": int(part.reply_to), "allow_sending_without_reply": True}
        return msg

    def send(self, part: OutboundPart) -> SendResult:
        if not self.bot_token:
            return SendResult.fail("Telegram is not configured (telegram_bot_token)")
        resp = post(
            "telegram",
            f"{self.base_url.rstrip('/')}/bot{self.bot_token}/sendMessage",
            json=self.body(part),
            timeout=self.timeout,
        )
        if isinstance(resp, SendResult):
            return resp
        data = response_json(resp)
        if 200 <= resp.status_code < 300 and data.get("ok"):
            result = data.get("result") or {}
            return SendResult.success(str(result.get("message_id") or ""), resp.status_code)
        code = int(data.get("error_code") or resp.status_code)
        desc = str(data.get("description") or resp.reason or "")[:300]
        error = f"Telegram {code}: {desc}"
        params = data.get("parameters") or {}
        if code == 429 or resp.status_code == 429:
            retry_after = params.get("retry_after")
            if retry_after is None:
                retry_after = parse_retry_after(resp.headers.get("Retry-After"))
            return SendResult.retry(
                error, status_code=429, retry_after=float(retry_after) if retry_after else None
            )
        if resp.status_code >= 500 or code >= 500:
            return SendResult.retry(error, status_code=resp.status_code)
        # 400 chat not found, 403 bot blocked by the user, 401 bad token: final.
        return SendResult.fail(error, status_code=resp.status_code)
