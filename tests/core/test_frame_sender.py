"""A text sent to a session's sockets is framed once (`core.sockets.FrameSender`), the frame is
what a browser reads as that text, and a socket that went away ends its consumer as a send
through the server would."""

from typing import Any

import pytest
from autobahn.exception import Disconnected
from autobahn.websocket.protocol import PreparedMessage

from core.sockets import PREPARED_FRAMES, FrameSender, SocketClosed

STATE = (
    '{"type":"state","seq":7,"payload":{"status":"running","sequence":"séquence T2 axiale",'
    '"progress":0.42,"remaining_s":183,"sar_w_kg":1.7,"coil":"tête 32 canaux"}}'
)


class Socket:
    """A socket as the server offers it: what was written to it, frame by frame."""

    def __init__(self) -> None:
        self.frames: list[PreparedMessage] = []
        self.gone = False

    def send_prepared(self, message: PreparedMessage) -> None:
        if self.gone:
            raise Disconnected("Attempt to send on a closed protocol")
        self.frames.append(message)


def sender_for(socket: Socket) -> FrameSender:
    async def send(message: dict[str, Any]) -> None:
        raise AssertionError("the server's prepared frames were not used")

    return FrameSender({"extensions": {PREPARED_FRAMES: socket.send_prepared}}, send)


@pytest.mark.asyncio
async def test_one_text_to_five_sockets_is_framed_once_as_the_websocket_frame_of_the_text() -> None:
    sockets = [Socket() for _ in range(5)]
    for socket in sockets:
        await sender_for(socket)(STATE)
    frames = {id(socket.frames[0]) for socket in sockets}
    assert len(frames) == 1
    wire = sockets[0].frames[0].payloadHybi
    payload = STATE.encode()
    # RFC 6455: FIN and a text opcode, unmasked, a 16-bit length, then the text as UTF-8.
    assert wire == bytes([0x81, 126]) + len(payload).to_bytes(2, "big") + payload


@pytest.mark.asyncio
async def test_the_next_text_gets_its_own_frame() -> None:
    socket = Socket()
    sender = sender_for(socket)
    await sender(STATE)
    await sender('{"type":"chat"}')
    assert socket.frames[1].payloadHybi == bytes([0x81, 15]) + b'{"type":"chat"}'


@pytest.mark.asyncio
async def test_a_socket_that_went_away_ends_its_consumer() -> None:
    socket = Socket()
    socket.gone = True
    with pytest.raises(SocketClosed):
        await sender_for(socket)(STATE)


@pytest.mark.asyncio
async def test_without_the_servers_prepared_frames_the_text_goes_through_send() -> None:
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await FrameSender({}, send)(STATE)
    assert sent == [{"type": "websocket.send", "text": STATE}]
