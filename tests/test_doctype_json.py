"""Every DocType JSON (and the workspace, cards, charts, fixtures, hooks) is
valid for Frappe v15, checked without Frappe.

The rules are the ones ``frappe/core/doctype/doctype/doctype.py`` (validate_fields,
validate_permissions) and ``frappe/model/__init__.py`` enforce in v15; the lists
below are copied from the v15 source so a bench install cannot surprise us.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import re
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "assistant_crm"
MODULE_NAME = "Assistant CRM"
MODULE_DIR = APP / "assistant_crm"
DOCTYPE_DIR = MODULE_DIR / "doctype"

# frappe/model/__init__.py (v15)
DATA_FIELDTYPES = {
    "Currency", "Int", "Long Int", "Float", "Percent", "Check", "Small Text", "Long Text", "Code", "Text Editor",
    "Markdown Editor", "HTML Editor", "Date", "Datetime", "Time", "Text", "Data", "Link", "Dynamic Link", "Password",
    "Select", "Rating", "Read Only", "Attach", "Attach Image", "Signature", "Color", "Barcode", "Geolocation",
    "Duration", "Icon", "Phone", "Autocomplete", "JSON",
}  # fmt: skip
NO_VALUE_FIELDS = {
    "Section Break", "Column Break", "Tab Break", "HTML", "Table", "Table MultiSelect", "Button", "Image", "Fold",
    "Heading",
}  # fmt: skip
TABLE_FIELDS = {"Table", "Table MultiSelect"}
DATA_FIELD_OPTIONS = {"Email", "Name", "Phone", "URL", "Barcode"}
DEFAULT_FIELDS = {"doctype", "name", "owner", "creation", "modified", "modified_by", "docstatus", "idx"}
CHILD_TABLE_FIELDS = {"parent", "parentfield", "parenttype"}
OPTIONAL_FIELDS = {"_user_tags", "_comments", "_assign", "_liked_by", "_seen"}
# BaseDocument._reserved_keywords (v15)
RESERVED_KEYWORDS = {
    "doctype", "meta", "flags", "parent_doc", "_table_fields", "_valid_columns", "_doc_before_save",
    "_table_fieldnames", "_reserved_keywords", "permitted_fieldnames", "dont_update_if_missing",
}  # fmt: skip
# doctype.py check_unique_and_text / check_in_list_view (v15)
UNIQUE_ALLOWED = {"Data", "Link", "Read Only", "Int"}
NOT_INDEXABLE = {"Text", "Long Text", "Small Text", "Code", "Text Editor"}
NOT_IN_LIST_VIEW = NO_VALUE_FIELDS | {"Attach Image"}
NAMING_RULES = {
    "", "Set by user", "Autoincrement", "By fieldname", 'By "Naming Series" field', "Expression",
    "Expression (old style)", "Random", "By script",
}  # fmt: skip
PERM_RIGHTS = {"select", "read", "write", "create", "delete", "submit", "cancel", "amend", "report", "import",
               "export", "print", "email", "share"}  # fmt: skip
CORE_ROLES = {"System Manager", "Administrator", "Guest", "All", "Desk User", "Website Manager"}
OUR_ROLES = {"Assistant CRM Manager", "Assistant CRM Agent"}

# Public methods and properties of frappe.model.document.Document and BaseDocument
# (v15): doctype.py check_fieldname_conflicts refuses fieldnames that shadow them.
DOCUMENT_ATTRIBUTES = set(
    """
