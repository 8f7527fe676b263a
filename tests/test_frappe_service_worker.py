"""The PWA's service worker under Frappe: the page renderer hooked in hooks.py.

Frappe is not installable here, so its ``BaseRenderer`` (v15:
``frappe/website/page_renderers/base_renderer.py``, whose constructor keeps
``path.strip("/ ")``) is stood in for; what is checked is our renderer: which
path it claims and the response it gives, the same as the standalone app's.
"""

from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

import assistant_crm.hooks as hooks

ROOT = Path(__file__).resolve().parent.parent


class _BaseRenderer:
    def __init__(self, path=None, http_status_code=None):
        self.http_status_code = http_status_code or 200
        self.path = (path or "").strip("/ ")


@pytest.fixture
def renderer_module(monkeypatch) -> Iterator[types.ModuleType]:
    names = [
        "frappe",
        "frappe.website",
        "frappe.website.page_renderers",
        "frappe.website.page_renderers.base_renderer",
    ]
    for name in names:
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    sys.modules["frappe.website.page_renderers.base_renderer"].BaseRenderer = _BaseRenderer
    monkeypatch.delitem(sys.modules, "assistant_crm.website.service_worker", raising=False)
    yield importlib.import_module("assistant_crm.website.service_worker")
    sys.modules.pop("assistant_crm.website.service_worker", None)


def test_hooks_register_the_renderer():
    assert hooks.page_renderer == ["assistant_crm.website.service_worker.ServiceWorkerPage"]


def test_sw_js_is_served_at_the_root_with_site_scope(renderer_module):
    page_cls = renderer_module.ServiceWorkerPage
    # PathResolver strips the slashes and calls renderer(endpoint, 200).
    page = page_cls("sw.js", 200)
    assert page.can_render()
    resp = page.render()
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith("text/javascript")
    assert resp.headers["Service-Worker-Allowed"] == "/"
    assert resp.get_data() == (ROOT / "assistant_crm" / "public" / "pwa" / "sw.js").read_bytes()
    for other in ("", "assistant_chat", "assets/assistant_crm/pwa/sw.js", "sw.json", "app/sw.js"):
        assert not page_cls(other, 200).can_render(), other


def test_the_chat_page_registers_that_path():
    html = (ROOT / "assistant_crm" / "www" / "assistant_chat.html").read_text()
    assert 'data-sw="/sw.js"' in html
