"""The mapping logic of runtime/frappe.py that needs no site.

Frappe is not installable here, so a tiny stand-in ``frappe`` module is put in
``sys.modules`` for these tests only. It records what our code asks of Frappe
(whitelist arguments, enqueue calls, raw cache keys); everything checked is our
own logic: error -> status mapping, argument binding, filters -> SQL, role
checks, make_key on every raw cache call, one runtime per site. The real
behaviour against a bench is covered by the FrappeTestCase modules in the
DocType folders.
"""

from __future__ import annotations

import importlib
import json
import sys
import types
from typing import Any

import pytest
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request, Response

from assistant_crm.api.endpoint import EndpointSpec, RawResponse, current_request
from assistant_crm.services.infra import errors
from assistant_crm.services.infra.ports import get_runtime, set_runtime, set_runtime_factory


class _Dict(dict):
    __getattr__ = dict.get

    def __setattr__(self, k, v):
        self[k] = v


class FakeRedis:
    """Raw redis calls as redis-py answers them; make_key as Frappe v15 builds it."""

    def __init__(self, local):
        self.data: dict[bytes, Any] = {}
        self.ttl: dict[bytes, int] = {}
        self.raw_keys: list[Any] = []
        self._local = local

    def make_key(self, key, user=None, shared=False):
        return f"{self._local.conf.db_name}|{key}".encode()

    def _seen(self, key):
        self.raw_keys.append(key)

    def get(self, key):
        self._seen(key)
        v = self.data.get(key)
        return None if v is None else str(v).encode()

    def set(self, key, value, ex=None, nx=False):
        self._seen(key)
        if nx and key in self.data:
            return None
        self.data[key] = value
        if ex:
            self.ttl[key] = ex
        return True

    def delete(self, key):
        self._seen(key)
        self.data.pop(key, None)

    def incrby(self, key, amount):
        self._seen(key)
        self.data[key] = int(self.data.get(key, 0)) + amount
        return self.data[key]


class _DF:
    def __init__(self, fieldname, fieldtype):
        self.fieldname, self.fieldtype = fieldname, fieldtype


@pytest.fixture
def fake_frappe(monkeypatch):
    fr = types.ModuleType("frappe")
    fr.local = _Dict(
        site="site-a.local",
        conf=_Dict(db_name="_db_a"),
        flags=_Dict(),
        response=_Dict(),
        request_ip="10.1.2.3",
    )
    fr.session = _Dict(user="Guest")
    fr.cache = FakeRedis(fr.local)
    fr.whitelisted = []
    fr.enqueued = []
    fr.roles = ["Guest"]
    fr.request = None

    def whitelist(allow_guest=False, xss_safe=False, methods=None):
        def inner(fn):
            fr.whitelisted.append((fn, allow_guest, xss_safe, methods))
            return fn

        return inner

    fr.whitelist = whitelist
    fr.get_roles = lambda username=None: list(fr.roles)
    fr.enqueue = lambda method, **kw: fr.enqueued.append((method, kw))
    fr.get_attr = lambda path: getattr(
        importlib.import_module(path.rsplit(".", 1)[0]), path.rsplit(".", 1)[1]
    )
    meta_fields = {
        "Omnichannel Message": [_DF("status", "Select"), _DF("attempts", "Int"), _DF("payload", "JSON")],
    }
    fr.get_meta = lambda doctype: types.SimpleNamespace(fields=meta_fields.get(doctype, []))
    for exc in ("DuplicateEntryError", "UniqueValidationError", "ValidationError"):
        setattr(fr, exc, type(exc, (Exception,), {}))

    monkeypatch.setitem(sys.modules, "frappe", fr)
    monkeypatch.delitem(sys.modules, "assistant_crm.runtime.frappe", raising=False)
    module = importlib.import_module("assistant_crm.runtime.frappe")
    yield fr, module
    # Leave no trace: later tests must see the standalone world again.
    sys.modules.pop("assistant_crm.runtime.frappe", None)
    set_runtime_factory(None)
    set_runtime(None)


def _request(fr, method="POST", body=b"", content_type="application/json", headers=None, multithread=False):
    env = EnvironBuilder(
        path="/api/method/x",
        method=method,
        data=body,
        content_type=content_type,
        headers=headers or {},
        multithread=multithread,
    )
    fr.request = Request(env.get_environ())


def _spec(func, **kw):
    base = dict(
        path=f"{func.__module__}.{func.__name__}",
        func=func,
        allow_guest=True,
        methods=("POST",),
        roles=(),
        max_body_bytes=1024,
        raw_args=False,
    )
    base.update(kw)
    return EndpointSpec(**base)


