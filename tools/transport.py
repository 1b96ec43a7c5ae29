"""An httpx client whose every TCP connection goes to an address vetted by `AddressPolicy`.

The guard sits in the httpcore network backend: the host name of each connection is
resolved by the policy, every answer is checked, and the socket is opened to that vetted
IP. The URL (and so the Host header and TLS SNI/certificate check) keeps the host name.
Proxies from the environment are ignored, since a proxy would do the connecting instead.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from .ssrf import AddressPolicy

if TYPE_CHECKING:
    import ssl

    import httpx

__all__ = ["guarded_client"]


def _backend_class() -> type:
    import httpcore

    class GuardedBackend(httpcore.AsyncNetworkBackend):
        """Resolve through the policy and connect only to vetted addresses."""

        def __init__(self, policy: AddressPolicy) -> None:
            self.policy = policy
            self.inner = httpcore.AnyIOBackend()
            self.connected: list[tuple[str, str, int]] = []  # (host, ip, port) per connection

        async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                              local_address: str | None = None,
                              socket_options: Iterable[Any] | None = None) -> Any:
            addresses = await self.policy.resolve(host, port)
            last: Exception | None = None
            for ip in addresses:
                try:
                    stream = await self.inner.connect_tcp(
                        ip, port, timeout=timeout, local_address=local_address,
                        socket_options=socket_options)
                except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                    last = exc
                    continue
                self.connected.append((host, ip, port))
                return stream
            assert last is not None
            raise last

        async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                      socket_options: Iterable[Any] | None = None) -> Any:
            raise httpcore.ConnectError("unix sockets are not allowed")

        async def sleep(self, seconds: float) -> None:
            await self.inner.sleep(seconds)

    return GuardedBackend


def _default_context() -> ssl.SSLContext:
    import ssl

    try:
        import certifi

        return ssl.create_default_context(cafile=certifi.where())
    except ImportError:  # pragma: no cover - certifi comes with httpx
        return ssl.create_default_context()


def guarded_client(policy: AddressPolicy, *, timeout: float = 20.0,
                   headers: dict[str, str] | None = None,
                   ssl_context: ssl.SSLContext | None = None) -> httpx.AsyncClient:
    """An `httpx.AsyncClient` (no redirects, no env proxies) guarded by `policy`.

    `ssl_context` replaces the default verification (certifi's CAs), e.g. for a private CA.

    `client._transport.backend.connected` records (host, ip, port) of each connection.
    """
    import httpcore
    import httpx

    class GuardedTransport(httpx.AsyncHTTPTransport):
        def __init__(self) -> None:
            super().__init__(trust_env=False)
            context = ssl_context or _default_context()
            self.backend = _backend_class()(policy)
            # httpx has no public hook for the network backend; replace its pool with one
            # that uses ours (same settings as httpx's defaults).
            self._pool = httpcore.AsyncConnectionPool(
                ssl_context=context, max_connections=10, max_keepalive_connections=5,
                keepalive_expiry=5.0, http1=True, http2=False, network_backend=self.backend)

    return httpx.AsyncClient(
        transport=GuardedTransport(), follow_redirects=False, trust_env=False,
        timeout=httpx.Timeout(timeout), headers=headers)
