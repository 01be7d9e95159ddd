"""SSRF guard for every outbound request to a customer-supplied URL: the one policy module.

- ``check_url``: the static rules, no DNS (request validation);
- ``vet_url``: those plus every resolved address, before a URL is stored (webhook
  registration; a portal's website);
- ``pin``: vet at use time and pin the connection to the vetted address (the website fetch,
  every webhook delivery).

Rules: http(s) only; every address a host resolves to must be public (no private, loopback,
link-local/metadata, CGNAT, multicast, reserved, IPv4-mapped/translated IPv6); a name that
fails to resolve fails closed; the connection goes to the vetted address only (the TLS
name and Host header still carry the original host); redirects are never followed blindly.
An explicit allow-list of subnets (empty by default) exists for private deployments/tests.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_BLOCKED = [
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",  # CGNAT
        "127.0.0.0/8",
        "169.254.0.0/16",  # link-local, cloud metadata (169.254.169.254)
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.88.99.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved + broadcast
        "::/128",
        "::1/128",
        "::ffff:0:0/96",  # IPv4-mapped
        "::/96",  # IPv4-compatible (deprecated)
        "64:ff9b::/96",  # NAT64
        "64:ff9b:1::/48",
        "100::/64",  # discard
        "2001::/32",  # Teredo
        "2001:db8::/32",
        "2002::/16",  # 6to4
        "fc00::/7",  # ULA (includes fd00:ec2::254 metadata)
        "fe80::/10",  # link-local
        "fec0::/10",  # site-local
        "ff00::/8",  # multicast
    )
]


class UnsafeTarget(ValueError):
    """The URL or one of its addresses is not allowed."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    addresses: tuple[str, ...]


def parse_networks(cidrs: Iterable[str]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(c, strict=False) for c in cidrs]


def address_problem(ip: IPAddress, allowed: Sequence[ipaddress._BaseNetwork] = ()) -> str | None:
    """Why ``ip`` may not be contacted, or None when it may."""
    if any(ip.version == n.version and ip in n for n in allowed):
        return None
    for net in _BLOCKED:
        if ip.version == net.version and ip in net:
            return f"address {ip} is in a blocked range ({net})"
    if (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or not ip.is_global
    ):
        return f"address {ip} is not a public address"
    return None


def literal_address(host: str) -> IPAddress | None:
    """The address a host string denotes by itself, including the legacy decimal, octal and
    hex forms that ``inet_aton`` accepts (``2130706433``, ``0177.0.0.1``, ``0x7f.1``)."""
    h = host.strip("[]")
    try:
        return ipaddress.ip_address(h)
    except ValueError:
        pass
    if h and all(c in "0123456789abcdefxABCDEFX." for c in h) and h[0].isdigit():
        try:
            return ipaddress.IPv4Address(socket.inet_aton(h))
        except OSError:
            return None
    return None