# -- endpoints ------------------------------------------------------------------
def test_wrap_endpoint_whitelists_with_xss_safe_and_methods(fake_frappe):
    fr, m = fake_frappe

    def send(message: str, session_id: str | None = None):
        return {"echo": message, "sid": session_id}

    handler = m.wrap_endpoint(send, _spec(send, methods=("POST", "GET")))
    fn, allow_guest, xss_safe, methods = fr.whitelisted[-1]
    assert fn is handler and allow_guest is True and xss_safe is True and methods == ["POST", "GET"]
    assert not hasattr(handler, "__wrapped__")  # Frappe must pass us every argument
    _request(fr, body=b'{"message": "<b>hi</b>"}')
    assert handler(cmd="x.send", message="<b>hi</b>") == {"echo": "<b>hi</b>", "sid": None}


@pytest.mark.parametrize(
    ("form", "needle"),
    [
        ({"session_id": "s"}, "missing parameter: message"),
        ({"message": "m", "bogus": 1}, "unknown parameter: bogus"),
    ],
)
def test_bad_arguments_are_a_400_naming_them(fake_frappe, form, needle):
    fr, m = fake_frappe

    def send(message: str, session_id: str | None = None):
        return "never"

    handler = m.wrap_endpoint(send, _spec(send))
    _request(fr, body=json.dumps(form).encode())
    resp = handler(cmd="x", **form)
    assert isinstance(resp, Response) and resp.status_code == 400
    body = json.loads(resp.get_data())
    assert body["exc_type"] == "ValidationError"
    assert needle in json.loads(json.loads(body["_server_messages"])[0])["message"]
    assert fr.local.response.http_status_code == 400


@pytest.mark.parametrize(
    ("exc", "status", "exc_type"),
    [
        (errors.ValidationError("bad"), 400, "ValidationError"),
        (errors.AuthenticationError("who"), 401, "AuthenticationError"),
        (errors.PermissionDenied("no"), 403, "PermissionError"),
        (errors.NotFound("gone"), 404, "DoesNotExistError"),
        (errors.DuplicateError("dup"), 409, "DuplicateEntryError"),
        (errors.PayloadTooLarge("big"), 413, "RequestEntityTooLargeError"),
        (errors.RateLimited(retry_after=17), 429, "RateLimitExceededError"),
        (errors.ServiceUnavailable("down"), 503, "ServiceUnavailableError"),
    ],
)
def test_engine_errors_become_their_status(fake_frappe, exc, status, exc_type):
    fr, m = fake_frappe

    def boom():
        raise exc

    handler = m.wrap_endpoint(boom, _spec(boom))
    _request(fr)
    resp = handler(cmd="x")
    assert resp.status_code == status
    assert json.loads(resp.get_data())["exc_type"] == exc_type
    if status == 429:
        assert resp.headers["Retry-After"] == "17"


def test_raw_response_and_request_info(fake_frappe):
    fr, m = fake_frappe
    fr.session.user = "agent@example.com"
    fr.roles = ["Assistant CRM Agent"]
    seen = {}

    def hook():
        info = current_request()
        seen.update(
            body=info.body,
            sig=info.header("X-Hub-Signature-256"),
            ip=info.remote_addr,
            user=info.user,
            roles=info.roles,
        )
        return RawResponse("challenge-123", status=200, headers={"X-Test": "1"})

    handler = m.wrap_endpoint(hook, _spec(hook, raw_args=True, allow_guest=False))
    _request(fr, body=b'{"raw": true}', headers={"X-Hub-Signature-256": "sha256=ab"})
    resp = handler(cmd="x", raw=True)  # raw_args: form values are not parameters
    assert (
        isinstance(resp, Response) and resp.get_data() == b"challenge-123" and resp.headers["X-Test"] == "1"
    )
    assert seen == {
        "body": b'{"raw": true}',
        "sig": "sha256=ab",
        "ip": "10.1.2.3",
        "user": "agent@example.com",
        "roles": ("Assistant CRM Agent",),
    }


def test_roles_and_body_size_are_enforced(fake_frappe):
    fr, m = fake_frappe

    def manage():
        return "ok"

    handler = m.wrap_endpoint(
        manage, _spec(manage, roles=("Assistant CRM Manager",), allow_guest=False, max_body_bytes=10)
    )
    fr.session.user, fr.roles = "agent@example.com", ["Assistant CRM Agent"]
    _request(fr)
    assert handler(cmd="x").status_code == 403
    fr.roles = ["Assistant CRM Manager"]
    assert handler(cmd="x") == "ok"
    _request(fr, body=b"x" * 11, content_type="text/plain")
    assert handler(cmd="x").status_code == 413


