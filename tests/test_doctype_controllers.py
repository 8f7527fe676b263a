"""The DocType controllers' own rules, run against a minimal stand-in for Frappe.

The controllers subclass ``frappe.model.document.Document``; Frappe cannot be
installed here, so a small ``frappe`` module (throw, _, bold, a Document base
holding attributes) is put in ``sys.modules`` for these tests only. What is
checked is our validation logic; the FrappeTestCase modules next to each
controller check the same rules inside a real bench.
"""

from __future__ import annotations

import importlib
import sys
import types

import pytest

CONTROLLERS = "assistant_crm.assistant_crm.doctype"


class FakeValidationError(Exception):
    pass


class FakePermissionError(Exception):
    pass


class _Flags(dict):
    __getattr__ = dict.get

    def __setattr__(self, k, v):
        self[k] = v


class FakeDocument:
    """Attributes in, attributes out, as Frappe's BaseDocument behaves for controllers."""

    def __init__(self, new: bool = True, before: FakeDocument | None = None, **values):
        self.flags = _Flags()
        self._new = new
        self._before = before
        self.__dict__.update(values)

    def __getattr__(self, key):
        # Frappe docs carry every field of the DocType; unset ones read as None.
        if key.startswith("_"):
            raise AttributeError(key)
        return None

    def get(self, key, default=None):
        return self.__dict__.get(key, default)

    def set(self, key, value):
        setattr(self, key, value)

    def is_new(self):
        return self._new

    def get_doc_before_save(self):
        return self._before

    def is_dummy_password(self, pwd):
        return "".join(set(pwd)) == "*"

    def has_value_changed(self, field):
        return self._before is None or self._before.get(field) != self.get(field)


@pytest.fixture
def fake_frappe(monkeypatch):
    fr = types.ModuleType("frappe")

    def throw(msg, exc=None, title=None):
        raise (exc or FakeValidationError)(msg)

    fr.throw = throw
    fr._ = lambda s: s
    fr.bold = lambda s: f"<b>{s}</b>"
    fr.ValidationError = FakeValidationError
    fr.PermissionError = FakePermissionError
    fr.whitelist = lambda *a, **k: lambda fn: fn
    fr.session = _Flags(user="agent@example.com")
    fr.db = types.SimpleNamespace(exists=lambda *a, **k: None)
    fr.utils = types.SimpleNamespace(strip_html=lambda s: __import__("re").sub(r"<[^>]+>", "", s or ""))
    model = types.ModuleType("frappe.model")
    document = types.ModuleType("frappe.model.document")
    document.Document = FakeDocument
    qb = types.ModuleType("frappe.query_builder")
    qb.Interval = object
    qbf = types.ModuleType("frappe.query_builder.functions")
    qbf.Now = object
    for name, mod in {
        "frappe": fr,
        "frappe.model": model,
        "frappe.model.document": document,
        "frappe.query_builder": qb,
        "frappe.query_builder.functions": qbf,
    }.items():
        monkeypatch.setitem(sys.modules, name, mod)
    loaded = [m for m in sys.modules if m.startswith(CONTROLLERS + ".")]
    for m in loaded:
        monkeypatch.delitem(sys.modules, m)
    yield fr
    for m in [m for m in sys.modules if m.startswith(CONTROLLERS + ".")]:
        sys.modules.pop(m, None)


def controller(name: str):
    return importlib.import_module(f"{CONTROLLERS}.{name}.{name}")


@pytest.mark.parametrize(
    ("body", "ok"),
    [
        ("Hello {first_name}, claim {claim_number}.", True),
        ("Literal braces {{like this}} are fine", True),
        ("Hello {first_name", False),
        ("Hello first_name}", False),
        ("Hi {0.__class__}", False),
        ("Hi {a[0]}", False),
        ("Hi {}", False),
        ("Hi {name!r}", False),
    ],
)
def test_response_template_placeholders(fake_frappe, body, ok):
    mod = controller("response_template")
    assert (mod.placeholder_problems(body) == []) is ok
    doc = mod.ResponseTemplate(template_key="greeting", body=body, quick_replies=" A \n\nB ", enabled=0)
    if ok:
        doc.validate()
        assert doc.quick_replies == "A\nB"
    else:
        with pytest.raises(FakeValidationError):
            doc.validate()


