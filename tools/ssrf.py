"""SSRF guard: which addresses `fetch_url` may connect to.

`AddressPolicy` refuses loopback, private, link-local, shared (CGNAT), multicast, reserved
and cloud-metadata addresses, including IPv4 hidden inside IPv6 (mapped, 6to4, NAT64,
Teredo) and the decimal/hex/octal spellings of IPv4. Names are resolved here, through a
replaceable resolver, and every resolved address is vetted; the connection is then made to
a vetted address (see `agentkit.tools.transport`), so DNS rebinding cannot slip through.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable, Iterable, Sequence
from urllib.parse import urlsplit

__all__ = ["AddressPolicy", "BlockedAddress", "Resolver", "default_resolver", "parse_ip_host"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]
"""`async (host, port) -> [ip, ...]`: how names are turned into addresses."""

_METADATA = {
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "169.254.170.2", "169.254.169.123", "100.100.100.200",
              "192.0.0.192", "fd00:ec2::254", "fd00:ec2::23")
}
_METADATA_NAMES = {"metadata", "metadata.google.internal", "metadata.goog",
                   "instance-data", "instance-data.ec2.internal"}
# Non-public ranges that some Python versions' `is_global` tables miss.
_EXTRA_BLOCKED = [ipaddress.ip_network(n) for n in (
    "0.0.0.0/8", "100.64.0.0/10", "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24",
    "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "240.0.0.0/4", "100::/64",
    "2001:db8::/32", "fc00::/7", "fec0::/10")]
_NAT64 = [ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48")]
_NUMERIC_V4 = re.compile(r"^(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+)){0,3}\.?$", re.I)


class BlockedAddress(PermissionError):
    """A URL or address was refused by the SSRF guard; the message says why."""


async def default_resolver(host: str, port: int) -> list[str]:
    """Resolve with the system resolver (getaddrinfo in a worker thread)."""
    import anyio

    infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    seen: list[str] = []
    for info in infos:
        addr = str(info[4][0])
        if addr not in seen:
            seen.append(addr)
    return seen


def parse_ip_host(host: str) -> IPAddress | None:
    """The address a URL host names literally (any IPv4 spelling, IPv6 with zone), else None."""
    h = host.strip("[]").rstrip(".")
    if "%" in h:  # IPv6 zone id ("fe80::1%eth0", URL-encoded as %25)
        h = h.split("%", 1)[0]
    try:
        return ipaddress.ip_address(h)
    except ValueError:
        pass
    if _NUMERIC_V4.match(h):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(h))
        except OSError:
            return None
    return None


def _embedded_v4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    out: list[ipaddress.IPv4Address] = []
    if ip.ipv4_mapped is not None:
        out.append(ip.ipv4_mapped)
    if ip.sixtofour is not None:
        out.append(ip.sixtofour)
    if ip.teredo is not None:
        out.extend(ip.teredo)
    if any(ip in net for net in _NAT64) or int(ip) >> 32 == 0:  # NAT64, IPv4-compatible
        out.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return out


def _why_not_public(ip: IPAddress) -> str | None:
    if ip in _METADATA:
        return "a cloud metadata address"
    if ip.is_unspecified:
        return "the unspecified address"
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_multicast:
        return "a multicast address"
    if isinstance(ip, ipaddress.IPv4Address) and ip in ipaddress.ip_network("100.64.0.0/10"):
        return "a shared (carrier-grade NAT) address"
    if ip.is_private:
        return "a private-network address"
    if ip.is_reserved or not ip.is_global or any(ip in net for net in _EXTRA_BLOCKED):
        return "a reserved, non-public address"
    return None


class AddressPolicy:
    """Decides which hosts and addresses may be fetched.

    - `allow_private=True`: loopback/private/link-local are allowed (cloud-metadata,
      multicast and unspecified addresses stay refused unless listed in `allow`).
    - `allow`: host names (`intranet.example`, `*.corp.example`) whose addresses are all
      allowed, and IP addresses or networks (`10.1.0.0/16`, `127.0.0.1`) that are allowed.
    - `resolver`: `async (host, port) -> [ip]`; tests use it to make names resolve anywhere.
    """

    def __init__(self, allow_private: bool = False, allow: Iterable[str] = (),
                 resolver: Resolver | None = None) -> None:
        self.allow_private = allow_private
        self.allow_names: set[str] = set()
        self.allow_suffixes: list[str] = []
        self.allow_networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for entry in allow:
            entry = entry.strip().lower().rstrip(".")
            try:
                self.allow_networks.append(ipaddress.ip_network(entry, strict=False))
                continue
            except ValueError:
                pass
            if entry.startswith("*."):
                self.allow_suffixes.append(entry[1:])
            elif entry:
                self.allow_names.add(entry)
        self.resolver: Resolver = resolver or default_resolver

    # --------------------------------------------------------------- checks
    def host_allowed(self, host: str) -> bool:
        h = host.lower().rstrip(".")
        return h in self.allow_names or any(h.endswith(s) for s in self.allow_suffixes)

    def ip_problem(self, ip: IPAddress) -> str | None:
        """Why `ip` may not be connected to, or None when it may."""
        if any(ip in net for net in self.allow_networks):
            return None
        candidates: list[IPAddress] = [ip]
        if isinstance(ip, ipaddress.IPv6Address):
            candidates += _embedded_v4(ip)
        for cand in candidates:
            why = _why_not_public(cand)
            if why is None or any(cand in net for net in self.allow_networks):
                continue
            if self.allow_private and cand not in _METADATA and not (
                    cand.is_multicast or cand.is_unspecified):
                continue
            inner = "" if cand is ip else f" (it embeds {cand})"
            return f"{ip} is {why}{inner}"
        return None

    def _refuse(self, what: str, why: str) -> BlockedAddress:
        return BlockedAddress(
            f"refused to fetch {what}: {why}. Only public internet addresses may be fetched "
            "(the SSRF guard blocks loopback, private, link-local and metadata addresses; "
            "the agent's owner can allow hosts with web_tools(allow=[...]))."
        )

    def check_url(self, url: str) -> tuple[str, str, int]:
        """Validate scheme and host of `url` before any connection; returns (scheme, host, port).

        Literal IP hosts (in any spelling) are checked here; names are checked when resolved.
        """
        if "\x00" in url or any(c in url for c in "\r\n\t"):
            raise ValueError("the URL contains control characters")
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https"):
            raise ValueError(f"only http:// and https:// URLs can be fetched, not {url!r}")
        host = parts.hostname or ""
        if not host:
            raise ValueError(f"the URL {url!r} has no host name")
        try:
            port = parts.port or (443 if scheme == "https" else 80)
        except ValueError:
            raise ValueError(f"the URL {url!r} has an invalid port") from None
        if self.host_allowed(host):
            return scheme, host, port
        if host.rstrip(".") in _METADATA_NAMES:
            raise self._refuse(url, f"{host} is a cloud metadata service name")
        ip = parse_ip_host(host)
        if ip is not None:
            why = self.ip_problem(ip)
            if why:
                raise self._refuse(url, why)
        return scheme, host, port

    async def resolve(self, host: str, port: int) -> list[str]:
        """Every address `host` resolves to, all vetted; raises `BlockedAddress` otherwise.

        A name with even one refused address is refused (no mixed answers).
        """
        literal = parse_ip_host(host)
        if literal is not None:
            addresses = [str(literal)]
        else:
            try:
                addresses = list(await self.resolver(host, port))
            except OSError as exc:
                raise OSError(f"could not resolve host {host!r}: {exc}") from None
            if not addresses:
                raise OSError(f"could not resolve host {host!r}: no addresses")
        if self.host_allowed(host):
            return addresses
        for addr in addresses:
            ip = parse_ip_host(addr)
            if ip is None:
                raise self._refuse(host, f"the resolver returned a non-IP answer {addr!r}")
            why = self.ip_problem(ip)
            if why:
                shown = host if literal is not None else f"{host} (resolves to {ip})"
                raise self._refuse(shown, why)
        return addresses
