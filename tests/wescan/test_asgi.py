"""The websocket server as clients meet it, on a real Daphne process: a message over Daphne's
size limit (1 MiB) is answered with a close frame, 1009, not a dropped connection (1006)."""

import pytest
from channels.db import database_sync_to_async
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Origin

from tests.cockpit.conftest import session_cookie
from tests.conftest import World
from tests.live_daphne import live_daphne

TIMEOUT = 10
MEBIBYTE = 1024 * 1024


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_message_over_a_mebibyte_is_closed_with_1009(world: World) -> None:
    cookie = await database_sync_to_async(session_cookie)(world.manager)
    with live_daphne(1) as (server,):
        async with connect(
            f"{server.ws_url}/ws/notifications/",
            additional_headers={"Cookie": cookie},
            origin=Origin(server.url),
            proxy=None,
            open_timeout=TIMEOUT,
            max_size=None,
        ) as ws:
            assert '"type": "hello"' in str(await ws.recv())
            await ws.send("x" * (MEBIBYTE + 1))
            with pytest.raises(ConnectionClosed) as closed:
                await ws.recv()
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (
        1009,
        f"received WebSocket message size {MEBIBYTE + 1} exceeds payload limit of {MEBIBYTE} "
        "octets",
    )
