"""Turn fetched bytes into text for a model: HTML → Markdown, JSON, plain text, PDF.

Hostile pages must not cost more than linear time here: tags are found with `str.find`
(no regex scans a whole page with a backtracking pattern), and every output is capped
while it is built (`MAX_CONTENT_CHARS`). `agentkit.tools.extractproc` runs this module in
a worker process with time and memory limits; nothing here runs in the agent's process.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterator
from typing import Any

__all__ = ["MAX_CONTENT_CHARS", "decode_text", "extract_content", "html_to_markdown",
           "pdf_to_text", "pretty_json"]

_ATTR = re.compile(r"""(?<![\w:.-])([\w:.-]+)\s*=\s*("[^"]*"|'[^']*'|[^\s"'>]+)""")
_CHARSET = re.compile(r"""charset\s*=\s*["']?\s*([A-Za-z0-9_\-:.]+)""", re.I)
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
MAX_HTML_CHARS = 2_000_000
"""HTML beyond this is not given to the extractor (its time grows with page size)."""
MAX_CONTENT_CHARS = 2_000_000
"""Extracted text is cut here, while it is built (the model reads it 20,000 at a time)."""
_MAX_INDENT = 32


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
        head = body[:4096].decode("latin-1")
        for start, end in _tags(head, "meta"):
            m = _CHARSET.search(head, start, end)
            if m:
                enc = _codec(m.group(1))
                break
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


def _tags(text: str, name: str) -> Iterator[tuple[int, int]]:
    """(start, end) of each `<name ...>` tag (ASCII case-insensitive), in order: `end` is
    the index of its '>'. Linear in `text`."""
    low = text.translate(_ASCII_LOWER)
    key, pos = "<" + name, 0
    while (start := low.find(key, pos)) != -1:
        end = low.find(">", start)
        if end == -1:
            return
        after = low[start + len(key)]
        if after.isspace() or after in "/>":
            yield start, end
        pos = end + 1


def _attributes(tag: str) -> dict[str, str]:
    return {m.group(1).lower(): m.group(2).strip("\"'") for m in _ATTR.finditer(tag)}


def _title(html: str) -> str:
    """The page's <title>, else its og:title; found in linear time."""
    import html as html_lib

    head = html[:200_000]
    title = ""
    for _, end in _tags(head, "title"):
        close = head.translate(_ASCII_LOWER).find("</title", end + 1)
        if close != -1:
            title = head[end + 1: close]
        break
    if not title.strip():
        for start, end in _tags(head, "meta"):
            attrs = _attributes(head[start:end])
            if attrs.get("property", "").lower() == "og:title" and attrs.get("content"):
                title = attrs["content"]
                break
    return " ".join(html_lib.unescape(title).split())


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


def pdf_to_text(body: bytes, max_pages: int = 200,
                max_chars: int = MAX_CONTENT_CHARS) -> tuple[str, str]:
    """(title, text) of a PDF, page by page, stopping once `max_chars` are reached."""
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
        pages: list[str] = []
        size = 0
        count = len(reader.pages)
        for i, page in enumerate(reader.pages[:max_pages], 1):
            pages.append(f"## Page {i}\n\n{(page.extract_text() or '').strip()}")
            size += len(pages[-1]) + 2
            if size > max_chars:
                pages.append(f"[text cut at {max_chars} characters, in page {i} of {count}]")
                break
        else:
            if count > max_pages:
                pages.append(f"[only the first {max_pages} of {count} pages shown]")
    except PdfReadError as exc:
        raise ContentError(f"the PDF could not be read: {exc}") from None
    return title, "\n\n".join(pages)