def test_response_template_key_and_duplicate_variant(fake_frappe):
    mod = controller("response_template")
    with pytest.raises(FakeValidationError, match="snake_case"):
        mod.ResponseTemplate(template_key="Claim Status", body="x", enabled=0).validate()
    fake_frappe.db.exists = lambda *a, **k: "other-template"
    doc = mod.ResponseTemplate(
        template_key="greeting", language="en", channel="all", body="Hi", enabled=1, name="t1"
    )
    with pytest.raises(FakeValidationError, match="other-template"):
        doc.validate()


def test_knowledge_base_slug(fake_frappe):
    mod = controller("knowledge_base_article")
    assert mod.slugify("How Do I Claim? (Form 6)") == "how-do-i-claim-form-6"
    doc = mod.KnowledgeBaseArticle(
        title="Pension Payments", slug="", body="<p>x</p>", keywords="Pension, pension,PAY"
    )
    doc.before_insert()
    doc.validate()
    assert doc.slug == "pension-payments" and doc.keywords == "pension, pay"
    doc = mod.KnowledgeBaseArticle(title="t", slug="Mixed-Case", body="x")
    doc.before_insert()
    assert doc.slug == "mixed-case"
    with pytest.raises(FakeValidationError, match="Slug"):
        mod.KnowledgeBaseArticle(title="t", slug="bad slug!", body="x").validate()
    existing = mod.KnowledgeBaseArticle(new=False, name="old-slug", title="t", slug="new-slug", body="x")
    with pytest.raises(FakeValidationError, match="cannot change"):
        existing.validate()
    with pytest.raises(FakeValidationError, match="empty"):
        mod.KnowledgeBaseArticle(title="t", slug="s", body="<p> </p>").validate()


def test_intent_definition_names_and_examples(fake_frappe):
    mod = controller("intent_definition")
    assert mod.intent_name_problem("claim_status") is None
    assert mod.intent_name_problem("pension_letter") is None
    for bad in ("Claim Status", "claim-status", "1claim", "claim__status", ""):
        assert mod.intent_name_problem(bad), bad
    doc = mod.IntentDefinition(intent_name=" greeting ", examples="hi\n\nhi\n hello ", enabled=1)
    doc.validate()
    assert doc.intent_name == "greeting" and doc.examples == "hi\nhello"
    with pytest.raises(FakeValidationError, match="example"):
        mod.IntentDefinition(intent_name="pension_letter", examples="", enabled=1).validate()
    with pytest.raises(FakeValidationError, match="standard intent"):
        mod.IntentDefinition(intent_name="greeting").on_trash()


def test_chat_session_phone_and_take_over(fake_frappe):
    mod = controller("chat_session")
    assert mod.phone_problem("+260971234567") is None and mod.phone_problem("") is None
    assert mod.phone_problem("0971234567") and mod.phone_problem("+0123")
    doc = mod.ChatSession(phone=" +260971234567 ", status="with_agent", assigned_agent=None)
    doc.validate()
    assert doc.phone == "+260971234567" and doc.assigned_agent == "agent@example.com"
    with pytest.raises(FakeValidationError, match="E.164"):
        mod.ChatSession(phone="097 123 4567", status="bot").validate()


def test_chat_history_needs_content(fake_frappe):
    mod = controller("chat_history")
    with pytest.raises(FakeValidationError):
        mod.ChatHistory(text="  ", attachments=None, author="user").validate()
    doc = mod.ChatHistory(text="hello", author="agent", agent=None)
    doc.validate()
    assert doc.agent == "agent@example.com"


