"""One reading of who is asking, believed only as far as the configured proxies vouch for it."""

import pytest
from allauth.account.adapter import get_adapter
from django.conf import settings
from django.test import RequestFactory, override_settings
from rest_framework.settings import api_settings

from accounts.api import TokenThrottle
from core.client_address import client_ip, rate_limit_address


def _request(remote: str = "192.0.2.10", forwarded: str | None = None) -> object:
    extra = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().post("/", **extra)


@override_settings(TRUSTED_PROXY_COUNT=0)
def test_without_trusted_proxies_the_forwarded_header_is_ignored() -> None:
    assert client_ip(_request(forwarded="203.0.113.9")) == "192.0.2.10"


@pytest.mark.parametrize(
    ("proxies", "forwarded", "expected"),
    [
        (1, "203.0.113.9", "203.0.113.9"),
        (1, "6.6.6.6, 203.0.113.9", "203.0.113.9"),  # what the client wrote is not believed
        (2, "6.6.6.6, 203.0.113.9, 10.0.0.2", "203.0.113.9"),
        (2, "203.0.113.9", "203.0.113.9"),  # fewer hops than proxies: the one our proxy wrote
        (1, " 2001:db8::1 ", "2001:db8::1"),
        (1, "[2001:db8::1]:4711", "2001:db8::1"),
        (1, "203.0.113.9:4711", "203.0.113.9"),
        (1, "not an address", "192.0.2.10"),  # a broken hop: the proxy itself, one bucket
        (1, "", "192.0.2.10"),
    ],
)
def test_with_trusted_proxies_the_nth_address_from_the_right_is_the_client(
    proxies: int, forwarded: str, expected: str
) -> None:
    with override_settings(TRUSTED_PROXY_COUNT=proxies):
        assert client_ip(_request(forwarded=forwarded)) == expected


def test_ipv6_addresses_are_limited_by_their_64_network() -> None:
    assert rate_limit_address("2001:db8:1:2:aaaa::1") == rate_limit_address("2001:db8:1:2::9")
    assert rate_limit_address("2001:db8:1:3::1") != rate_limit_address("2001:db8:1:2::1")
    assert rate_limit_address("203.0.113.9") == "203.0.113.9"


@pytest.mark.parametrize("proxies", [0, 1])
def test_allauth_and_drf_throttles_read_the_same_address(proxies: int) -> None:
    request = _request(forwarded="6.6.6.6, 203.0.113.9")
    with override_settings(TRUSTED_PROXY_COUNT=proxies):
        expected = client_ip(request)
        assert get_adapter().get_client_ip(request) == expected
        assert TokenThrottle().get_ident(request) == expected


def test_drf_and_allauth_settings_agree_with_the_trusted_proxy_count() -> None:
    # For any limit that reads the header itself instead of asking core.client_address.
    assert api_settings.NUM_PROXIES == settings.TRUSTED_PROXY_COUNT
    assert settings.ALLAUTH_TRUSTED_PROXY_COUNT == settings.TRUSTED_PROXY_COUNT