add_comment
add_seen
add_tag
add_to_return_value
add_viewed
append
apply_fieldlevel_read_permissions
as_dict
as_json
cancel
cast
check_docstatus_transition
check_if_latest
check_if_locked
check_no_back_links_exist
check_permission
clear_cache
compose
composer
copy_attachments_from_amended_from
db_get
db_insert
db_set
db_update
db_update_all
deferred_insert
delete
delete_key
docstatus
extend
fn
get
get_all_children
get_assigned_users
get_db_value
get_doc_before_save
get_document_share_key
get_field_name_by_key_name
get_formatted
get_invalid_links
get_label_from_fieldname
get_latest
get_liked_by
get_msg
get_onload
get_parentfield_of_doctype
get_password
get_permissions
get_permlevel_access
get_signature
get_table_field_doctype
get_tags
get_title
get_url
get_valid_columns
get_valid_dict
get_value
get_values
getone
has_content
has_permission
has_permlevel_access_to
has_value_changed
hook
in_format_data
init_child_tables
init_valid_columns
insert
is_child_table_same
is_dummy_password
is_locked
is_new
is_print_hide
is_whitelisted
load_doc_before_save
load_from_db
lock
log_error
meta
notify_update
parent_doc
permitted_fieldnames
precision
queue_action
raise_no_permission_to
reload
remove
remove_tag
remove_unpicklable_values
rename
reset_seen
reset_values_if_no_permlevel_access
round_floats_in
run_before_save_methods
run_method
run_notifications
run_post_save_methods
run_trigger
runner
save
save_version
set
set_docstatus
set_fetch_from_value
set_name_in_children
set_new_name
set_onload
set_parent_in_children
set_title_field
set_user_and_timestamp
show_unique_validation_message
submit
throw_length_exceeded_error
unlock
update
update_child_table
update_children
update_if_missing
update_modified
update_single
validate_amended_from
validate_from_to_dates
validate_higher_perm_levels
validate_set_only_once
validate_table_has_rows
validate_update_after_submit
validate_value
validate_workflow
""".split()
) | {"docstatus", "is_locked", "meta", "parent_doc", "permitted_fieldnames", "flags"}

# Every DocType of Frappe v15 (frappe/**/doctype/*/*.json, version-15 branch).
FRAPPE_V15_DOCTYPES = frozenset(
    """
