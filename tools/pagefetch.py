"""`fetch(url)`: download a page through the SSRF guard and turn it into Markdown/text.

Redirects are followed by hand (each hop re-checked), the body is read raw and inflated
here under a byte cap (see `agentkit.tools.bodies`: no decompression bombs, no stacked
encodings), its content is extracted in a worker process with memory and time limits (see
`agentkit.tools.extractproc`), and the whole fetch, extraction included, has one deadline.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urljoin

from .ssrf import AddressPolicy, BlockedAddress, Resolver

if TYPE_CHECKING:
    import ssl

__all__ = ["FetchError", "FetchedPage", "fetch"]

USER_AGENT = "Mozilla/5.0 (compatible; agentkit-fetch/0.1)"
ACCEPT = ("text/html,application/xhtml+xml,application/json;q=0.9,text/plain;q=0.9,"
          "application/pdf;q=0.8,*/*;q=0.5")
_REDIRECTS = (301, 302, 303, 307, 308)


class FetchError(RuntimeError):
    """A page could not be fetched or read; the message is meant for the model."""


@dataclass
class FetchedPage:
    """A fetched page: `content` is Markdown (HTML), pretty JSON, or plain text."""

    url: str
    final_url: str
    status: int
    content_type: str
    kind: str
    title: str
    content: str
    truncated: bool = False
    redirects: list[str] = field(default_factory=list)
    connected: list[tuple[str, str, int]] = field(default_factory=list)

    def render(self, max_chars: int = 20_000, start_index: int = 0) -> str:
        """The text shown to the model, cut to `max_chars` from `start_index`."""
        head = []
        if self.title:
            head.append(f"Title: {self.title}")
        head.append(f"URL: {self.final_url}")
        if self.redirects:
            head.append(f"Redirected from: {self.url}")
        head.append(f"Content-Type: {self.content_type or 'unknown'}")
        if self.truncated:
            head.append("[the download hit the size limit; the page is incomplete]")
        body = self.content
        total = len(body)
        if start_index >= total and total:
            return "\n".join(head) + f"\n\n[start_index {start_index} is past the end " \
                                     f"({total} characters)]"
        part = body[start_index: start_index + max_chars]
        end = start_index + len(part)
        if start_index or end < total:
            head.append(f"[characters {start_index}-{end} of {total}]")
        text = "\n".join(head) + "\n\n" + (part or "(no text content)")
        if end < total:
            text += (f"\n\n[content cut at {max_chars} characters; call fetch_url with "
                     f"start_index={end} to read on]")
        return text


async def fetch(
    url: str,
    *,
    allow_private: bool = False,
    allow: Iterable[str] = (),
    resolver: Resolver | None = None,
    policy: AddressPolicy | None = None,
    timeout: float = 20.0,
    max_bytes: int = 5 * 1024 * 1024,
    max_redirects: int = 5,
    ssl_context: ssl.SSLContext | None = None,
) -> FetchedPage:
    """Fetch `url` and extract its main content.

    `ssl_context` replaces certificate verification (e.g. an intranet CA).
    Raises `BlockedAddress` (SSRF guard), `FetchError` (network, HTTP status, timeout,
    content) or `ValueError` (a malformed URL), each with a message for the model.
    """
    import anyio

    policy = policy or AddressPolicy(allow_private, allow, resolver)
    url = url.strip()
    if "://" not in url:
        url = "https://" + url
    policy.check_url(url)
    try:
        with anyio.fail_after(timeout):
            page = await _download(url, policy, timeout, max_bytes, max_redirects,
                                   ssl_context)
    except TimeoutError:
        raise FetchError(f"timed out after {timeout:g}s fetching {url}; the site is slow or "
                         "unreachable, or its content too costly to read") from None
    return page


async def _download(url: str, policy: AddressPolicy, timeout: float, max_bytes: int,
                    max_redirects: int, ssl_context: ssl.SSLContext | None) -> FetchedPage:
    import httpx

    from .bodies import ACCEPT_ENCODING, BodyError, read_body
    from .extractproc import ExtractionFailed, extract, prestart
    from .transport import guarded_client

    prestart()

    redirects: list[str] = []
    current = url
    client = guarded_client(policy, timeout=timeout, ssl_context=ssl_context,
                            headers={"User-Agent": USER_AGENT, "Accept": ACCEPT,
                                     "Accept-Encoding": ACCEPT_ENCODING})
    async with client:
        backend = client._transport.backend  # type: ignore[attr-defined]
        while True:
            policy.check_url(current)
            try:
                async with client.stream("GET", current) as resp:
                    if resp.status_code in _REDIRECTS and "location" in resp.headers:
                        if len(redirects) >= max_redirects:
                            chain = " -> ".join([url, *redirects])
                            raise FetchError(f"too many redirects (more than {max_redirects}): "
                                             f"{chain}")
                        nxt = urljoin(current, resp.headers["location"])
                        redirects.append(nxt)
                        current = nxt
                        continue
                    try:
                        body, truncated = await read_body(resp, max_bytes)
                    except BodyError as exc:
                        raise FetchError(f"{current}: {exc}") from None
                    status = resp.status_code
                    reason = resp.reason_phrase
                    ctype = resp.headers.get("content-type", "")
            except BlockedAddress:
                raise
            except httpx.TimeoutException:
                raise FetchError(f"timed out fetching {current}") from None
            except httpx.HTTPError as exc:
                raise FetchError(f"could not fetch {current}: {exc or type(exc).__name__}") \
                    from None
            except OSError as exc:  # resolution failures from the policy
                raise FetchError(f"could not fetch {current}: {exc}") from None
            break
    try:  # in a worker process, killed when the deadline cancels this
        kind, title, text = await extract(body, ctype, current, truncated)
    except ExtractionFailed as exc:
        raise FetchError(f"{current}: {exc}") from None
    if status >= 400:
        snippet = text.strip()[:500]
        raise FetchError(f"HTTP {status} {reason} from {current}" +
                         (f"\nThe page says: {snippet}" if snippet else ""))
    return FetchedPage(url=url, final_url=current, status=status, content_type=ctype, kind=kind,
                       title=title, content=text, truncated=truncated, redirects=redirects,
                       connected=list(backend.connected))
