"""Websocket addresses that lead nowhere, through the real ASGI application: closed with 4404
after the handshake, and nothing in the log (before, URLRouter's "No route found" answered the
handshake with HTTP 500 and a traceback)."""

import logging

import pytest
from channels.testing import WebsocketCommunicator

from wescan.asgi import application

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


@pytest.mark.parametrize(
    "path",
    [
        "/ws/nope/",
        "/ws/cockpit/0/",
        "/ws/cockpit/99999999999999999999/",
        "/ws/cockpit/9223372036854775808/",
        "/ws/cockpit/-1/",
        "/ws/cockpit/1",
        "/ws/notifications/extra/",
        "/",
        "/api/v1/",
    ],
)
async def test_an_unknown_address_is_closed_with_4404_and_nothing_logged(
    path: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    socket = WebsocketCommunicator(
        application, path, headers=[(b"origin", b"http://localhost"), (b"host", b"localhost")]
    )
    assert await socket.connect(timeout=5) == (True, None)
    assert await socket.receive_output(timeout=5) == {"type": "websocket.close", "code": 4404}
    await socket.disconnect()
    assert caplog.records == []
