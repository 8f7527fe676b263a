"""Serves the chat PWA's service worker at ``/sw.js`` under Frappe.

``/assistant_chat`` registers ``/sw.js`` with scope ``/``. Frappe will not
serve a ``.js`` file from ``www/`` (``js`` is in ``StaticPage``'s
``UNSUPPORTED_STATIC_PAGE_TYPES``), and a worker served from ``/assets/...``
could only control ``/assets/...``. A page renderer (``page_renderer`` hook,
tried before Frappe's own) answers ``/sw.js`` with the file from
``public/pwa/sw.js`` and ``Service-Worker-Allowed: /``, as the standalone app does.
"""

from __future__ import annotations

from pathlib import Path

from frappe.website.page_renderers.base_renderer import BaseRenderer
from werkzeug.wrappers import Response

SW_FILE = Path(__file__).resolve().parent.parent / "public" / "pwa" / "sw.js"
ROUTE = "sw.js"


class ServiceWorkerPage(BaseRenderer):
    """``GET /sw.js``: the PWA's service worker, allowed to control the whole site."""

    def can_render(self) -> bool:
        return (self.path or "").strip("/") == ROUTE

    def render(self) -> Response:
        resp = Response(SW_FILE.read_bytes(), status=200, content_type="text/javascript; charset=utf-8")
        resp.headers["Service-Worker-Allowed"] = "/"
        # A stale worker delays every update: browsers must revalidate it.
        resp.headers["Cache-Control"] = "no-cache"
        return resp
