"""Static checks of the chat bubble's files: size budget, colour contrast, safety, PWA files.

These need no browser and always run.
"""

from __future__ import annotations

import importlib.util
import json
import re
import struct
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PUBLIC = ROOT / "assistant_crm" / "public"
WWW = ROOT / "assistant_crm" / "www"
JS = PUBLIC / "js" / "chat_bubble.js"
CSS = PUBLIC / "css" / "chat_bubble.css"


def _bundle_size_module():
    spec = importlib.util.spec_from_file_location("bundle_size", ROOT / "tools" / "bundle_size.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_js_and_css_are_under_20_kb_gzipped():
    figures = _bundle_size_module().measure()
    assert set(figures["files"]) == {
        "assistant_crm/public/js/chat_bubble.js",
        "assistant_crm/public/css/chat_bubble.css",
    }
    assert 0 < figures["total_gzip"] <= 20 * 1024, figures


# ---------------------------------------------------------------- contrast (WCAG 2.1)


def luminance(hex_colour: str) -> float:
    h = hex_colour.lstrip("#")
    if len(h) == 3:
        h = "".join(c * 2 for c in h)
    channels = [int(h[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def contrast(a: str, b: str) -> float:
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def test_contrast_formula_matches_known_values():
    assert contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)  # the classic AA near-miss


def css_vars(text: str, selector: str) -> dict[str, str]:
    block = re.search(re.escape(selector) + r"\s*\{([^}]*)\}", text).group(1)
    found = re.findall(r"--([\w-]+):\s*(#[0-9a-fA-F]{3,6})\s*;", block)
    return {name.removeprefix("wcfcb-"): value for name, value in found}


BUBBLE_PAIRS = [
    # (foreground, background, minimum ratio, where)
    ("text", "bg", 4.5, "message box, bubble text"),
    ("text", "bot-bg", 4.5, "bot message"),
    ("text", "agent-bg", 4.5, "agent message"),
    ("muted", "bg", 4.5, "timestamps, notes, footer"),
    ("muted", "bot-bg", 4.5, "timestamp in a bot message"),
    ("muted", "agent-bg", 4.5, "timestamp in an agent message"),
    ("on-primary", "primary", 4.5, "header, user message, send button"),
    ("primary", "bg", 4.5, "quick-reply chips"),
    ("primary", "bot-bg", 4.5, "quick-reply chip hovered"),
    ("error", "bg", 4.5, "retry button"),
    ("focus", "bg", 3.0, "focus ring (non-text)"),
    ("accent", "primary", 3.0, "focus ring in the header (non-text)"),
]


@pytest.mark.parametrize("fg,bg,minimum,where", BUBBLE_PAIRS)
def test_bubble_colours_meet_wcag_aa(fg, bg, minimum, where):
    colours = css_vars(CSS.read_text(), ".wcfcb-chat")
    ratio = contrast(colours[fg], colours[bg])
    assert ratio >= minimum, f"{where}: {colours[fg]} on {colours[bg]} is {ratio:.2f}:1"


def test_badge_and_demo_page_colours_meet_wcag_aa():
    colours = css_vars(CSS.read_text(), ".wcfcb-chat")
    assert contrast("#ffffff", colours["error"]) >= 4.5  # unread badge
    page = css_vars((WWW / "wcfcb_demo.html").read_text(), ":root")
    pairs = [
        ("#ffffff", page["gd"]),  # top bar
        ("#ffffff", page["g"]),  # hero text
        (page["ink"], page["y"]),  # yellow button
        (page["g"], "#ffffff"),  # headings, links
        (page["muted"], "#ffffff"),
        (page["g"], "#e7f0eb"),  # nav hover
        ("#dfe7e3", "#14201b"),  # footer
        ("#b9c6c0", "#14201b"),
        (page["y"], "#14201b"),
    ]
    for fg, bg in pairs:
        assert contrast(fg, bg) >= 4.5, f"{fg} on {bg}: {contrast(fg, bg):.2f}"


def test_default_brand_colour_from_settings_keeps_white_text_readable():
    doctype = json.loads(
        (
            ROOT / "assistant_crm/assistant_crm/doctype/assistant_crm_settings/assistant_crm_settings.json"
        ).read_text()
    )
    defaults = {f["fieldname"]: f.get("default") for f in doctype["fields"]}
    assert contrast("#ffffff", defaults["brand_primary_colour"]) >= 4.5


# ---------------------------------------------------------------- safety of the script


def test_script_never_renders_markup_or_calls_out():
    js = JS.read_text()
    for banned in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
        assert banned not in js, banned
    urls = set(re.findall(r"https?://[^\s\"')]+", js))
    assert urls <= {"http://www.w3.org/2000/svg"}, urls  # an XML namespace, never fetched
    assert 'rel: "noopener noreferrer"' in js and 'target: "_blank"' in js


def test_css_has_mobile_full_screen_and_reduced_motion():
    css = CSS.read_text()
    assert "@media (max-width: 480px)" in css
    assert "@media (prefers-reduced-motion: reduce)" in css
    assert "@import" not in css and "url(" not in css  # nothing loaded from elsewhere


# ---------------------------------------------------------------- PWA and pages


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", path
    return struct.unpack(">II", data[16:24])


def test_manifest_is_installable():
    manifest = json.loads((PUBLIC / "pwa" / "manifest.webmanifest").read_text())
    for key in ("name", "short_name", "start_url", "display", "theme_color", "icons"):
        assert manifest.get(key), key
    assert manifest["display"] == "standalone"
    sizes = set()
    for icon in manifest["icons"]:
        rel = icon["src"].removeprefix("/assets/assistant_crm/")
        path = PUBLIC / rel
        assert path.is_file(), icon["src"]
        if icon["type"] == "image/png":
            w, h = png_size(path)
            assert f"{w}x{h}" == icon["sizes"]
            sizes.add(w)
    assert {192, 512} <= sizes  # what Chromium asks for to offer installation


def test_service_worker_shell_files_exist():
    sw = (PUBLIC / "pwa" / "sw.js").read_text()
    shell = re.findall(r'"(/assets/assistant_crm/[^"]+)"', sw)
    assert len(shell) >= 4
    for url in shell:
        assert (PUBLIC / url.removeprefix("/assets/assistant_crm/")).is_file(), url
    assert "/api/" not in sw  # API calls are never cached


@pytest.mark.parametrize("page", ["wcfcb_demo.html", "assistant_chat.html"])
def test_pages_are_safe_under_frappe_jinja_and_load_only_local_assets(page):
    html = (WWW / page).read_text()
    # Frappe v15 renders www pages with Jinja (safe_render: no ".__") and wraps them in
    # web.html unless they hold "</body>": these are whole pages and must stay so.
    assert "{{" not in html and "{%" not in html and ".__" not in html
    assert "</body>" in html
    assert "/assets/assistant_crm/js/chat_bubble.js" in html
    assert "/assets/assistant_crm/css/chat_bubble.css" in html
    for url in re.findall(r'(?:src|href)="([^"#]+)"', html):
        assert not url.startswith(("http:", "https:", "//")), url
        if url.startswith("/assets/assistant_crm/"):
            assert (PUBLIC / url.removeprefix("/assets/assistant_crm/")).is_file(), url
