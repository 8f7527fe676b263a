"""Parsing of untrusted JSON request bodies: any failure is a 400, never a crash."""

from __future__ import annotations

import json
import re
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
    if "\\u" in text:
        text = replace_lone_surrogates(text)
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


# A JSON ``\uXXXX`` escape of a surrogate: escaped backslashes are matched
# first so that ``\\ud800`` (a backslash, then the letters) is left alone.
_SURROGATE_ESCAPES = re.compile(
    r"(\\\\)|\\u([dD][89abAB][0-9a-fA-F]{2})\\u([dD][c-fC-F][0-9a-fA-F]{2})|\\u([dD][89a-fA-F][0-9a-fA-F]{2})"
)


def replace_lone_surrogates(text: str) -> str:
    """JSON text with each escaped lone surrogate (``\\ud800``) turned into
    ``\\ufffd``: such strings decode in Python but no database or encoder takes
    them, so they are replaced at the boundary. Proper pairs (emoji) are kept."""

    def fix(m: re.Match) -> str:
        return "\\ufffd" if m.group(4) else m.group(0)

    return _SURROGATE_ESCAPES.sub(fix, text)


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def scrub(value: str) -> str:
    """A string with lone surrogates (from any source) replaced by U+FFFD."""
    return _LONE_SURROGATE.sub("\ufffd", value)
