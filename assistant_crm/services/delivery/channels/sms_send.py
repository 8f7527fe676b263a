"""SMS senders: Africa's Talking (default) and Twilio.

The outbox has already cut the text to ``sms_max_segments`` segments; the
provider concatenates the segments on the handset.
"""

from __future__ import annotations

from dataclasses import dataclass

from assistant_crm.services.delivery.channels.base import (
    DEFAULT_TIMEOUT,
    OutboundPart,
    SendResult,
    http_failure,
    post,
    response_json,
)

# Africa's Talking per-recipient status codes: 100 Processed, 101 Sent,
# 102 Queued are accepted. 405 InsufficientBalance, 407 CouldNotRoute,
# 500 InternalServerError, 501 GatewayError are worth retrying; the rest
# (401 RiskHold, 402 InvalidSenderId, 403 InvalidPhoneNumber,
# 404 UnsupportedNumberType, 406 UserInBlacklist, 409 DoNotDisturbRejection,
# 502 RejectedByGateway) are final.
AT_OK = {100, 101, 102}
AT_TRANSIENT = {405, 407, 500, 501}

# Twilio error codes that are final although the HTTP status might suggest
# otherwise are all 4xx; 429 and 5xx are retried (20429 too-many-requests).


def recipient_number(part: OutboundPart) -> str:
    number = part.recipient_phone or part.recipient_id
    number = number.strip()
    return number if number.startswith("+") else f"+{number}"


@dataclass
class AfricasTalkingSender:
    base_url: str
    username: str
    api_key: str
    sender_id: str = ""
    timeout: tuple[float, float] = DEFAULT_TIMEOUT
    name: str = "africastalking"

    def form(self, part: OutboundPart) -> dict[str, str]:
        data = {"username": self.username, "to": recipient_number(part), "message": part.text}
        if self.sender_id:
            data["from"] = self.sender_id
        return data

    def send(self, part: OutboundPart) -> SendResult:
        if not (self.username and self.api_key):
            return SendResult.fail(
                "Africa's Talking is not configured (africastalking_username / africastalking_api_key)"
            )
        resp = post(
            "africastalking",
            f"{self.base_url.rstrip('/')}/version1/messaging",
            data=self.form(part),
            headers={"apiKey": self.api_key, "Accept": "application/json"},
            timeout=self.timeout,
        )
        if isinstance(resp, SendResult):
            return resp
        if not 200 <= resp.status_code < 300:
            return http_failure(resp, (resp.text or "")[:200])
        data = response_json(resp)
        sms = data.get("SMSMessageData") or {}
        recipients = sms.get("Recipients") or []
        if not recipients:
            # AT answers 201 with no recipients when the whole request was refused.
            return SendResult.fail(
                f"Africa's Talking: no recipient accepted ({str(sms.get('Message') or '')[:200]})"
            )
        first = recipients[0] or {}
        try:
            code = int(first.get("statusCode"))
        except (TypeError, ValueError):
            code = 0
        status = str(first.get("status") or "")
        if code in AT_OK:
            return SendResult.success(str(first.get("messageId") or ""), resp.status_code)
        error = f"Africa's Talking {code}: {status}"
        if code in AT_TRANSIENT:
            return SendResult.retry(error, status_code=resp.status_code)
        return SendResult.fail(error, status_code=resp.status_code)


@dataclass
class TwilioSender:
    base_url: str
    account_sid: str
    auth_token: str
    from_number: str
    timeout: tuple[float, float] = DEFAULT_TIMEOUT
    name: str = "twilio"

    def form(self, part: OutboundPart) -> dict[str, str]:
        return {"To": recipient_number(part), "From": self.from_number, "Body": part.text}

    def send(self, part: OutboundPart) -> SendResult:
        if not (self.account_sid and self.auth_token and self.from_number):
            return SendResult.fail(
                "Twilio is not configured (twilio_account_sid / twilio_auth_token / twilio_from_number)"
            )
        resp = post(
            "twilio",
            f"{self.base_url.rstrip('/')}/2010-04-01/Accounts/{self.account_sid}/Messages.json",
            data=self.form(part),
            auth=(self.account_sid, self.auth_token),
            headers={"Accept": "application/json"},
            timeout=self.timeout,
        )
        if isinstance(resp, SendResult):
            return resp
        data = response_json(resp)
        if 200 <= resp.status_code < 300:
            return SendResult.success(str(data.get("sid") or ""), resp.status_code)
        detail = f"Twilio error {data.get('code')}: {str(data.get('message') or '')[:200]}"
        return http_failure(resp, detail)
