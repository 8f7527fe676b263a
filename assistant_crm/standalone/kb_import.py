"""Reads knowledge-base articles from Markdown or JSON for ``assistant-crm import-kb``.

Markdown: one article per file; the first ``# heading`` is the title, and
leading ``Key: value`` lines (Category, Source, Keywords, Slug, Language) set
fields; the rest is the body. JSON: a list of article objects (or a Frappe
fixtures file) with the Knowledge Base Article field names.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from assistant_crm.services.infra.errors import DuplicateError
from assistant_crm.services.infra.ports import Store

DOCTYPE = "Knowledge Base Article"
_META = re.compile(r"^(category|source|keywords|slug|language|published)\s*:\s*(.+)$", re.I)


class KBImportError(Exception):
    """The file or folder cannot be imported; the message says why."""


@dataclass
class ArticleInput:
    title: str
    slug: str
    body: str
    source: str
    category: str = "General"
    keywords: str = ""
    language: str = "en"
    published: int = 1

    def as_row(self) -> dict:
        return {
            "title": self.title,
            "slug": self.slug,
            "body": self.body,
            "source": self.source,
            "category": self.category,
            "keywords": self.keywords,
            "language": self.language,
            "published": self.published,
        }


def slugify(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:120] or "article"


def parse_markdown(path: Path) -> ArticleInput:
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    title = ""
    meta: dict[str, str] = {}
    body: list[str] = []
    for line in lines:
        if not title and line.startswith("# "):
            title = line[2:].strip()
            continue
        m = _META.match(line.strip())
        if m and not body:
            meta[m.group(1).lower()] = m.group(2).strip()
            continue
        if body or line.strip():
            body.append(line)
    if not title:
        raise KBImportError(f"{path}: no '# Title' line")
    if not body:
        raise KBImportError(f"{path}: the article has no body")
    return ArticleInput(
        title=title,
        slug=meta.get("slug") or slugify(path.stem),
        body="\n".join(body).strip(),
        source=meta.get("source") or f"Imported from {path.name}",
        category=meta.get("category", "General"),
        keywords=meta.get("keywords", ""),
        language=meta.get("language", "en"),
        published=0 if meta.get("published", "1").lower() in ("0", "no", "false") else 1,
    )


def parse_json(path: Path) -> list[ArticleInput]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as e:
        raise KBImportError(f"{path}: not valid JSON ({e})") from None
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        raise KBImportError(f"{path}: expected a list of articles")
    out = []
    for i, item in enumerate(data):
        if not isinstance(item, dict) or not item.get("title") or not item.get("body"):
            raise KBImportError(f"{path}: article {i + 1} needs at least title and body")
        out.append(
            ArticleInput(
                title=str(item["title"]),
                slug=str(item.get("slug") or slugify(str(item["title"]))),
                body=str(item["body"]),
                source=str(item.get("source") or f"Imported from {path.name}"),
                category=str(item.get("category") or "General"),
                keywords=str(item.get("keywords") or ""),
                language=str(item.get("language") or "en"),
                published=int(item.get("published", 1) or 0),
            )
        )
    return out


def read_articles(path: Path) -> list[ArticleInput]:
    if not path.exists():
        raise KBImportError(f"{path}: no such file or folder")
    files = (
        sorted(p for p in path.rglob("*") if p.suffix.lower() in (".md", ".markdown", ".json"))
        if path.is_dir()
        else [path]
    )
    if not files:
        raise KBImportError(f"{path}: no .md or .json files")
    out: list[ArticleInput] = []
    for f in files:
        if f.suffix.lower() == ".json":
            out.extend(parse_json(f))
        elif f.suffix.lower() in (".md", ".markdown"):
            out.append(parse_markdown(f))
        else:
            raise KBImportError(f"{f}: only Markdown (.md) and JSON files can be imported")
    return out


def upsert_article(store: Store, article: ArticleInput) -> bool:
    """Insert or update by slug; True when created."""
    if store.get(DOCTYPE, article.slug):
        store.update(DOCTYPE, article.slug, article.as_row())
        return False
    try:
        store.insert(DOCTYPE, {"name": article.slug, **article.as_row()})
        return True
    except DuplicateError:
        store.update(DOCTYPE, article.slug, article.as_row())
        return False
