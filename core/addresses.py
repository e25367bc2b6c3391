"""The client's address, one rule for everything that counts or admits by it: the sign-in
lock (django-axes, AXES_CLIENT_IP_CALLABLE), the token endpoint's throttle and /metrics'
network list.

X-Forwarded-For is anyone's to write, so it is read only when the peer itself is one of
TRUSTED_PROXY_NETWORKS (and PROXY_COUNT is 1 or more); from any other peer the peer's own
address counts. The address read is parsed, so that what the lock stores (an inet column)
and what the network list compares is always an address.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address, ip_address

from django.conf import settings
from rest_framework.throttling import ScopedRateThrottle


def parse_address(text: str) -> IPv4Address | IPv6Address | None:
    """An address from `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1` or `[2001:db8::1]:443`
    (proxies write a port in some set-ups); None when it is none of these. An IPv4 address
    mapped into IPv6 (a dual-stack socket's `::ffff:10.0.0.1`) is the IPv4 one."""
    text = text.strip()
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        address = ip_address(text)
    except ValueError:
        return None
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def peer_is_trusted_proxy(request) -> bool:
    peer = parse_address(request.META.get("REMOTE_ADDR", ""))
    return peer is not None and any(peer in net for net in settings.TRUSTED_PROXY_NETWORKS)


def client_address(request) -> str:
    """The address the last of PROXY_COUNT proxies saw (DRF's NUM_PROXIES rule: the
    PROXY_COUNT-th entry from the right of X-Forwarded-For) when the peer is a trusted
    proxy; otherwise, or when that entry is not an address, the peer's own."""
    peer = request.META.get("REMOTE_ADDR", "")
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if settings.PROXY_COUNT and forwarded and peer_is_trusted_proxy(request):
        entries = forwarded.split(",")
        address = parse_address(entries[-min(settings.PROXY_COUNT, len(entries))])
        if address is not None:
            return str(address)
    address = parse_address(peer)
    return str(address) if address is not None else peer


class ClientAddressScopedRateThrottle(ScopedRateThrottle):
    """DRF's scoped throttle, counting by client_address rather than by DRF's own reading
    of X-Forwarded-For (which trusts any peer)."""

    def get_ident(self, request):
        return client_address(request)


class ProxyHeadersFromTrustedProxiesOnly:
    """Drops the X-Forwarded-* headers of a request whose peer is not a trusted proxy,
    before anything reads them: SECURE_PROXY_SSL_HEADER (X-Forwarded-Proto) would
    otherwise let a client that reaches gunicorn directly pass for HTTPS and skip the
    redirect, and no later code can mistake a client's own X-Forwarded-For for a proxy's."""

    HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_PROTO", "HTTP_X_FORWARDED_HOST")

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not (settings.PROXY_COUNT and peer_is_trusted_proxy(request)):
            for header in self.HEADERS:
                request.META.pop(header, None)
        return self.get_response(request)
