"""Who is asking: the one reading of a client's address, for every rate limit.

DRF's throttles (through `ClientAddressThrottle`), allauth's limits (through the account
adapter's `get_client_ip`) and the sign-in lockout in `accounts.services` all ask `client_ip`;
nothing else reads REMOTE_ADDR or X-Forwarded-For.

X-Forwarded-For is a list that anyone may start: each proxy appends the address it was reached
from. Only the entries our own proxies wrote can be believed, so with `TRUSTED_PROXY_COUNT = N`
the client is the Nth entry from the right (the one our outermost proxy wrote); with 0 (the
default: Daphne faces the clients) the header is ignored and the client is REMOTE_ADDR.
"""

import ipaddress

from django.conf import settings
from django.http import HttpRequest
from rest_framework.request import Request
from rest_framework.throttling import AnonRateThrottle

# IPv6 subscribers are handed a /64 (or more) at a time: counting single addresses would give
# each of them 2^64 fresh starts.
IPV6_LIMIT_PREFIX = 64


def client_ip(request: HttpRequest | Request) -> str:
    """The address of the client, as far as the trusted proxies vouch for it."""
    remote = _clean(request.META.get("REMOTE_ADDR", "")) or "unknown"
    proxies: int = settings.TRUSTED_PROXY_COUNT
    if proxies <= 0:
        return remote
    header = request.META.get("HTTP_X_FORWARDED_FOR", "")
    forwarded = [hop.strip() for hop in header.split(",") if hop.strip()]
    if not forwarded:
        # Reached without passing our proxies (or they dropped the header): the proxy, or
        # whoever connected, is the best we know.
        return remote
    # Fewer hops than proxies: the request entered behind the outermost one, and the leftmost
    # hop is still one that a proxy of ours wrote.
    hop = _clean(forwarded[-min(proxies, len(forwarded))])
    # A hop that is no address means a misconfigured proxy: count all its clients as one
    # rather than believe something a client may have written.
    return hop or remote


def rate_limit_address(address: str) -> str:
    """The part of an address a rate limit counts: an IPv4 address, or an IPv6 address's /64."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        network = ipaddress.IPv6Network(f"{parsed}/{IPV6_LIMIT_PREFIX}", strict=False)
        return f"{network.network_address}/{IPV6_LIMIT_PREFIX}"
    return str(parsed)


class ClientAddressThrottle(AnonRateThrottle):
    """DRF's anonymous throttle, counting per `client_ip` instead of DRF's own header reading."""

    def get_ident(self, request: Request) -> str:
        return rate_limit_address(client_ip(request))


def _clean(value: str) -> str | None:
    """A bare address from a header entry (`1.2.3.4`, `1.2.3.4:5678`, `[2001:db8::1]:443`)."""
    value = value.strip()
    for candidate in (value, _without_port(value)):
        if candidate:
            try:
                return str(ipaddress.ip_address(candidate))
            except ValueError:
                continue
    return None


def _without_port(value: str) -> str | None:
    host, colon, port = value.rpartition(":")
    if not colon or not port.isdigit():
        return None
    if host.startswith("[") and host.endswith("]"):
        return host[1:-1]
    return None if ":" in host else host
