"""The Make.com relay webhook, exactly as ``contracts/make_com.md`` describes it."""

from __future__ import annotations

from typing import Any

from assistant_crm.api.endpoint import current_request, endpoint
from assistant_crm.api.webhooks import RUNTIME_BODY_CAP, guard, parse_json, store_event
from assistant_crm.services.delivery import webhook_log
from assistant_crm.services.delivery.channels import make_com_in
from assistant_crm.services.delivery.channels.inbound import PLATFORMS
from assistant_crm.services.infra import times
from assistant_crm.services.infra.errors import AuthenticationError
from assistant_crm.services.infra.ports import get_runtime
from assistant_crm.services.infra.signatures import constant_equals, verify_make_com_signature


@endpoint(allow_guest=True, methods=("GET", "POST"), raw_args=True, max_body_bytes=RUNTIME_BODY_CAP)
def make_com_webhook() -> dict[str, Any]:
    """GET: a health document for scenario set-up. POST: one relayed event,
    stored before the answer: ``{"status": "accepted"|"duplicate", "event_id"}``."""
    req = current_request()
    rt = get_runtime()
    with webhook_log.track("make_com", req.path, req.method, req.remote_addr) as call:
        guard(call, req)
        if req.method == "GET":
            return {
                "status": "ok",
                "service": "assistant_crm",
                "platforms": list(PLATFORMS),
                "event_types": ["message", "status"],
                "signature_required": rt.settings.is_set("make_com_webhook_secret"),
                "time": times.utc_iso(rt.clock.now()),
            }
        api_key = rt.settings.str("make_com_api_key")
        given = req.header("X-API-Key")
        if not api_key:
            raise AuthenticationError("make_com_api_key is not configured")
        if not given:
            raise AuthenticationError("missing X-API-Key header")
        if not constant_equals(api_key, given.strip()):
            raise AuthenticationError("X-API-Key is not valid")
        secret = rt.settings.str("make_com_webhook_secret")
        if secret:
            # Unix seconds of now: a Frappe site's clock is local time, not UTC.
            now = times.unix(rt.clock.now())
            check = verify_make_com_signature(
                secret, req.body, req.header("X-Signature"), req.header("X-Timestamp"), now
            )
            if not check.ok:
                raise AuthenticationError(check.reason)
        call.signature_valid = True
        event = make_com_in.parse(parse_json(req.body))
        event_id, duplicate = store_event(call, event, req.remote_addr)
        return {"status": "duplicate" if duplicate else "accepted", "event_id": event_id}