def test_roles_allow(fake_frappe):
    _, m = fake_frappe
    agent, manager = "Assistant CRM Agent", "Assistant CRM Manager"
    assert m.roles_allow([agent], "a@x", [agent])
    assert m.roles_allow([agent], "m@x", [manager])  # managers can do what agents do
    assert not m.roles_allow([manager], "a@x", [agent])
    assert m.roles_allow([manager], "s@x", ["System Manager"])
    assert m.roles_allow([manager], "Administrator", [])
    assert not m.roles_allow([agent], "Guest", ["Guest"])


# -- store helpers -----------------------------------------------------------------
def test_filters_map_to_frappe_filters(fake_frappe):
    _, m = fake_frappe
    got = m.to_frappe_filters(
        {"a": 1, "b": ("in", ("x", "y")), "c": ("is", "set"), "d": None, "e": ("<=", 5), "f": ("like", "ab%")}
    )
    assert got == {
        "a": 1,
        "b": ["in", ["x", "y"]],
        "c": ["is", "set"],
        "d": ["is", "not set"],
        "e": ["<=", 5],
        "f": ["like", "ab%"],
    }


def test_where_clause_uses_parameters_and_known_columns_only(fake_frappe):
    _, m = fake_frappe
    sql, params = m.where_clause(
        "Omnichannel Message",
        {
            "name": "abc",
            "status": ("in", ["queued", "failed"]),
            "attempts": ("<", 3),
            "payload": ("is", "not set"),
        },
    )
    assert sql == "`name` = %(w0)s AND `status` IN %(w1)s AND `attempts` < %(w2)s AND `payload` IS NULL"
    assert params == {"w0": "abc", "w1": ("queued", "failed"), "w2": 3}
    sql, params = m.where_clause("Omnichannel Message", {"status": ("!=", "sent"), "attempts": ("in", [])})
    assert sql == "(`status` != %(w0)s OR `status` IS NULL) AND 1=0"
    with pytest.raises(errors.ValidationError, match="no field 'status`; DROP'"):
        m.where_clause("Omnichannel Message", {"status`; DROP": 1})


# -- cache, queue, runtime ------------------------------------------------------------
def test_every_raw_cache_call_is_site_prefixed(fake_frappe):
    fr, m = fake_frappe
    cache = m.FrappeCache()
    cache.set("k", {"a": 1}, ttl=30)
    assert cache.get("k") == {"a": 1}
    assert cache.add("lock", "me", ttl=5) is True
    assert cache.add("lock", "you", ttl=5) is False
    assert cache.incr("n", 2, ttl=60) == 2 and cache.incr("n", 3, ttl=60) == 5
    cache.delete("k")
    assert cache.get("k") is None
    assert fr.cache.raw_keys and all(k.startswith(b"_db_a|") for k in fr.cache.raw_keys)
    assert fr.cache.ttl[b"_db_a|assistant_crm:n"] == 60
    fr.local.conf.db_name = "_db_b"  # another site on the same Redis
    assert cache.get("lock") is None


def test_queue_goes_through_the_trampoline_after_commit(fake_frappe):
    fr, m = fake_frappe
    m.FrappeQueue().enqueue(
        "assistant_crm.services.infra.masking.mask_phone", phone="+260971234567", event="x"
    )
    method, kw = fr.enqueued[-1]
    assert method == "assistant_crm.runtime.frappe.run_job"
    assert kw["queue"] == "short" and kw["enqueue_after_commit"] is True
    assert kw["job_method"] == "assistant_crm.services.infra.masking.mask_phone"
    assert kw["job_kwargs"] == {"phone": "+260971234567", "event": "x"}
    out = m.run_job("assistant_crm.services.infra.masking.mask_phone", {"phone": "+260971234567"})
    assert out == "+260 97*** **67"


def test_one_runtime_per_site(fake_frappe):
    fr, m = fake_frappe
    set_runtime(None)
    m.install(method="x", kwargs={}, transaction_type="job")  # before_job passes these
    a1 = get_runtime()
    assert a1 is get_runtime() and a1.name == "frappe"
    fr.local.site = "site-b.local"
    b = get_runtime()
    assert b is not a1
    fr.local.site = "site-a.local"
    assert get_runtime() is a1


