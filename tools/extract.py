"""Turn fetched bytes into text for a model: HTML → Markdown, JSON, plain text, PDF."""

from __future__ import annotations

import codecs
import json
import re
from typing import Any

__all__ = ["decode_text", "extract_content", "html_to_markdown", "pdf_to_text"]

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_\-:.]+)""", re.I)
_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.I | re.S)
_OG_TITLE = re.compile(r"""<meta[^>]+property=["']og:title["'][^>]+content=["']([^"']+)""", re.I)
MAX_HTML_CHARS = 2_000_000
"""HTML beyond this is not given to the extractor (its time grows with page size)."""


class ContentError(ValueError):
    """The content cannot be turned into text; the message says why."""


def _codec(name: str | None) -> str | None:
    if not name:
        return None
    try:
        return codecs.lookup(name.strip().strip("\"'")).name
    except LookupError:
        return None


def decode_text(body: bytes, header_charset: str | None, html: bool = False) -> str:
    """Decode with (in order) a BOM, the HTTP charset, a <meta> charset, UTF-8, a guess."""
    for bom, bom_enc in ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
                         (codecs.BOM_UTF16_BE, "utf-16")):
        if body.startswith(bom):
            return body.decode(bom_enc, errors="replace")
    enc = _codec(header_charset)
    if enc is None and html:
        m = _META_CHARSET.search(body[:4096])
        enc = _codec(m.group(1).decode("ascii", "replace")) if m else None
    if enc is not None:
        return body.decode(enc, errors="replace")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        from charset_normalizer import from_bytes

        best = from_bytes(body[:200_000]).best()
        if best is not None and best.encoding:
            return body.decode(best.encoding, errors="replace")
    except ImportError:  # pragma: no cover
        pass
    return body.decode("cp1252", errors="replace")


def _fallback_text(html: str) -> str:
    import lxml.html

    doc = lxml.html.fromstring(html)
    for bad in doc.xpath("//script|//style|//noscript|//nav|//header|//footer|//aside|"
                         "//form|//iframe|//svg"):
        bad.drop_tree()
    text = doc.text_content()
    lines = [re.sub(r"[ \t]+", " ", ln).strip() for ln in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _title(html: str) -> str:
    head = html[:200_000]
    m = _TITLE.search(head) or _OG_TITLE.search(head)
    if not m:
        return ""
    import html as html_lib

    return re.sub(r"\s+", " ", html_lib.unescape(m.group(1))).strip()


def html_to_markdown(html: str, url: str | None = None) -> tuple[str, str]:
    """(title, Markdown of the main content) with navigation, scripts and ads removed."""
    import trafilatura

    title = _title(html)
    text = trafilatura.extract(
        html, url=url, output_format="markdown", include_links=True, include_tables=True,
        include_images=False, include_comments=False, include_formatting=True,
        deduplicate=False)
    if not text or len(text.strip()) < 20:
        try:
            text = _fallback_text(html)
        except Exception:
            text = text or ""
    text = (text or "").strip()
    if not title:
        first = re.match(r"#+ (.+)", text)
        title = first.group(1).strip() if first else ""
    return title, text


def pdf_to_text(body: bytes, max_pages: int = 200) -> tuple[str, str]:
    """(title, text) of a PDF, page by page."""
    import io

    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(body))
        if reader.is_encrypted:
            try:
                reader.decrypt("")
            except Exception:
                raise ContentError("the PDF is encrypted; its text cannot be read") from None
        title = ""
        if reader.metadata is not None and reader.metadata.title:
            title = str(reader.metadata.title)
        pages = []
        for i, page in enumerate(reader.pages[:max_pages], 1):
            pages.append(f"## Page {i}\n\n{(page.extract_text() or '').strip()}")
        if len(reader.pages) > max_pages:
            pages.append(f"[only the first {max_pages} of {len(reader.pages)} pages shown]")
    except PdfReadError as exc:
        raise ContentError(f"the PDF could not be read: {exc}") from None
    return title, "\n\n".join(pages)


def _sniff(body: bytes) -> str:
    head = body[:512].lstrip().lower()
    if head.startswith(b"%pdf"):
        return "application/pdf"
    if head.startswith((b"<!doctype html", b"<html")) or b"<body" in head:
        return "text/html"
    if head.startswith((b"{", b"[")):
        return "application/json"
    return "text/plain"


def extract_content(body: bytes, content_type: str, url: str,
                    truncated: bool = False) -> tuple[str, str, str]:
    """(kind, title, text) for a response body; raises `ContentError` for non-text data."""
    from .textfiles import describe_binary, is_binary

    mime, _, params = content_type.partition(";")
    mime = mime.strip().lower()
    charset = None
    m = re.search(r"charset\s*=\s*([^\s;]+)", params, re.I)
    if m:
        charset = m.group(1)
    if mime in ("", "application/octet-stream", "binary/octet-stream"):
        mime = _sniff(body)
    if mime == "application/pdf":
        if truncated:
            raise ContentError("the PDF is larger than the download limit; it cannot be read "
                               "in part")
        title, text = pdf_to_text(body)
        return "pdf", title, text
    if mime in ("text/html", "application/xhtml+xml"):
        html = decode_text(body, charset, html=True)
        note = ""
        if len(html) > MAX_HTML_CHARS:
            html = html[:MAX_HTML_CHARS]
            note = (f"\n\n[the page's HTML is longer than {MAX_HTML_CHARS} characters; only the "
                    "first part was read]")
        title, text = html_to_markdown(html, url)
        return "html", title, text + note
    if mime == "application/json" or mime.endswith("+json"):
        raw = decode_text(body, charset)
        try:
            data: Any = json.loads(raw)
        except ValueError:
            return "json", "", raw
        return "json", "", json.dumps(data, indent=2, ensure_ascii=False)
    media = mime.startswith(("image/", "audio/", "video/", "font/", "application/zip"))
    if mime.startswith("text/") or mime.endswith(("+xml", "/xml", "/javascript")) or (
            not media and not is_binary(body[:8192])):
        return "text", "", decode_text(body, charset)
    raise ContentError(f"the response is {mime or 'binary data'} ({describe_binary(body[:16])}, "
                       f"{len(body)} bytes), not text; fetch_url only returns text, HTML, JSON "
                       "and PDF")
