"""The ceiling for bench_cockpit.py: a bare websocket relay with the `websockets` library and no
Django, on the same load. Not a benchmark itself (`make bench` runs bench_*.py only).

One process, one asyncio loop. A room per cockpit session:
- `ws://host:port/cockpit/<id>/scanner`: the scanner publishes `state` envelopes;
- `ws://host:port/cockpit/<id>/person?role=<role>`: people receive every state.

What it does per scanner frame is the least a relay can do and still keep the contract's wire
format: parse the JSON envelope, check its type, number it with the room's own seq, serialise one
`{"type": "state", "seq": n, "payload": ...}` envelope and write it to every person in the room
(`websockets.broadcast`: no await per client, a slow client's frames wait in its write buffer, as
they do in Daphne). No authentication, no schema, no store, no history: what Django, Channels,
pydantic and the store cost on top is the difference between the two runs.

Run: `python bench/bare_relay.py <port>`; it prints `ready` once it listens.
"""

import asyncio
import json
import signal
import sys
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import ServerConnection, broadcast, serve


@dataclass
class Room:
    seq: int = 0
    people: set[ServerConnection] = field(default_factory=set)


ROOMS: dict[str, Room] = {}


def envelope(frame_type: str, seq: int | None, payload: dict[str, Any]) -> str:
    return json.dumps({"type": frame_type, "seq": seq, "payload": payload})


async def handler(connection: ServerConnection) -> None:
    parts = urlsplit(connection.request.path if connection.request else "")
    path = parts.path.strip("/").split("/")
    if len(path) != 3 or path[0] != "cockpit" or path[2] not in {"scanner", "person"}:
        await connection.close(4404, "no such room")
        return
    room = ROOMS.setdefault(path[1], Room())
    role = "scanner" if path[2] == "scanner" else parse_qs(parts.query).get("role", ["observer"])[0]
    await connection.send(envelope("welcome", None, {"role": role, "seq": room.seq}))
    if role == "scanner":
        await publish(connection, room)
        return
    room.people.add(connection)
    try:
        async for message in connection:
            if json.loads(message).get("type") == "ping":
                await connection.send(envelope("pong", None, {}))
    finally:
        room.people.discard(connection)


async def publish(connection: ServerConnection, room: Room) -> None:
    async for message in connection:
        frame = json.loads(message)
        if frame.get("type") != "state":
            await connection.send(
                envelope("error", None, {"code": "unknown_type", "ref": frame.get("seq")})
            )
            continue
        room.seq += 1
        broadcast(room.people, envelope("state", room.seq, frame["payload"]))


async def main(port: int) -> None:
    stop = asyncio.get_running_loop().create_future()
    for signum in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set_result, None)
    # compression=None: Daphne does not compress either.
    async with serve(handler, "127.0.0.1", port, compression=None, max_size=2**20):
        print("ready", flush=True)
        await stop


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