def check_url(
    url: str,
    *,
    schemes: Sequence[str] = ("https",),
    allowed: Sequence[ipaddress._BaseNetwork] = (),
) -> tuple[str, str, int]:
    """Static checks (no DNS): scheme, host present, literal address public.
    Returns (scheme, host, port)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeTarget(f"invalid URL: {exc}") from exc
    scheme = parts.scheme.lower()
    if scheme not in schemes:
        raise UnsafeTarget(f"URL scheme must be {' or '.join(schemes)}")
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        raise UnsafeTarget("URL has no host")
    if parts.username or parts.password:
        raise UnsafeTarget("URLs with credentials are not allowed")
    if host == "localhost" or host.endswith(".localhost") or host.endswith(".internal"):
        raise UnsafeTarget(f"host {host} is internal")
    lit = literal_address(host)
    if lit is not None:
        problem = address_problem(lit, allowed)
        if problem:
            raise UnsafeTarget(problem)
    return scheme, host, port or (443 if scheme == "https" else 80)


async def resolve(host: str, port: int) -> list[str]:
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    seen: list[str] = []
    for *_, sockaddr in infos:
        addr = sockaddr[0].split("%", 1)[0]
        if addr not in seen:
            seen.append(addr)
    return seen


async def vet(
    url: str,
    *,
    schemes: Sequence[str] = ("https",),
    allowed: Sequence[ipaddress._BaseNetwork] = (),
) -> Target:
    """Resolve and vet every address; fail closed when DNS fails."""
    scheme, host, port = check_url(url, schemes=schemes, allowed=allowed)
    lit = literal_address(host)
    if lit is not None:
        return Target(scheme, host, port, (str(lit),))
    try:
        addrs = await resolve(host, port)
    except (OSError, UnicodeError) as exc:
        raise UnsafeTarget(f"could not resolve {host}: {exc}") from exc
    if not addrs:
        raise UnsafeTarget(f"could not resolve {host}")
    _check_all(host, addrs, allowed)
    return Target(scheme, host, port, tuple(addrs))


def _check_all(host: str, addrs: Sequence[str], allowed: Sequence[ipaddress._BaseNetwork]) -> None:
    """Every address a name resolves to must be allowed: one bad one refuses the name."""
    for a in addrs:
        problem = address_problem(ipaddress.ip_address(a), allowed)
        if problem:
            raise UnsafeTarget(f"{host} resolves to a forbidden address: {problem}")


@dataclass(frozen=True)
class Pinned:
    """Where to send a request for a vetted URL: ``url`` names the vetted address (so the
    connection goes there and nowhere else, whatever DNS says a moment later), while the
    ``Host`` header and the TLS server name (so certificate verification) carry the
    original host."""

    url: str
    host_header: str
    server_hostname: str | None  # TLS only
    target: Target


async def pin(
    url: str,
    *,
    schemes: Sequence[str] = ("https",),
    allowed: Sequence[ipaddress._BaseNetwork] = (),
) -> Pinned:
    """Vet ``url`` (every resolved address, fail closed) and pin it to its first address.
    Every outbound request to a customer-supplied URL goes through here (the website fetch
    with httpx, webhook deliveries with aiohttp); callers never follow redirects blindly."""
    target = await vet(url, schemes=schemes, allowed=allowed)
    parts = urlsplit(url)
    ip = ipaddress.ip_address(target.addresses[0])
    ip_host = f"[{ip}]" if ip.version == 6 else str(ip)
    pinned = urlunsplit(
        (parts.scheme, f"{ip_host}:{target.port}", parts.path or "/", parts.query, "")
    )
    default_port = 443 if target.scheme == "https" else 80
    host = target.host if target.port == default_port else f"{target.host}:{target.port}"
    return Pinned(pinned, host, target.host if target.scheme == "https" else None, target)


async def vet_url(
    url: str,
    *,
    schemes: Sequence[str] = ("https",),
    allowed: Sequence[ipaddress._BaseNetwork] = (),
    accept_unresolved: bool = False,
    dns_timeout: float = 3.0,
) -> str:
    """Vet this URL now, before storing it (a webhook's target, a portal's website): the
    static rules, then every address its name resolves to. Raises ``UnsafeTarget``. With
    ``accept_unresolved`` a name that does not resolve (yet), or not within
    ``dns_timeout``, passes: the URL must then be vetted again when it is used (``pin``).
    Returns the URL stripped of surrounding blanks."""
    url = url.strip()
    _, host, port = check_url(url, schemes=schemes, allowed=allowed)
    if literal_address(host) is not None:
        return url
    try:
        async with asyncio.timeout(dns_timeout):
            addresses = await resolve(host, port)
    except (OSError, UnicodeError, TimeoutError) as exc:
        if accept_unresolved:
            return url
        raise UnsafeTarget(f"could not resolve {host}: {exc}") from exc
    _check_all(host, addresses, allowed)
    return url