def test_audit_log_rows_are_append_only(fake_frappe):
    mod = controller("assistant_audit_log")
    desk = mod.AssistantAuditLog(actor="x", action="forged")
    with pytest.raises(FakePermissionError):
        desk.before_insert()
    engine = mod.AssistantAuditLog(actor="bot", action="data.read")
    engine.flags.from_engine = True
    engine.flags.in_insert = True
    engine.before_insert()
    engine.validate()
    engine.on_update()  # the engine's own insert passes
    saved = mod.AssistantAuditLog(new=False, actor="bot", action="data.read")
    for step in (saved.validate, saved.on_update, saved.before_change, saved.on_trash):
        with pytest.raises(FakePermissionError):
            step()
    engine.flags.in_insert = False  # a later save of the same object is an edit
    with pytest.raises(FakePermissionError):
        engine.on_update()


def _settings_meta(mod):
    fields = [
        types.SimpleNamespace(fieldname="gemini_section", fieldtype="Section Break"),
        types.SimpleNamespace(fieldname="gemini_api_key", fieldtype="Password"),
        types.SimpleNamespace(fieldname="gemini_model", fieldtype="Data"),
        types.SimpleNamespace(fieldname="telegram_bot_token", fieldtype="Password"),
        types.SimpleNamespace(fieldname="chat_rate_limit_per_minute", fieldtype="Int"),
    ]
    return types.SimpleNamespace(fields=fields, get_label=lambda f: f.replace("_", " ").title())


def test_settings_change_lists_field_names_only(fake_frappe):
    mod = controller("assistant_crm_settings")
    before = FakeDocument(
        new=False, gemini_api_key="******", gemini_model="gemini-2.5-flash", telegram_bot_token="*****",
        chat_rate_limit_per_minute=30,
    )  # fmt: skip
    doc = mod.AssistantCRMSettings(
        new=False, before=before, gemini_api_key="new-secret", gemini_model="gemini-2.5-flash",
        telegram_bot_token="", chat_rate_limit_per_minute=30,
    )  # fmt: skip
    doc.meta = _settings_meta(mod)
    # a new secret typed, a secret cleared; an unchanged secret stays '*****' and is not listed
    assert doc.changed_fields() == ["gemini_api_key", "telegram_bot_token"]
    doc.telegram_bot_token = "*****"
    doc.chat_rate_limit_per_minute = 40
    assert doc.changed_fields() == ["gemini_api_key", "chat_rate_limit_per_minute"]


@pytest.mark.parametrize(
    ("field", "value", "needle"),
    [
        ("gemini_base_url", "ftp://x", "https"),
        ("webhook_ip_allowlist", "10.0.0.0/8\n# office\n196.46.1.2\nnot-an-ip", "not-an-ip"),
        ("intent_confidence_threshold", 1.5, "between 0 and 1"),
        ("chat_rate_limit_per_minute", -1, "0 \\(no limit\\) or more"),
        ("webhook_rate_limit_per_minute", -5, "0 \\(no limit\\) or more"),
        ("session_idle_minutes", 0, "at least 1"),
        ("gemini_timeout_seconds", 0, "more than 0"),
    ],
)
def test_settings_refuse_bad_values(fake_frappe, field, value, needle):
    mod = controller("assistant_crm_settings")
    doc = mod.AssistantCRMSettings(new=False, **{field: value})
    doc.meta = _settings_meta(mod)
    with pytest.raises(FakeValidationError, match=needle):
        doc.validate()


def test_settings_accept_good_values(fake_frappe):
    mod = controller("assistant_crm_settings")
    assert mod.allowlist_problems("10.0.0.0/8, 2001:db8::/32\n196.46.1.2") == []
    doc = mod.AssistantCRMSettings(
        new=False, gemini_base_url=" https://generativelanguage.googleapis.com ", intent_confidence_threshold=0.45,
        chat_rate_limit_per_minute=30, gemini_timeout_seconds=8,
    )  # fmt: skip
    doc.meta = _settings_meta(mod)
    doc.validate()
    assert doc.gemini_base_url == "https://generativelanguage.googleapis.com"


def test_settings_accept_zero_for_no_rate_limit(fake_frappe):
    # The engine reads 0 as "no limit" (rate_limit.hit, chat._limits); the form must let it be saved.
    mod = controller("assistant_crm_settings")
    doc = mod.AssistantCRMSettings(new=False, chat_rate_limit_per_minute=0, webhook_rate_limit_per_minute=0)
    doc.meta = _settings_meta(mod)
    doc.validate()