About Us Settings
About Us Team Member
Access Log
Activity Log
Address
Address Template
Amended Document Naming Settings
Assignment Rule
Assignment Rule Day
Assignment Rule User
Audit Trail
Auto Email Report
Auto Repeat
Auto Repeat Day
Block Module
Blog Category
Blog Post
Blog Settings
Blogger
Bulk Update
Calendar View
Changelog Feed
Client Script
Color
Comment
Communication
Communication Link
Company History
Connected App
Console Log
Contact
Contact Email
Contact Phone
Contact Us Settings
Country
Currency
Custom DocPerm
Custom Field
Custom HTML Block
Custom Role
Customize Form
Customize Form Field
Dashboard
Dashboard Chart
Dashboard Chart Field
Dashboard Chart Link
Dashboard Chart Source
Dashboard Settings
Data Export
Data Import
Data Import Log
DefaultValue
Deleted Document
Desktop Icon
Discussion Reply
Discussion Topic
DocField
DocPerm
DocShare
DocType
DocType Action
DocType Layout
DocType Layout Field
DocType Link
DocType State
Document Follow
Document Naming Rule
Document Naming Rule Condition
Document Naming Settings
Document Share Key
Domain
Domain Settings
Dropbox Settings
Dynamic Link
Email Account
Email Domain
Email Flag Queue
Email Group
Email Group Member
Email Queue
Email Queue Recipient
Email Rule
Email Template
Email Unsubscribe
Energy Point Log
Energy Point Rule
Energy Point Settings
Error Log
Event
Event Participants
File
Form Tour
Form Tour Step
Gender
Global Search DocType
Global Search Settings
Google Calendar
Google Contacts
Google Drive
Google Settings
Has Domain
Has Role
Help Article
Help Category
IMAP Folder
Installed Application
Installed Applications
Integration Request
Kanban Board
Kanban Board Column
LDAP Group Mapping
LDAP Settings
Language
Letter Head
List Filter
List View Settings
Log Setting User
Log Settings
Logs To Clear
Marketing Campaign
Milestone
Milestone Tracker
Module Def
Module Onboarding
Module Profile
Navbar Item
Navbar Settings
Network Printer Settings
Newsletter
Newsletter Attachment
Newsletter Email Group
Note
Note Seen By
Notification
Notification Log
Notification Recipient
Notification Settings
Notification Subscribed Document
Number Card
Number Card Link
OAuth Authorization Code
OAuth Bearer Token
OAuth Client
OAuth Client Role
OAuth Provider Settings
OAuth Scope
Onboarding Permission
Onboarding Step
Onboarding Step Map
Package
Package Import
Package Release
Page
Patch Log
Permission Inspector
Personal Data Deletion Request
Personal Data Deletion Step
Personal Data Download Request
Portal Menu Item
Portal Settings
Prepared Report
Print Format
Print Format Field Template
Print Heading
Print Settings
Print Style
Property Setter
Push Notification Settings
Query Parameters
RQ Job
RQ Worker
Recorder
Recorder Query
Recorder Suggested Index
Reminder
Report
Report Column
Report Filter
Review Level
Role
Role Permission for Page and Report
Role Profile
Route History
S3 Backup Settings
SMS Parameter
SMS Settings
Salutation
Scheduled Job Log
Scheduled Job Type
Scheduler Event
Server Script
Session Default
Session Default Settings
Slack Webhook URL
Social Link Settings
Social Login Key
Submission Queue
Success Action
System Console
System Health Report
System Health Report Errors
System Health Report Failing Jobs
System Health Report Queue
System Health Report Tables
System Health Report Workers
System Settings
Tag
Tag Link
ToDo
Token Cache
Top Bar Item
Transaction Log
Translation
Unhandled Email
User
User Document Type
User Email
User Group
User Group Member
User Permission
User Select Document Type
User Social Login
User Type
User Type Module
Version
View Log
Web Form
Web Form Field
Web Form List Column
Web Page
Web Page Block
Web Page View
Web Template
Web Template Field
Webhook
Webhook Data
Webhook Header
Webhook Request Log
Website Meta Tag
Website Route Meta
Website Route Redirect
Website Script
Website Settings
Website Sidebar
Website Sidebar Item
Website Slideshow
Website Slideshow Item
Website Theme
Website Theme Ignore App
Workflow
Workflow Action
Workflow Action Master
Workflow Action Permitted Role
Workflow Document State
Workflow State
Workflow Transition
Workspace
Workspace Chart
Workspace Custom Block
Workspace Link
Workspace Number Card
Workspace Quick List
Workspace Shortcut
""".strip().splitlines()
)

# ERPNext DocTypes a CRM/helpdesk app could plausibly collide with (erpnext/crm,
# erpnext/support, erpnext/communication and common masters).
ERPNEXT_DOCTYPES = frozenset({
    "Lead", "Opportunity", "Prospect", "Campaign", "Appointment", "Appointment Booking Settings", "Contract",
    "Contract Template", "CRM Settings", "CRM Note", "Competitor", "Email Campaign", "Lead Source", "Market Segment",
    "Opportunity Type", "Sales Stage", "Social Media Post", "Customer", "Supplier", "Issue", "Issue Priority",
    "Issue Type", "Warranty Claim", "Service Level Agreement", "Service Level Priority", "Support Settings",
    "Support Search Source", "Maintenance Schedule", "Maintenance Visit", "Call Log", "Communication Medium",
    "Communication Medium Timeslot", "Call Popup Settings", "Incoming Call Settings", "Telephony Call Type",
    "Employee", "Company", "Item", "Project", "Task", "Timesheet", "Newsletter", "Payment Entry",
})  # fmt: skip


def doctype_folders() -> list[Path]:
    return sorted(p for p in DOCTYPE_DIR.iterdir() if p.is_dir() and not p.name.startswith("__"))


@cache
def load(folder: Path) -> dict:
    return json.loads((folder / f"{folder.name}.json").read_text())


@cache
def our_doctypes() -> dict[str, dict]:
    return {load(f)["name"]: load(f) for f in doctype_folders()}


def scrub(text: str) -> str:
    """frappe.scrub (v15)."""
    return text.replace(" ", "_").replace("-", "_").lower()


def controller_class(doctype: str) -> str:
    """frappe.model.base_document.get_controller's class name."""
    return doctype.replace(" ", "").replace("-", "")


def value_fields(doc: dict) -> list[dict]:
    return [f for f in doc["fields"] if f["fieldtype"] not in NO_VALUE_FIELDS]


FOLDERS = doctype_folders()
IDS = [f.name for f in FOLDERS]


