"""SSRF guard: loopback, private, IPv6 forms, odd IPv4 spellings, redirects, resolved names.

Only loopback addresses are ever connected to here: private-range cases are checked at
the policy level (no connection), and every full fetch targets the 127.0.0.1 test server.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from agentkit.tools import AddressPolicy, BlockedAddress, FetchError, fetch, web_tools


def fixed_resolver(table: dict[str, Sequence[str]]):  # type: ignore[no-untyped-def]
    calls: list[str] = []

    async def resolve(host: str, port: int) -> list[str]:
        calls.append(host)
        if host not in table:
            raise OSError(f"[test resolver] unknown host {host}")
        return list(table[host])

    resolve.calls = calls  # type: ignore[attr-defined]
    return resolve


LOOPBACK_FORMS = [
    "127.0.0.1", "127.1", "127.0.1", "2130706433", "0x7f000001", "0x7f.0.0.1", "0177.0.0.1",
    "017700000001", "127.255.255.254", "[::1]", "[::ffff:127.0.0.1]", "[::ffff:7f00:1]",
    "[0:0:0:0:0:ffff:7f00:1]", "[::127.0.0.1]", "[64:ff9b::7f00:1]", "[2002:7f00:1::]",
    "0.0.0.0", "0", "[::]",
]

PRIVATE_FORMS = [
    "10.0.0.1", "10.255.255.255", "172.16.0.1", "172.31.255.1", "192.168.1.1",
    "169.254.169.254", "169.254.1.1", "100.64.0.1", "100.100.100.200", "198.18.0.1",
    "192.0.0.8", "224.0.0.1", "255.255.255.255", "240.0.0.1", "0xa000001", "167772161",
    "012.0.0.1", "0xc0.0xa8.1.1", "[fc00::1]", "[fd00:ec2::254]", "[fe80::1]",
    "[fe80::1%25eth0]", "[::ffff:10.0.0.1]", "[::ffff:169.254.169.254]", "[64:ff9b::a00:1]",
    "[2002:c0a8:101::1]", "[ff02::1]", "[2001:db8::1]", "[2001::5ef5:79fe:3fff:fffe]",
]


@pytest.mark.parametrize("host", LOOPBACK_FORMS + PRIVATE_FORMS)
def test_literal_addresses_refused_before_connecting(host: str) -> None:
    with pytest.raises(BlockedAddress, match="refused to fetch"):
        AddressPolicy().check_url(f"http://{host}/x")


@pytest.mark.parametrize("host", ["93.184.216.34", "[2606:2800:220:1:248:1893:25c8:1946]",
                                  "8.8.8.8", "example.com", "1.1.1.1"])
def test_public_addresses_pass_the_url_check(host: str) -> None:
    assert AddressPolicy().check_url(f"https://{host}/")[0] == "https"


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/", "gopher://x/",
                                 "http://", "http://exa mple.com\n/", "javascript:alert(1)"])
def test_bad_urls_refused(url: str) -> None:
    with pytest.raises(ValueError):
        AddressPolicy().check_url(url)


@pytest.mark.parametrize("name", ["metadata.google.internal", "metadata", "instance-data"])
def test_metadata_names_refused_even_with_allow_private(name: str) -> None:
    with pytest.raises(BlockedAddress, match="metadata"):
        AddressPolicy(allow_private=True).check_url(f"http://{name}/computeMetadata/v1/")


@pytest.mark.anyio
@pytest.mark.parametrize("answer", [["10.1.2.3"], ["192.168.0.10"], ["169.254.169.254"],
                                    ["fd12::1"], ["::ffff:192.168.0.1"],
                                    ["93.184.216.34", "10.0.0.7"], ["127.0.0.1"]])
async def test_names_resolving_to_private_are_refused(answer: list[str]) -> None:
    policy = AddressPolicy(resolver=fixed_resolver({"innocent.example": answer}))
    policy.check_url("http://innocent.example/")  # a name: checked when resolved
    with pytest.raises(BlockedAddress, match=r"innocent\.example \(resolves to"):
        await policy.resolve("innocent.example", 80)


@pytest.mark.anyio
async def test_allow_private_and_allowlist() -> None:
    table = {"intranet.corp": ["10.0.0.5"], "wiki.corp.example": ["10.9.9.9"],
             "other.example": ["10.0.0.6"]}
    p = AddressPolicy(allow=["intranet.corp", "*.corp.example", "192.168.50.0/24"],
                      resolver=fixed_resolver(table))
    assert await p.resolve("intranet.corp", 80) == ["10.0.0.5"]
    assert await p.resolve("wiki.corp.example", 80) == ["10.9.9.9"]
    assert await p.resolve("192.168.50.7", 80) == ["192.168.50.7"]
    with pytest.raises(BlockedAddress):
        await p.resolve("other.example", 80)
    with pytest.raises(BlockedAddress):
        await p.resolve("192.168.51.7", 80)
    lax = AddressPolicy(allow_private=True, resolver=fixed_resolver(table))
    assert await lax.resolve("other.example", 80) == ["10.0.0.6"]
    with pytest.raises(BlockedAddress, match="metadata"):
        await lax.resolve("169.254.169.254", 80)


# --------------------------------------------------------------- real connections (loopback)

@pytest.mark.anyio
@pytest.mark.parametrize("host", ["127.0.0.1", "2130706433", "0x7f.1", "0177.0.0.1", "127.1",
                                  "[::ffff:127.0.0.1]", "localhost"])
async def test_own_loopback_server_refused_by_default(site: Any, host: str) -> None:
    with pytest.raises(BlockedAddress):
        await fetch(f"http://{host}:{site.port}/article")
    assert site.requests == []  # the server never saw a request


@pytest.mark.anyio
async def test_name_resolving_to_loopback_is_refused_at_connect(site: Any) -> None:
    resolver = fixed_resolver({"news.example": ["127.0.0.1"]})
    with pytest.raises(BlockedAddress, match=r"news\.example \(resolves to 127\.0\.0\.1\)"):
        await fetch(f"http://news.example:{site.port}/article", resolver=resolver)
    assert resolver.calls == ["news.example"]
    assert site.requests == []


@pytest.mark.anyio
async def test_allowlisted_name_connects_to_the_vetted_address(site: Any) -> None:
    resolver = fixed_resolver({"news.example": ["127.0.0.1"]})
    page = await fetch(f"http://news.example:{site.port}/article", resolver=resolver,
                       allow=["news.example"])
    assert "Octopuses solve puzzles" in page.content
    assert page.connected == [("news.example", "127.0.0.1", site.port)]
    assert site.requests[0].headers["host"] == f"news.example:{site.port}"  # Host kept


@pytest.mark.anyio
async def test_no_dns_rebinding_between_check_and_connect(site: Any) -> None:
    """The address connected to is the one vetted: one resolution per connection."""
    answers = [["127.0.0.1"], ["127.0.0.3"]]
    calls: list[str] = []

    async def rebinding(host: str, port: int) -> list[str]:
        calls.append(host)
        return answers[min(len(calls), 2) - 1]

    policy = AddressPolicy(allow=["127.0.0.1/32"], resolver=rebinding)
    page = await fetch(f"http://rebind.example:{site.port}/article", policy=policy)
    assert page.connected == [("rebind.example", "127.0.0.1", site.port)]
    assert calls == ["rebind.example"]
    with pytest.raises(BlockedAddress, match=r"127\.0\.0\.3"):  # the second answer is refused
        await fetch(f"http://rebind.example:{site.port}/article", policy=policy)
    assert len(site.requests) == 1


@pytest.mark.anyio
@pytest.mark.parametrize("path,match", [
    ("/to-loopback-ip", "127.0.0.1 is a loopback address"),
    ("/to-localhost", "localhost"),
    ("/to-metadata", "metadata"),
])
async def test_redirect_hops_are_rechecked(site: Any, path: str, match: str) -> None:
    resolver = fixed_resolver({"site.example": ["127.0.0.1"], "localhost": ["127.0.0.1"]})
    with pytest.raises(BlockedAddress, match=match):
        await fetch(f"http://site.example:{site.port}{path}", resolver=resolver,
                    allow=["site.example"])
    assert [r.path for r in site.requests] == [path]  # the target was never requested


@pytest.mark.anyio
async def test_redirect_to_other_scheme_refused(site: Any) -> None:
    with pytest.raises(ValueError, match="only http:// and https://"):
        await fetch(site.url("/to-file"), allow_private=True)


@pytest.mark.anyio
async def test_fetch_tool_reports_refusal(site: Any) -> None:
    fetch_url = web_tools(include_search=False)[0]
    assert fetch_url.name == "fetch_url"
    with pytest.raises(BlockedAddress, match="loopback"):
        await fetch_url.call(None, fetch_url.validate({"url": site.url("/article")}))


@pytest.mark.anyio
async def test_unresolvable_name_is_a_clear_error() -> None:
    with pytest.raises(FetchError, match=r"could not resolve host .nowhere\.invalid."):
        await fetch("http://nowhere.invalid/", resolver=fixed_resolver({}))


@pytest.mark.anyio
async def test_tls_name_checks_survive_pinning_the_address(tls_site: Any) -> None:
    """Connecting to the vetted IP keeps SNI, Host and certificate checks on the name."""
    site, trust = tls_site
    resolver = fixed_resolver({"secure.example": ["127.0.0.1"]})
    page = await fetch(f"https://secure.example:{site.port}/article", resolver=resolver,
                       allow=["secure.example"], ssl_context=trust)
    assert "Octopuses solve puzzles" in page.content
    assert page.connected == [("secure.example", "127.0.0.1", site.port)]
    assert site.sni == ["secure.example"]
    assert site.requests[0].headers["host"] == f"secure.example:{site.port}"
    with pytest.raises(FetchError, match=r"(?i)certificate"):  # the cert names no IP
        await fetch(f"https://127.0.0.1:{site.port}/article", allow_private=True,
                    ssl_context=trust)