def pretty_json(data: Any, max_chars: int = MAX_CONTENT_CHARS) -> tuple[str, bool]:
    """`data` as `json.dumps(data, indent=2, ensure_ascii=False)` would print it — built
    iteratively, stopped at `max_chars` (and whether it was cut). Indentation stops
    growing after 32 levels, so deep nesting cannot square the output's size."""
    parts: list[str] = []
    size = 0
    stack: list[tuple[Iterator[Any], str, int, bool]] = []

    def emit(text: str) -> None:
        nonlocal size
        parts.append(text)
        size += len(text)

    def value(v: Any, depth: int) -> None:
        if isinstance(v, dict) and v:
            emit("{")
            stack.append((iter(v.items()), "}", depth, True))
        elif isinstance(v, list) and v:
            emit("[")
            stack.append((iter(v), "]", depth, False))
        else:
            emit(json.dumps(v, ensure_ascii=False))

    def indent(depth: int) -> str:
        return "\n" + "  " * min(depth, _MAX_INDENT)

    value(data, 0)
    first = True
    while stack and size <= max_chars:
        items, close, depth, is_dict = stack[-1]
        item: Any = next(items, _END)
        if item is _END:
            stack.pop()
            emit(indent(depth) + close)
            first = False
            continue
        emit(("" if first else ",") + indent(depth + 1))
        if is_dict:
            emit(json.dumps(str(item[0]), ensure_ascii=False) + ": ")
            item = item[1]
        first = True
        value(item, depth + 1)
        if not (isinstance(item, (dict, list)) and item):
            first = False
    text = "".join(parts)
    return (text[:max_chars], True) if size > max_chars else (text, False)


_END = object()


def _sniff(body: bytes) -> str:
    head = body[:512].lstrip().lower()
    if head.startswith(b"%pdf"):
        return "application/pdf"
    if head.startswith((b"<!doctype html", b"<html")) or b"<body" in head:
        return "text/html"
    if head.startswith((b"{", b"[")):
        return "application/json"
    return "text/plain"


def extract_content(body: bytes, content_type: str, url: str, truncated: bool = False, *,
                    max_html_chars: int | None = None,
                    max_chars: int | None = None) -> tuple[str, str, str]:
    """(kind, title, text) for a response body; raises `ContentError` for non-text data.

    `max_html_chars` (default `MAX_HTML_CHARS`) of HTML are given to the extractor; the
    text is cut at `max_chars` (default `MAX_CONTENT_CHARS`) while it is built.
    """
    limit = MAX_CONTENT_CHARS if max_chars is None else max_chars
    html_limit = MAX_HTML_CHARS if max_html_chars is None else max_html_chars
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
        title, text = pdf_to_text(body, max_chars=limit)
        return "pdf", title, text
    if mime in ("text/html", "application/xhtml+xml"):
        html = decode_text(body, charset, html=True)
        note = ""
        if len(html) > html_limit:
            html = html[:html_limit]
            note = (f"\n\n[the page's HTML is longer than {html_limit} characters; only the "
                    "first part was read]")
        title, text = html_to_markdown(html, url)
        return "html", title, _capped(text, limit) + note
    if mime == "application/json" or mime.endswith("+json"):
        raw = decode_text(body[: 4 * limit + 4], charset)
        try:
            data: Any = json.loads(raw)
        except (ValueError, RecursionError):  # not JSON, or nested too deeply to parse
            return "json", "", _capped(raw, limit)
        text, cut = pretty_json(data, limit)
        return "json", "", text + (_cut_note(limit) if cut else "")
    media = mime.startswith(("image/", "audio/", "video/", "font/", "application/zip"))
    if mime.startswith("text/") or mime.endswith(("+xml", "/xml", "/javascript")) or (
            not media and not is_binary(body[:8192])):
        return "text", "", _capped(decode_text(body[: 4 * limit + 4], charset), limit)
    raise ContentError(f"the response is {mime or 'binary data'} ({describe_binary(body[:16])}, "
                       f"{len(body)} bytes), not text; fetch_url only returns text, HTML, JSON "
                       "and PDF")


def _cut_note(limit: int) -> str:
    return f"\n\n[the extracted text is longer than {limit} characters; the rest is not shown]"


def _capped(text: str, limit: int) -> str:
    return text[:limit] + _cut_note(limit) if len(text) > limit else text