def test_module_is_declared_and_present():
    modules = [m.strip() for m in (APP / "modules.txt").read_text().splitlines() if m.strip()]
    assert MODULE_NAME in modules
    assert (APP / scrub(MODULE_NAME) / "__init__.py").is_file()
    assert (DOCTYPE_DIR / "__init__.py").is_file()
    assert len(FOLDERS) >= 9


@pytest.mark.parametrize("folder", FOLDERS, ids=IDS)
def test_required_keys_and_names(folder):
    doc = load(folder)
    for key in ("doctype", "name", "module", "fields", "permissions", "field_order"):
        assert key in doc, f"{folder.name}: missing {key}"
    assert doc["doctype"] == "DocType"
    assert doc["module"] == MODULE_NAME
    assert scrub(doc["name"]) == folder.name, "folder and file names must be frappe.scrub(name)"
    assert doc["field_order"] == [f["fieldname"] for f in doc["fields"]]
    assert doc.get("naming_rule", "") in NAMING_RULES
    assert doc.get("sort_order", "DESC") in ("ASC", "DESC")
    assert doc.get("engine", "InnoDB") in ("InnoDB", "MyISAM")
    assert not doc.get("istable"), "no child tables expected"
    assert (folder / "__init__.py").is_file()


@pytest.mark.parametrize("folder", FOLDERS, ids=IDS)
def test_names_do_not_clash_with_frappe_or_erpnext(folder):
    name = load(folder)["name"]
    assert name not in FRAPPE_V15_DOCTYPES, f"{name} clashes with a Frappe v15 DocType"
    assert name not in ERPNEXT_DOCTYPES, f"{name} clashes with an ERPNext DocType"
    assert len(name) <= 61  # tab<name> must fit MariaDB's 64-character table names


@pytest.mark.parametrize("folder", FOLDERS, ids=IDS)
def test_fields_are_valid_for_frappe_v15(folder):
    doc = load(folder)
    names = [f["fieldname"] for f in doc["fields"]]
    assert len(names) == len(set(names)), f"duplicate fieldnames in {doc['name']}"
    for f in doc["fields"]:
        name, ftype = f["fieldname"], f["fieldtype"]
        where = f"{doc['name']}.{name}"
        assert re.fullmatch(r"[a-z][a-z0-9_]*", name) and len(name) <= 64, f"{where}: bad fieldname"
        assert ftype in DATA_FIELDTYPES | NO_VALUE_FIELDS, f"{where}: unknown fieldtype {ftype}"
        assert name not in DEFAULT_FIELDS | CHILD_TABLE_FIELDS | OPTIONAL_FIELDS, f"{where}: standard column"
        assert name not in RESERVED_KEYWORDS, f"{where}: reserved keyword"
        assert name not in DOCUMENT_ATTRIBUTES, f"{where}: shadows a Document method or property"
        if f.get("reqd"):
            assert ftype not in NO_VALUE_FIELDS, f"{where}: {ftype} cannot be mandatory"
            assert not (f.get("hidden") and not f.get("default")), (
                f"{where}: hidden and mandatory without default"
            )
        if f.get("unique") and not doc.get("issingle"):
            assert ftype in UNIQUE_ALLOWED, f"{where}: {ftype} cannot be unique"
        if f.get("search_index"):
            assert ftype not in NOT_INDEXABLE, f"{where}: {ftype} cannot be indexed"
        if f.get("in_list_view"):
            assert ftype not in NOT_IN_LIST_VIEW, f"{where}: {ftype} not allowed in list view"
        if ftype == "Select":
            options = (f.get("options") or "").split("\n")
            assert any(o.strip() for o in options), f"{where}: Select without options"
            if f.get("default"):
                assert f["default"] in options, f"{where}: default not among options"
        if ftype == "Check":
            assert str(f.get("default", "0")) in ("0", "1"), f"{where}: Check default must be 0 or 1"
        if ftype == "Data" and f.get("options"):
            assert f["options"] in DATA_FIELD_OPTIONS, (
                f"{where}: Data options must be one of {DATA_FIELD_OPTIONS}"
            )
        if ftype in ("Float", "Currency", "Percent") and f.get("precision") not in (None, ""):
            assert 1 <= int(f["precision"]) <= 6, f"{where}: precision must be 1..6"
        if ftype in ("Link", *TABLE_FIELDS):
            target = f.get("options")
            assert target, f"{where}: Link without options"
            assert target in our_doctypes() or target in FRAPPE_V15_DOCTYPES, f"{where}: no DocType {target}"
        if ftype == "Column Break":
            # The desk shows a column break's label as a heading over the column: a placeholder
            # such as "Column Break 1" appeared on the Chat Session form (seen on the bench).
            assert not re.fullmatch(r"(?i)column[ _]?break.*", f.get("label") or ""), (
                f"{where}: a Column Break label is shown as a heading; leave it out"
            )
        if ftype == "Dynamic Link":
            pointer = next((g for g in doc["fields"] if g["fieldname"] == f.get("options")), None)
            assert pointer and pointer["fieldtype"] in ("Link", "Select"), f"{where}: bad Dynamic Link"


