"""Parsing of untrusted JSON request bodies: any failure is a 400, never a crash."""

from __future__ import annotations

import json
from typing import Any

from assistant_crm.services.infra.errors import ValidationError


def loads_body(body: bytes | str, field: str = "body") -> Any:
    """Decode a request body as JSON, turning every way it can fail into a ValidationError.

    Beyond malformed JSON, Python's parser raises plain ``ValueError`` for integers
    over 4,300 digits and ``RecursionError`` for deeply nested arrays: both are bad input."""
    if isinstance(body, bytes):
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise ValidationError("request body is not UTF-8", field=field) from None
    else:
        text = body
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise ValidationError(
            f"request body is not valid JSON: {e.msg} at position {e.pos}", field=field
        ) from None
    except RecursionError:
        raise ValidationError("request body is nested too deeply", field=field) from None
    except ValueError as e:
        raise ValidationError(f"request body is not acceptable JSON: {e}", field=field) from None