def test_last_row_for_update_is_a_locking_read(fake_frappe):
    fr, m = fake_frappe
    fr.get_meta = lambda doctype: types.SimpleNamespace(fields=[_DF("sequence", "Int"), _DF("hash", "Data")])
    seen = []

    def sql(query, values=None, as_dict=False):
        seen.append(query)
        return [{"name": "a1", "sequence": 7, "hash": "h"}]

    fr.db = types.SimpleNamespace(sql=sql)
    row = m.FrappeStore().last_row_for_update("Assistant Audit Log", "sequence", ["name", "sequence", "hash"])
    assert row == {"name": "a1", "sequence": 7, "hash": "h"}
    assert seen[0] == "SELECT `name` FROM `tabDocType` WHERE `name` = %s FOR UPDATE"  # the mutex first
    assert seen[-1].endswith("ORDER BY `sequence` DESC LIMIT 1 FOR UPDATE")
    with pytest.raises(errors.ValidationError):
        m.FrappeStore().last_row_for_update("Assistant Audit Log", "sequence", ["name; drop"])


_WHITELIST_PROBE = r"""
import json, sys, types
fr = types.ModuleType("frappe")
fr.__name__ = "frappe"
recorded = {}
def whitelist(allow_guest=False, xss_safe=False, methods=None):
    def inner(fn):
        recorded[f"{fn.__module__}.{fn.__name__}"] = {"fn": fn, "allow_guest": allow_guest, "xss_safe": xss_safe, "methods": methods}
        return fn
    return inner
fr.whitelist = whitelist
sys.modules["frappe"] = fr
import importlib
from assistant_crm.api.endpoint import REGISTRY, load_all_endpoints
load_all_endpoints()
out = {}
for path, spec in REGISTRY.items():
    mod, _, name = path.rpartition(".")
    rec = recorded.get(path)
    out[path] = {
        "whitelisted": rec is not None,
        "exported": rec is not None and getattr(importlib.import_module(mod), name) is rec["fn"],
        "allow_guest": rec and rec["allow_guest"] == spec.allow_guest,
        "xss_safe": rec and rec["xss_safe"],
        "methods": rec and rec["methods"] == list(spec.methods),
    }
print(json.dumps(out))
"""


def test_every_real_endpoint_is_whitelisted_under_frappe():
    """Import every API module with a stand-in frappe (in a fresh interpreter,
    so this process keeps its standalone endpoints) and check each one is
    whitelisted with its spec's flags and exported as the whitelisted handler."""
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    out = subprocess.run([sys.executable, "-c", _WHITELIST_PROBE], cwd=root, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout)
    assert len(result) >= 5, result
    for path, checks in result.items():
        assert all(checks.values()), f"{path}: {checks}"


def test_insert_clash_is_a_duplicate_error_without_a_leftover_message(fake_frappe):
    fr, m = fake_frappe
    fr.local.message_log = [{"message": "earlier"}]

    class Doc:
        flags = types.SimpleNamespace()

        def insert(self, **kw):
            fr.local.message_log.append({"message": "Idempotency Key must be unique"})
            raise fr.UniqueValidationError("dup")

    fr.get_doc = lambda values: Doc()
    with pytest.raises(errors.DuplicateError):
        m.FrappeStore().insert("Omnichannel Message", {"status": "queued", "payload": {"a": 1}})
    assert fr.local.message_log == [{"message": "earlier"}]
    with pytest.raises(errors.ValidationError, match="no field 'bogus'"):
        m.FrappeStore().insert("Omnichannel Message", {"bogus": 1})


def test_insert_pins_creation_in_before_insert_without_a_second_update(fake_frappe):
    """Frappe stamps creation with "now" on insert; the engine's pinned time comes back
    through the before_insert hook (pin_creation), so no UPDATE follows the INSERT.
    Links are not re-checked (the engine writes links it has just read)."""
    fr, m = fake_frappe
    updates: list[tuple] = []
    fr.db = types.SimpleNamespace(set_value=lambda *a, **kw: updates.append((a, kw)))
    fr.get_meta = lambda doctype: types.SimpleNamespace(fields=[_DF("text", "Text")])
    seen: dict[str, Any] = {}

    class Doc(_Dict):
        def insert(self, ignore_permissions=None, set_name=None):
            seen["ignore_links"] = self.flags.ignore_links
            self.creation = "2026-11-29 22:00:00.000001"  # Frappe's own stamp
            if hooked:
                m.pin_creation(self, "before_insert")
            self.name = "row1"

    def get_doc(values):
        doc = Doc(values)
        doc.flags = _Dict()
        return doc

    fr.get_doc = get_doc
    pinned = "2026-11-29 21:59:58.123456"
    hooked = True
    assert m.FrappeStore().insert("Chat History", {"text": "hi", "creation": pinned}) == "row1"
    assert seen["ignore_links"] is True and updates == []
    # A DocType without the hook still gets its pinned time, written back once.
    hooked = False
    m.FrappeStore().insert("Chat History", {"text": "hi", "creation": pinned})
    assert updates == [(("Chat History", "row1", "creation", pinned), {"update_modified": False})]