@pytest.mark.parametrize("folder", FOLDERS, ids=IDS)
def test_doctype_properties_name_real_fields(folder):
    doc = load(folder)
    names = {f["fieldname"] for f in doc["fields"]}
    for key in ("title_field", "image_field", "timeline_field", "is_published_field"):
        if doc.get(key):
            assert doc[key] in names, f"{doc['name']}: {key} {doc[key]} is not a field"
    for part in filter(None, (doc.get("search_fields") or "").split(",")):
        assert part.strip() in names
    if doc.get("sort_field"):
        for part in doc["sort_field"].split(","):
            assert part.split()[0] in names | DEFAULT_FIELDS | CHILD_TABLE_FIELDS
    autoname = doc.get("autoname") or ""
    if autoname.startswith("field:"):
        source = next(f for f in doc["fields"] if f["fieldname"] == autoname[6:])
        assert source.get("reqd") and source.get("unique"), "the naming field must be mandatory and unique"
        assert doc.get("naming_rule") == "By fieldname"
    elif autoname == "hash":
        assert doc.get("naming_rule") in (None, "", "Random")


@pytest.mark.parametrize("folder", FOLDERS, ids=IDS)
def test_permissions_are_valid(folder):
    doc = load(folder)
    perms = doc["permissions"]
    assert perms, f"{doc['name']} has no permissions"
    seen = set()
    for p in perms:
        role = p.get("role")
        assert role in OUR_ROLES | CORE_ROLES, f"{doc['name']}: unknown role {role}"
        key = (role, p.get("permlevel", 0), p.get("if_owner", 0))
        assert key not in seen, f"{doc['name']}: duplicate permission row for {role}"
        seen.add(key)
        assert set(k for k, v in p.items() if v and k in PERM_RIGHTS) & {"select", "read", "write", "create"}
        assert not (p.get("cancel") and not p.get("submit"))
        assert not ((p.get("submit") or p.get("cancel") or p.get("amend")) and not p.get("write"))
        assert not (p.get("import") and not p.get("create"))
        if not doc.get("is_submittable"):
            assert not (p.get("submit") or p.get("amend"))
        if doc.get("issingle"):
            assert not p.get("report") and not p.get("import"), "Singles have no report/import rights"
    roles = {p["role"] for p in perms}
    assert "Assistant CRM Manager" in roles, "managers see everything"


def test_role_rules_of_the_issue():
    perms = {name: {p["role"]: p for p in d["permissions"]} for name, d in our_doctypes().items()}
    # Nobody edits Audit Log rows: no role may write, create or delete them.
    for role, p in perms["Assistant Audit Log"].items():
        assert not (p.get("write") or p.get("create") or p.get("delete")), role
    # Nor its head anchor (the engine alone moves it).
    for role, p in perms["Assistant Audit Anchor"].items():
        assert not (p.get("write") or p.get("create") or p.get("delete")), role
    assert "Assistant CRM Agent" not in perms["Assistant Audit Log"]
    # Agents read and reply to conversations.
    agent = perms["Chat Session"]["Assistant CRM Agent"]
    assert agent.get("read") and agent.get("write")
    assert perms["Chat History"]["Assistant CRM Agent"].get("create")
    # Managers: everything except the append-only audit log.
    for name, roles in perms.items():
        assert roles["Assistant CRM Manager"].get("read"), name
        if name not in ("Assistant Audit Log", "Assistant Audit Anchor", "Webhook Activity Log"):
            assert roles["Assistant CRM Manager"].get("write"), name


