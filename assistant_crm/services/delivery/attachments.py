"""Files people send in the web chat: checked, stored, served back.

Only images (JPEG, PNG, GIF, WebP) and PDF up to 5 MB are accepted, and the
type is decided by the file's first bytes as well as by what the client
declared: a renamed executable is refused. Files are kept under
``<files root>/assistant_crm/<session name>/<random>-<safe name>``; the random
part (128 bits) makes the URL unguessable. The files root (:func:`files_root`)
is never the source tree: under Frappe the site's ``public/files`` (served at
``/files/``); standalone the ``files_path`` setting, else
``ASSISTANT_CRM_FILES_DIR``, else a folder next to the SQLite file
(``<db file>-files``), else — when the database is not SQLite or its file
lies inside the source tree — ``$XDG_DATA_HOME/assistant-crm/files``
(``~/.local/share/assistant-crm/files``). The standalone app serves it under
``/files/``.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import unicodedata
from pathlib import Path

from assistant_crm.services.infra.errors import (
    NotFound,
    PayloadTooLarge,
    UnsupportedMediaType,
    ValidationError,
)
from assistant_crm.services.infra.ports import get_runtime
from assistant_crm.services.models import Attachment

log = logging.getLogger("assistant_crm.attachments")

MAX_BYTES = 5 * 1024 * 1024
URL_PREFIX = "/files/"
SUBDIR = "assistant_crm"
ALLOWED = {
    "image/jpeg": (".jpg", ".jpeg"),
    "image/png": (".png",),
    "image/gif": (".gif",),
    "image/webp": (".webp",),
    "application/pdf": (".pdf",),
}
_SAFE_NAME_RE = re.compile(r"[^A-Za-z0-9._-]+")


def sniff(data: bytes) -> str | None:
    """The MIME type of ``data`` judged by its magic bytes, if it is one we accept."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data.startswith(b"%PDF-"):
        return "application/pdf"
    return None


def safe_name(filename: str) -> str:
    """A file name safe on any file system and in a URL (no paths, no odd characters)."""
    base = os.path.basename((filename or "").replace("\\", "/"))
    base = unicodedata.normalize("NFKD", base).encode("ascii", "ignore").decode()
    base = _SAFE_NAME_RE.sub("-", base).strip(".-")
    return (base or "file")[-80:]


# The checkout (or site-packages) this package lives in: uploads never go there.
SOURCE_TREE = Path(__file__).resolve().parents[3]


def files_root() -> Path:
    """Where uploaded files live (see the module docstring for the order)."""
    rt = get_runtime()
    explicit = (rt.extras or {}).get("files_dir")
    if callable(explicit):  # the Frappe runtime answers the current site's folder
        explicit = explicit()
    explicit = explicit or rt.settings.str("files_path") or os.environ.get("ASSISTANT_CRM_FILES_DIR")
    if explicit:
        return Path(explicit).expanduser().resolve()
    return default_files_dir((rt.extras or {}).get("database_url") or "")


def default_files_dir(database_url: str) -> Path:
    """Next to a SQLite file outside the source tree, else the user's data folder."""
    if database_url.startswith("sqlite:///") and database_url != "sqlite:///:memory:":
        db = Path(database_url[len("sqlite:///") :].split("?", 1)[0]).expanduser().resolve()
        if SOURCE_TREE not in db.parents:
            return db.parent / f"{db.name}-files"
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return (Path(data_home) / "assistant-crm" / "files").resolve()


def save_upload(session_name: str, filename: str, declared_type: str, data: bytes) -> Attachment:
    """Check and store an uploaded file; returns the stored :class:`Attachment`.

    Raises ``ValidationError`` (empty), ``PayloadTooLarge`` (over 5 MB) or
    ``UnsupportedMediaType`` (not an accepted type, or bytes that disagree with
    the declared type or the extension).
    """
    if not data:
        raise ValidationError("file is empty", field="file")
    if len(data) > MAX_BYTES:
        log.warning("upload refused: %s bytes over the %s limit", len(data), MAX_BYTES)
        raise PayloadTooLarge(f"file is larger than {MAX_BYTES // (1024 * 1024)} MB", field="file")
    actual = sniff(data)
    declared = (declared_type or "").split(";")[0].strip().lower()
    if declared == "image/jpg":
        declared = "image/jpeg"
    if actual is None:
        log.warning("upload refused: content is not an accepted type (declared %r)", declared)
        raise UnsupportedMediaType(
            "file type not accepted: only JPEG, PNG, GIF, WebP images and PDF documents", field="file"
        )
    if declared and declared != "application/octet-stream" and declared != actual:
        log.warning("upload refused: declared %r but content is %s", declared, actual)
        raise UnsupportedMediaType(f"file content is {actual} but was declared as {declared}", field="file")
    name = safe_name(filename)
    stem, ext = os.path.splitext(name)
    if ext.lower() not in ALLOWED[actual]:
        # Keep the name but give it the extension its bytes deserve, so nothing
        # serves it later under a misleading type.
        name = f"{stem or 'file'}{ALLOWED[actual][0]}"
    folder = files_root() / SUBDIR / safe_name(session_name)
    folder.mkdir(parents=True, exist_ok=True)
    stored = f"{secrets.token_hex(16)}-{name}"
    path = folder / stored
    tmp = path.with_suffix(path.suffix + ".part")
    tmp.write_bytes(data)
    os.replace(tmp, path)  # never a half-written file under the final name
    url = f"{URL_PREFIX}{SUBDIR}/{safe_name(session_name)}/{stored}"
    log.info("stored upload %s (%s, %s bytes) for session %s", stored, actual, len(data), session_name)
    return Attachment(url=url, mime_type=actual, name=name, size=len(data))


def open_file(path: str) -> tuple[bytes, str]:
    """Bytes and MIME type of a stored file, by URL path (``/files/assistant_crm/...``
    or the part after ``/files/``). Raises ``NotFound`` for anything else,
    including paths that try to leave the files folder."""
    rel = (path or "").split("?", 1)[0]
    if rel.startswith(URL_PREFIX):
        rel = rel[len(URL_PREFIX) :]
    rel = rel.lstrip("/")
    root = files_root()
    target = (root / rel).resolve()
    if not rel.startswith(SUBDIR + "/") or root not in target.parents or not target.is_file():
        raise NotFound("file not found")
    data = target.read_bytes()
    mime = sniff(data)
    if mime is None:
        raise NotFound("file not found")
    return data, mime
