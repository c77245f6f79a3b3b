"""The outbound address policy: which addresses an API destination may connect to.

By default a destination reaches public addresses only. Refused: loopback (127.0.0.0/8, ::1),
link-local (169.254.0.0/16, where cloud metadata services answer, and fe80::/10), private
(10/8, 172.16/12, 192.168/16, fc00::/7), multicast, unspecified (0.0.0.0, ::), and every other
range that is not globally routable (100.64/10, 192.0.0.0/24, documentation and benchmark
ranges, ...). An IPv4-mapped IPv6 address is judged as the IPv4 address it carries.
``allow_private_networks`` lists the ranges one destination may reach all the same.

The policy is enforced where the connection is made, not on the URL: :class:`GuardedBackend`
(an httpcore network backend under the destination's HTTP client) resolves the host itself,
connects only to an allowed address, and checks the peer address of the socket it got before
any byte is sent. So a DNS name that resolves to a refused address, a redirect to one, or a name
whose answer changes between a check and the connection (DNS rebinding) all meet the same check
on the address actually connected to. TLS still verifies the certificate against the host name.
"""

from __future__ import annotations

import ipaddress
import socket
import typing
from collections.abc import Iterable

import anyio
import httpcore

from clientevents.errors import ClientEventsError

__all__ = ["AddressNotAllowed", "AddressPolicy", "GuardedBackend"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class AddressNotAllowed(ClientEventsError):
    """The destination's host is, or resolves to, an address its policy refuses."""


def _kind(address: IPAddress) -> str | None:
    """Why ``address`` is refused by default, or ``None`` for a public address."""
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_multicast:
        return "a multicast address"
    if address.is_unspecified:
        return "the unspecified address"
    if address.is_private:
        return "a private address"
    if not address.is_global:
        return "an address that is not publicly routable"
    return None


class AddressPolicy:
    """Public addresses, plus the ranges in ``allow``.

    Example::

        policy = AddressPolicy(["127.0.0.0/8"])
        policy.refusal("169.254.169.254")    # 'a link-local address'
        policy.refusal("127.0.0.1")          # None: allowed
    """

    def __init__(self, allow: Iterable[str] = ()) -> None:
        self.allowed: tuple[IPNetwork, ...] = tuple(
            ipaddress.ip_network(text, strict=False) for text in allow
        )

    def refusal(self, host: str) -> str | None:
        """Why connecting to the IP address ``host`` is refused, or ``None`` when allowed."""
        try:
            address: IPAddress = ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            return "not an IP address"
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        for network in self.allowed:
            if address.version == network.version and address in network:
                return None
        return _kind(address)

    def refused_message(self, host: str, address: str, reason: str) -> str:
        """The sentence a refusal is reported with."""
        via = "" if host == address else f"{host!r} resolves to "
        return (
            f"The destination may not connect to {via}{address} ({reason}); list its range in "
            "the API destination's allow_private_networks to allow it."
        )


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """An httpcore network backend that connects only to addresses the policy allows.

    Args:
        policy: what may be reached.
        inner: the backend that makes the connections (httpcore's anyio backend by default).
    """

    def __init__(
        self, policy: AddressPolicy, inner: httpcore.AsyncNetworkBackend | None = None
    ) -> None:
        self.policy = policy
        self._inner = inner if inner is not None else httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await self._resolve(host, port)
        allowed: list[str] = []
        refused: tuple[str, str] | None = None
        for address in addresses:
            reason = self.policy.refusal(address)
            if reason is None:
                allowed.append(address)
            elif refused is None:
                refused = (address, reason)
        if not allowed:
            assert refused is not None
            raise AddressNotAllowed(self.policy.refused_message(host, *refused))
        failure: Exception | None = None
        for address in allowed:
            try:
                stream = await self._inner.connect_tcp(
                    address, port, timeout=timeout, local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
                continue
            await self._check_peer(host, stream)
            return stream
        assert failure is not None
        raise failure

    async def _resolve(self, host: str, port: int) -> list[str]:
        try:
            infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise httpcore.ConnectError(f"Cannot resolve {host!r}: {exc}.") from exc
        seen: list[str] = []
        for info in infos:
            address = str(info[4][0])
            if address not in seen:
                seen.append(address)
        return seen

    async def _check_peer(self, host: str, stream: httpcore.AsyncNetworkStream) -> None:
        peer = stream.get_extra_info("server_addr")
        address = str(peer[0]) if isinstance(peer, tuple) and peer else ""
        reason = self.policy.refusal(address) if address else "an unknown peer address"
        if reason is not None:
            await stream.aclose()
            raise AddressNotAllowed(self.policy.refused_message(host, address or "?", reason))

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise AddressNotAllowed("An API destination cannot connect to a Unix socket.")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)