@pytest.mark.parametrize("folder", FOLDERS, ids=IDS)
def test_controller_and_test_module_exist(folder):
    doc = load(folder)
    controller = folder / f"{folder.name}.py"
    assert controller.is_file(), f"missing controller {controller.name}"
    tree = ast.parse(controller.read_text())
    classes = {n.name: n for n in tree.body if isinstance(n, ast.ClassDef)}
    cls = classes.get(controller_class(doc["name"]))
    assert cls is not None, f"{controller.name} must define class {controller_class(doc['name'])}"
    assert any(getattr(b, "id", None) == "Document" for b in cls.bases)
    assert (folder / f"test_{folder.name}.py").is_file()
    assert "frappe.tests.utils" in (folder / f"test_{folder.name}.py").read_text()


def _static_methods(folder: Path) -> set[str]:
    tree = ast.parse((folder / f"{folder.name}.py").read_text())
    out = set()
    for cls in (n for n in tree.body if isinstance(n, ast.ClassDef)):
        for fn in (n for n in cls.body if isinstance(n, ast.FunctionDef)):
            if any(getattr(d, "id", None) == "staticmethod" for d in fn.decorator_list):
                out.add(fn.name)
    return out


# -- hooks -------------------------------------------------------------------------
def _hooks_in_fresh_python() -> dict:
    """Import hooks.py in a new interpreter, proving it needs no frappe."""
    code = (
        "import json, sys, types; import assistant_crm.hooks as h; "
        "assert 'frappe' not in sys.modules; "
        "print(json.dumps({k: v for k, v in vars(h).items() if not k.startswith('_') "
        "and not isinstance(v, types.ModuleType)}))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, f"hooks.py does not import without frappe:\n{out.stderr[-2000:]}"
    return json.loads(out.stdout)


@cache
def hooks() -> dict:
    return _hooks_in_fresh_python()


def _dotted_paths(value) -> list[str]:
    if isinstance(value, str):
        return [value] if re.fullmatch(r"assistant_crm(\.\w+)+", value) else []
    if isinstance(value, dict):
        return [p for v in value.values() for p in _dotted_paths(v)]
    if isinstance(value, list):
        return [p for v in value for p in _dotted_paths(v)]
    return []


def test_hooks_basics():
    h = hooks()
    assert h["app_name"] == "assistant_crm"
    for key in ("app_title", "app_publisher", "app_description", "app_email", "app_license"):
        assert h[key], key
    assert h["web_include_js"] == ["/assets/assistant_crm/js/chat_bubble.js"]
    assert h["web_include_css"] == ["/assets/assistant_crm/css/chat_bubble.css"]
    assert "assistant_crm.runtime.frappe.install" in h["before_request"]
    assert "assistant_crm.runtime.frappe.install" in h["before_job"]
    cron = h["scheduler_events"]["cron"]["* * * * *"]
    assert (
        "assistant_crm.services.delivery.inbox.recover" in cron
        and "assistant_crm.services.delivery.outbox.dispatch_due" in cron
    )
    assert "all" not in h["scheduler_events"], "'all' runs every 4 minutes only"
    # install-app resolves each required app; a bare "frappe" is looked up on GitHub.
    assert "frappe" not in h.get("required_apps", [])
    for asset in h["web_include_js"] + h["web_include_css"]:
        assert (APP / "public" / asset.removeprefix("/assets/assistant_crm/")).is_file(), asset


def test_log_clearing_hooks_match_controllers():
    clearing = hooks()["default_log_clearing_doctypes"]
    assert "Assistant Audit Log" not in clearing, "the audit log is never cleared"
    assert {"Webhook Activity Log", "Chat History"} <= set(clearing)
    by_name = {load(f)["name"]: f for f in FOLDERS}
    for doctype, days in clearing.items():
        assert doctype in by_name and int(days) > 0
        assert "clear_old_logs" in _static_methods(by_name[doctype]), (
            f"{doctype} needs a static clear_old_logs"
        )
    assert "clear_old_logs" not in _static_methods(by_name["Assistant Audit Log"])


def test_fixtures_hook_and_files():
    fixtures = hooks()["fixtures"]
    names = {f if isinstance(f, str) else f["dt"] for f in fixtures}
    assert {"Intent Definition", "Knowledge Base Article", "Response Template", "Role"} <= names
    role_entry = next(f for f in fixtures if isinstance(f, dict) and f["dt"] == "Role")
    assert set(role_entry["filters"][0][2]) == OUR_ROLES
    roles = json.loads((APP / "fixtures" / "role.json").read_text())
    assert {r["name"] for r in roles} == OUR_ROLES and all(r["doctype"] == "Role" for r in roles)
    for doctype in ("Intent Definition", "Knowledge Base Article", "Response Template"):
        path = APP / "fixtures" / f"{scrub(doctype)}.json"
        if not path.is_file():
            pytest.skip(f"{path.name} is written by another engineer and is not there yet")
        docs = json.loads(path.read_text())
        assert docs and all(d["doctype"] == doctype for d in docs), path.name
        fields = {f["fieldname"] for f in our_doctypes()[doctype]["fields"]}
        for d in docs:
            unknown = set(d) - fields - DEFAULT_FIELDS
            assert not unknown, f"{path.name} {d.get('name')}: unknown fields {unknown}"


def _module_file(module: str) -> Path | None:
    spec = importlib.util.find_spec(module)
    return Path(spec.origin) if spec and spec.origin else None


def _hook_paths() -> list[str]:
    try:
        return sorted(set(_dotted_paths(hooks())))
    except AssertionError:
        return ["<hooks.py did not import>"]  # test_hooks_basics reports why


@pytest.mark.parametrize("path", _hook_paths())
def test_every_dotted_path_in_hooks_resolves(path):
    assert path.startswith("assistant_crm."), path
    module, _, attr = path.rpartition(".")
    file = _module_file(module)
    if file is None:
        pytest.skip(f"{module} is not written yet (another engineer's part)")
    tree = ast.parse(file.read_text())
    defined = {
        n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
    }
    defined |= {
        t.id for n in tree.body if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)
    }
    assert attr in defined, f"{path}: {file.name} defines no {attr}"