def test_after_commit_defers_to_frappes_callbacks_once_per_key(fake_frappe):
    """Like the standalone store: nothing runs before the commit; the same key once per transaction."""
    import collections

    fr, m = fake_frappe

    class CallbackManager:  # Frappe v15's frappe.utils.CallbackManager, as far as we use it
        def __init__(self):
            self._functions = collections.deque()

        def add(self, fn):
            self._functions.append(fn)

        def run(self):
            while self._functions:
                self._functions.popleft()()

    fr.db = types.SimpleNamespace(after_commit=CallbackManager())
    ran: list[str] = []
    store = m.FrappeStore()
    store.after_commit(lambda: ran.append("a"), key=("live", "s1"))
    store.after_commit(lambda: ran.append("a again"), key=("live", "s1"))
    store.after_commit(lambda: ran.append("b"), key=("live", "s2"))
    store.after_commit(lambda: ran.append("c"))
    assert ran == []
    fr.db.after_commit.run()  # the commit
    assert ran == ["a", "b", "c"]
    store.after_commit(lambda: ran.append("a, next transaction"), key=("live", "s1"))
    fr.db.after_commit.run()
    assert ran[-1] == "a, next transaction"


def test_new_snapshot_commits_so_a_long_poll_sees_other_commits(fake_frappe):
    fr, m = fake_frappe
    commits: list[int] = []
    fr.db = types.SimpleNamespace(commit=lambda: commits.append(1))
    m.FrappeStore().new_snapshot()
    assert commits == [1]


def test_field_types_are_read_once_per_site_and_doctype(fake_frappe):
    fr, m = fake_frappe
    calls: list[str] = []
    fr.get_meta = lambda doctype: calls.append(doctype) or types.SimpleNamespace(fields=[_DF("text", "Text")])
    for _ in range(3):
        assert m._field_types("Chat History") == {"text": "Text"}
    fr.local.site = "site-b.local"
    m._field_types("Chat History")
    assert calls == ["Chat History", "Chat History"]


def test_pin_creation_is_hooked_for_the_doctypes_whose_creation_the_engine_pins():
    import assistant_crm.hooks as h

    for doctype in ("Chat History", "Assistant Audit Log"):
        assert h.doc_events[doctype]["before_insert"] == "assistant_crm.runtime.frappe.pin_creation"


def test_settings_are_read_once_per_site_until_saved(fake_frappe):
    """A turn reads 20-30 settings: one read of the Single (passwords decrypted
    once) per site and process, read again only after a save commits."""
    fr, m = fake_frappe
    reads: list[str] = []
    stored = {"assistant_name": "Mwana", "whatsapp_app_secret": "s3cret"}

    class SettingsDoc:
        def get(self, fieldname):
            return stored.get(fieldname) if fieldname != "whatsapp_app_secret" else "*****"

        def get_password(self, fieldname, raise_exception=True):
            reads.append(f"password:{fieldname}")
            return stored.get(fieldname)

    def get_single(doctype):
        reads.append(doctype)
        return SettingsDoc()

    committed: list = []
    fr.get_single = get_single
    fr.db = types.SimpleNamespace(after_commit=types.SimpleNamespace(add=committed.append))
    m.install()
    rt = get_runtime()
    for _ in range(3):
        assert rt.settings.str("assistant_name") == "Mwana"
        assert rt.settings.str("whatsapp_app_secret") == "s3cret"
    assert reads.count("Assistant CRM Settings") == 1
    assert reads.count("password:whatsapp_app_secret") == 1

    stored["assistant_name"] = "Chanda"
    for hook in rt.extras["on_settings_change"]:
        hook()
    assert rt.settings.str("assistant_name") == "Mwana"  # not before the save commits
    for callback in committed:
        callback()
    assert rt.settings.str("assistant_name") == "Chanda"
    assert reads.count("Assistant CRM Settings") == 2


