"""Text made safe to send or show: valid UTF-8, and no control sequences for terminals.

File names and exception messages may hold bytes that are not UTF-8 (Python keeps them
as lone surrogates, U+DC80-U+DCFF), which no JSON encoder can send; terminal output may
hold escape sequences (clipboard writes, window titles, cursor moves). Both are shown
visibly instead: an undecodable byte as `\\xNN`, a control character as `\\n`, `\\x1b`,
`\\u202e`.
"""

from __future__ import annotations

import re

__all__ = ["quote_name", "terminal_text", "valid_utf8"]

_SURROGATE = re.compile("[\ud800-\udfff]")
# C0 controls except tab and newline, DEL, C1 controls (0x9b is a one-byte CSI), the
# Unicode line/paragraph separators and bidirectional overrides/isolates, surrogates.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069"
                     "\ud800-\udfff]")
_NAME_UNSAFE = re.compile('[\\\\"\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069'
                          "\ud800-\udfff]")
_SHORT = {"\n": "\\n", "\t": "\\t", "\r": "\\r", "\\": "\\\\", '"': '\\"'}


def _escape(ch: str) -> str:
    """The visible form of one character: an undecodable byte as its `\\xNN`."""
    if ch in _SHORT:
        return _SHORT[ch]
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8 (surrogateescape)
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def valid_utf8(text: str) -> str:
    """`text` with every lone surrogate shown as an escape (`\\xNN` for an undecodable
    byte), so it always encodes as UTF-8 (and as JSON). Valid text comes back unchanged."""
    if text.isascii():
        return text
    return _SURROGATE.sub(lambda m: _escape(m.group()), text)


def terminal_text(text: str) -> str:
    """`text` safe to print on a terminal: newlines and tabs stay, every other control
    character (ESC, CR, C1, bidi overrides) and lone surrogate is shown as an escape."""
    return _UNSAFE.sub(lambda m: _escape(m.group()), text)


def quote_name(name: str) -> str:
    """A file name or path as one unambiguous token for a listing: plain names as they
    are; names with control characters (newlines!), backslashes, quotes, undecodable
    bytes or surrounding spaces in double quotes with backslash escapes."""
    if name == name.strip() and _NAME_UNSAFE.search(name) is None:
        return name
    return '"' + _NAME_UNSAFE.sub(lambda m: _escape(m.group()), name) + '"'