# -- workspace, number cards, dashboard charts ---------------------------------------
def _records(kind: str) -> list[tuple[Path, dict]]:
    base = MODULE_DIR / kind
    if not base.is_dir():
        return []
    return [
        (p, json.loads((p / f"{p.name}.json").read_text()))
        for p in sorted(base.iterdir())
        if p.is_dir() and not p.name.startswith("__")
    ]


def _known_fields(doctype: str) -> set[str]:
    return {f["fieldname"] for f in our_doctypes()[doctype]["fields"]} | DEFAULT_FIELDS


def _check_filters(filters_json: str, doctype: str | None) -> None:
    filters = json.loads(filters_json or "[]")
    if isinstance(filters, dict):
        return
    for flt in filters:
        dt, field, op = flt[0], flt[1], flt[2]
        assert dt == doctype, flt
        assert field in _known_fields(dt), f"filter on unknown field {dt}.{field}"
        assert op.lower() in {
            "=",
            "!=",
            "<",
            ">",
            "<=",
            ">=",
            "in",
            "not in",
            "like",
            "is",
            "timespan",
            "between",
        }


def test_number_cards():
    cards = _records("number_card")
    assert len(cards) >= 5
    for path, doc in cards:
        assert doc["doctype"] == "Number Card" and doc["module"] == MODULE_NAME
        assert scrub(doc["name"]) == path.name
        assert doc["type"] == "Document Type" and doc["function"] == "Count" and doc["is_standard"] == 1
        assert doc["document_type"] in our_doctypes()
        assert doc["stats_time_interval"] in ("Daily", "Weekly", "Monthly", "Yearly")
        _check_filters(doc["filters_json"], doc["document_type"])


