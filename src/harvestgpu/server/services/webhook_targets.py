"""Where a webhook may point: http(s) URLs whose host resolves only to public addresses.

Loopback, private, link-local (cloud metadata at 169.254.169.254), carrier-grade NAT, multicast
and reserved addresses are refused unless HARVESTGPU_WEBHOOK_ALLOW_PRIVATE=true. The delivery
worker resolves the host itself and connects to the address it checked (the Host header and TLS
SNI keep the name), so a DNS answer that changes between check and connect cannot redirect a
delivery inside the network.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from dataclasses import dataclass

import httpx

MAX_URL_LENGTH = 2000
_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?", re.IGNORECASE)
RESOLVE_TIMEOUT_S = 3.0
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class TargetRefused(Exception):
    """The URL is malformed or points somewhere webhooks may not go; the message says why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class PinnedTarget:
    """What to connect to: ``url`` (possibly with the host replaced by the checked address)."""

    url: httpx.URL
    host_header: str | None = None
    sni_hostname: str | None = None


def parse_url(raw: str) -> httpx.URL:
    if len(raw) > MAX_URL_LENGTH:
        raise TargetRefused(f"url must be at most {MAX_URL_LENGTH} characters")
    try:
        url = httpx.URL(raw)
    except (httpx.InvalidURL, TypeError, ValueError):
        raise TargetRefused("url is not a valid URL") from None
    if url.scheme not in ("http", "https"):
        raise TargetRefused("url must start with http:// or https://")
    if not url.host:
        raise TargetRefused("url must name a host")
    if _literal_ip(url.host) is None and not _valid_host_name(url.host):
        raise TargetRefused("url host is not a valid host name")
    if url.port is not None and not 0 < url.port < 65536:
        raise TargetRefused("url port must be between 1 and 65535")
    return url


def _valid_host_name(host: str) -> bool:
    """A DNS host name: letters, digits and inner hyphens in labels of 1-63 characters, 253 in
    all. Checked here because such names can never resolve, and some make the resolver raise
    UnicodeError rather than fail."""
    try:
        ascii_host = host.rstrip(".").encode("idna").decode("ascii")
    except UnicodeError:
        return False
    return 0 < len(ascii_host) <= 253 and all(_LABEL.fullmatch(label) for label in ascii_host.split("."))


def is_public(ip: IPAddress) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def _literal_ip(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _refuse_private(host: str, ip: IPAddress) -> None:
    if not is_public(ip):
        raise TargetRefused(
            f"url host {host} resolves to {ip}, a loopback, private, link-local or reserved address; "
            "webhooks must reach a public address"
        )


async def resolve(host: str, port: int) -> list[IPAddress]:
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(RESOLVE_TIMEOUT_S):
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    seen: list[IPAddress] = []
    for _family, _type, _proto, _canon, sockaddr in infos:
        ip = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if ip not in seen:
            seen.append(ip)
    return seen


def _is_local_name(host: str) -> bool:
    name = host.lower().rstrip(".")
    return name == "localhost" or name.endswith(".localhost")


async def check_new(raw: str, allow_private: bool) -> httpx.URL:
    """Validate a URL a user registers. A host that does not resolve now is accepted: the
    delivery worker checks it again before every attempt."""
    url = parse_url(raw)
    if allow_private:
        return url
    if _is_local_name(url.host):
        raise TargetRefused("url host is localhost; webhooks must reach a public address")
    ip = _literal_ip(url.host)
    if ip is not None:
        _refuse_private(url.host, ip)
        return url
    try:
        addresses = await resolve(url.host, url.port or (443 if url.scheme == "https" else 80))
    except (OSError, TimeoutError):
        return url
    for address in addresses:
        _refuse_private(url.host, address)
    return url


async def pin(raw: str, allow_private: bool) -> PinnedTarget:
    """Resolve and check a target right before a delivery attempt (raises TargetRefused/OSError)."""
    url = parse_url(raw)
    if allow_private:
        return PinnedTarget(url)
    if _is_local_name(url.host):
        raise TargetRefused("url host is localhost; webhooks must reach a public address")
    ip = _literal_ip(url.host)
    if ip is not None:
        _refuse_private(url.host, ip)
        return PinnedTarget(url)
    addresses = await resolve(url.host, url.port or (443 if url.scheme == "https" else 80))
    if not addresses:
        raise OSError(f"{url.host} did not resolve")
    for address in addresses:
        _refuse_private(url.host, address)
    host_header = url.netloc.decode("ascii").rpartition("@")[2]
    return PinnedTarget(
        url.copy_with(host=str(addresses[0])),
        host_header=host_header,
        sni_hostname=url.host if url.scheme == "https" else None,
    )