# -- issue 12: cookies and encryption through Frappe's own machinery -------------
class FakeCookieManager:
    """``frappe.local.cookie_manager`` as Frappe v15 has it (frappe/auth.py CookieManager)."""

    def __init__(self):
        self.cookies: dict[str, dict] = {}
        self.to_delete: list[str] = []

    def set_cookie(
        self, key, value, expires=None, secure=False, httponly=False, samesite="Lax", max_age=None
    ):
        self.cookies[key] = dict(
            value=value, secure=secure, httponly=httponly, samesite=samesite, max_age=max_age
        )

    def delete_cookie(self, to_delete):
        self.to_delete.extend(to_delete if isinstance(to_delete, list | tuple) else [to_delete])


def test_endpoint_cookies_go_through_frappes_cookie_manager(fake_frappe):
    from assistant_crm.api.endpoint import set_response_cookie

    fr, m = fake_frappe
    fr.local.cookie_manager = FakeCookieManager()

    def bind(session_id: str):
        seen = current_request().cookie("acrm_chat")
        set_response_cookie("acrm_chat", "new-value", max_age=2100)
        return {"seen": seen}

    handler = m.wrap_endpoint(bind, _spec(bind))
    _request(fr, body=b'{"session_id": "s"}', headers={"Cookie": "acrm_chat=old-value"})
    assert handler(cmd="x", session_id="s") == {"seen": "old-value"}
    assert fr.local.cookie_manager.cookies["acrm_chat"] == dict(
        value="new-value", secure=False, httponly=True, samesite="Lax", max_age=2100
    )
    # Behind a proxy that terminates HTTPS: Secure.
    _request(fr, body=b'{"session_id": "s"}', headers={"X-Forwarded-Proto": "https"})
    handler(cmd="x", session_id="s")
    assert fr.local.cookie_manager.cookies["acrm_chat"]["secure"] is True

    def forget(session_id: str):
        set_response_cookie("acrm_chat", "")
        return "ok"

    handler = m.wrap_endpoint(forget, _spec(forget))
    _request(fr, body=b'{"session_id": "s"}')
    handler(cmd="x", session_id="s")
    assert fr.local.cookie_manager.to_delete == ["acrm_chat"]


def test_personal_data_at_rest_is_sealed_with_the_sites_encryption_key(fake_frappe, monkeypatch):
    from cryptography.fernet import Fernet

    from assistant_crm.services.infra import crypto

    fr, m = fake_frappe
    site_key = Fernet.generate_key().decode()
    calls = []

    def encrypt(txt, encryption_key=None):  # frappe.utils.password.encrypt, v15 signature
        calls.append("encrypt")
        return Fernet((encryption_key or site_key).encode()).encrypt(txt.encode()).decode()

    def decrypt(txt, encryption_key=None, key=None):
        calls.append("decrypt")
        try:
            return Fernet((encryption_key or site_key).encode()).decrypt(txt.encode()).decode()
        except Exception:
            raise fr.ValidationError("Encryption key is invalid!") from None

    utils = types.ModuleType("frappe.utils")
    password = types.ModuleType("frappe.utils.password")
    password.encrypt, password.decrypt = encrypt, decrypt
    utils.password = password
    monkeypatch.setitem(sys.modules, "frappe.utils", utils)
    monkeypatch.setitem(sys.modules, "frappe.utils.password", password)
    set_runtime(None)
    m.install()
    sealed = crypto.seal("305812/61/1")
    assert sealed.startswith(crypto.SITE_PREFIX) and "305812" not in sealed
    # It is Frappe's encryption under the site key, nothing of ours.
    assert Fernet(site_key.encode()).decrypt(sealed[len(crypto.SITE_PREFIX) :].encode()) == b"305812/61/1"
    assert crypto.open_sealed(sealed) == "305812/61/1"
    assert calls == ["encrypt", "decrypt"]
    # The site key changed (a restore without site_config): empty, never an error.
    site_key = Fernet.generate_key().decode()
    assert crypto.open_sealed(sealed) == ""


def test_request_info_says_whether_the_server_answers_one_request_at_a_time(fake_frappe):
    """gunicorn's sync workers (bench's production config) set ``wsgi.multithread`` false:
    chat.get_messages must not wait there; ``bench serve`` and gthread workers set it true."""
    fr, m = fake_frappe
    _request(fr, method="GET")
    assert m.request_info().serves_one_at_a_time is True
    _request(fr, method="GET", multithread=True)
    assert m.request_info().serves_one_at_a_time is False