def test_dashboard_charts_and_source():
    charts = _records("dashboard_chart")
    assert len(charts) >= 2
    for _path, doc in charts:  # a chart without roles is shown to nobody but the System Manager
        assert {r["role"] for r in doc["roles"]} == OUR_ROLES, doc["name"]
    sources = {doc["name"]: (path, doc) for path, doc in _records("dashboard_chart_source")}
    for path, doc in charts:
        assert doc["doctype"] == "Dashboard Chart" and doc["module"] == MODULE_NAME
        assert scrub(doc["name"]) == path.name and doc["chart_name"] == doc["name"]
        assert doc["chart_type"] in ("Count", "Sum", "Average", "Group By", "Custom", "Report")
        assert doc["type"] in ("Line", "Bar", "Percentage", "Pie", "Donut", "Heatmap")
        assert doc["timespan"] in (
            "Last Year",
            "Last Quarter",
            "Last Month",
            "Last Week",
            "Select Date Range",
        )
        assert doc["time_interval"] in ("Yearly", "Quarterly", "Monthly", "Weekly", "Daily")
        if doc["chart_type"] == "Custom":
            assert doc["source"] in sources, f"{doc['name']}: no chart source {doc['source']}"
            src_path, _src = sources[doc["source"]]
            assert (src_path / f"{src_path.name}.js").is_file() and (
                src_path / f"{src_path.name}.py"
            ).is_file()
            method = f"assistant_crm.assistant_crm.dashboard_chart_source.{src_path.name}.{src_path.name}.get"
            assert method in (src_path / f"{src_path.name}.js").read_text()
            assert (src_path / "__init__.py").is_file() and (src_path.parent / "__init__.py").is_file()
        else:
            assert doc["document_type"] in our_doctypes()
            _check_filters(doc["filters_json"], doc["document_type"])
            if doc["chart_type"] == "Group By":
                assert doc["group_by_based_on"] in _known_fields(doc["document_type"])


def test_workspace():
    path = MODULE_DIR / "workspace" / "assistant_crm" / "assistant_crm.json"
    ws = json.loads(path.read_text())
    assert ws["doctype"] == "Workspace" and ws["module"] == MODULE_NAME
    assert (
        ws["name"] == ws["label"] == ws["title"] == "Assistant CRM" and scrub(ws["name"]) == path.parent.name
    )
    cards = {doc["name"] for _, doc in _records("number_card")}
    charts = {doc["name"] for _, doc in _records("dashboard_chart")}
    assert {c["number_card_name"] for c in ws["number_cards"]} == cards
    assert {c["chart_name"] for c in ws["charts"]} == charts
    shortcut_labels = {s["label"] for s in ws["shortcuts"]}
    for s in ws["shortcuts"]:
        if s["type"] == "URL":  # the staff console page (www/wcfcb_dashboard.html)
            assert s["url"] == "/wcfcb_dashboard", s
            continue
        assert s["type"] == "DocType" and s["link_to"] in our_doctypes(), s
        if s.get("stats_filter"):
            json.loads(s["stats_filter"])
    assert {s.get("link_to") for s in ws["shortcuts"] if s["type"] == "DocType"} == set(our_doctypes()), (
        "a shortcut to every DocType"
    )
    card_breaks = {lk["label"] for lk in ws["links"] if lk["type"] == "Card Break"}
    for lk in ws["links"]:
        if lk["type"] == "Link":
            assert lk["link_type"] == "DocType" and lk["link_to"] in our_doctypes()
    # Content blocks find their widget by the child row's *label* (workspace/blocks/block.js).
    card_labels = {c["label"] for c in ws["number_cards"]}
    chart_labels = {c["label"] for c in ws["charts"]}
    kinds = set()
    for block in json.loads(ws["content"]):
        data = block["data"]
        kinds.add(block["type"])
        if block["type"] == "shortcut":
            assert data["shortcut_name"] in shortcut_labels
        elif block["type"] == "number_card":
            assert data["number_card_name"] in card_labels, data
        elif block["type"] == "chart":
            assert data["chart_name"] in chart_labels, data
        elif block["type"] == "card":
            assert data["card_name"] in card_breaks
    assert {"shortcut", "number_card", "chart", "card"} <= kinds
    assert {r["role"] for r in ws["roles"]} >= OUR_ROLES
