"""The floor of bench_cockpit.py's `redis` run: the pieces issue 20 prescribes for production
(two Daphne processes behind HAProxy, Redis between them) doing the bare relay's work and nothing
else. Not a benchmark itself (`make bench` runs bench_*.py only); bench_cockpit's `floor` run
serves it from two Daphnes with `bench.floor_relay:application`.

It speaks the bare relay's protocol (bench/bare_relay.py): `ws://host:port/cockpit/<id>/scanner`
publishes `state` envelopes, `ws://host:port/cockpit/<id>/person?role=<role>` receives them. Per
scanner frame it does the least those pieces allow:
- parse the JSON envelope and check its type, as the bare relay does;
- number the event and hand it to every process in one round trip to Redis (a Lua script: INCR
  the session's counter, PUBLISH `seq \\n payload` on the session's channel), on the same
  pipelined connection the relay's store uses (`cockpit.resp.RedisPipe`);
- in each process, one pub/sub connection reads the session's channel while one of its people
  is in the session, and sends the envelope, framed once, to each of them from the reply's
  callback (the relay's prepared frames: `core.sockets.PREPARED_FRAMES`).

The Daphnes are production's: importing `wescan.asgi` applies its patches to Twisted, Autobahn
and Daphne (and builds the Django application, which this app never calls). No authentication,
no schema, no history, no snapshot, no link probes, no channel layer: what the relay costs
above this is its own work; what this costs above the bare relay is the architecture's.
"""

import asyncio
import contextlib
import json
from typing import Any
from urllib.parse import parse_qs

from autobahn.websocket.protocol import PreparedMessage
from django.conf import settings

import wescan.asgi  # noqa: F401 (production's patches to Daphne, applied on import)
from cockpit.resp import RedisPipe, RespProtocol, command, connect, login
from core.sockets import PREPARED_FRAMES, SOCKET_GONE

# KEYS: the session's counter, its channel. ARGV: the payload's JSON text.
PUBLISH = """
local seq = redis.call('INCR', KEYS[1])
redis.call('PUBLISH', KEYS[2], seq .. '\\n' .. ARGV[1])
return seq
"""
PREFIX = "floor:"


class Process:
    """This process's Redis connections and the people of each session it serves."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.pipe = RedisPipe(url)
        self.people: dict[str, dict[object, Any]] = {}  # session channel -> socket -> sender
        self.confirmed: dict[str, asyncio.Future[None]] = {}
        self.bus: asyncio.Transport | None = None

    async def subscribe(self, channel: str) -> None:
        if self.bus is None:
            self.bus, _ = await connect(self.url, self.on_reply, self.on_lost)
            for setup in login(self.url):
                self.bus.write(setup)
        if channel not in self.confirmed:
            self.confirmed[channel] = asyncio.get_running_loop().create_future()
            self.bus.write(command("SUBSCRIBE", channel))
        await self.confirmed[channel]

    def on_reply(self, reply: Any) -> None:
        if not isinstance(reply, list) or not reply:
            return
        if reply[0] == b"message":
            seq, _, payload = reply[2].decode().partition("\n")
            text = f'{{"type":"state","seq":{seq},"payload":{payload}}}'
            frame = PreparedMessage(text.encode(), False, False, False)
            for send_prepared in tuple(self.people.get(reply[1].decode(), {}).values()):
                with contextlib.suppress(*SOCKET_GONE):  # closing: its handler leaves
                    send_prepared(frame)
        elif reply[0] == b"subscribe":
            confirmed = self.confirmed.get(reply[1].decode())
            if confirmed is not None and not confirmed.done():
                confirmed.set_result(None)

    def on_lost(self, protocol: RespProtocol) -> None:
        raise SystemExit("floor relay: the pub/sub connection to Redis was lost")


_process: Process | None = None


def envelope(frame_type: str, seq: int | None, payload: dict[str, Any]) -> str:
    return json.dumps({"type": frame_type, "seq": seq, "payload": payload})


async def application(scope: dict[str, Any], receive: Any, send: Any) -> None:
    global _process
    if scope["type"] == "http":  # the balancer's health checks and the bench's start-up probe
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})
        return
    if scope["type"] != "websocket":
        return
    if _process is None:
        _process = Process(settings.REDIS_URL)
    process = _process
    await receive()  # websocket.connect
    path = scope["path"].strip("/").split("/")
    if len(path) != 3 or path[0] != "cockpit" or path[2] not in {"scanner", "person"}:
        await send({"type": "websocket.close", "code": 4404})
        return
    channel = f"{PREFIX}bus:{path[1]}"
    if path[2] == "scanner":
        role = "scanner"
    else:
        role = parse_qs(scope["query_string"].decode()).get("role", ["observer"])[0]
    await send({"type": "websocket.accept"})
    me = object()
    if role != "scanner":
        await process.subscribe(channel)
        process.people.setdefault(channel, {})[me] = scope["extensions"][PREPARED_FRAMES]
    await send({"type": "websocket.send", "text": envelope("welcome", None, {"role": role})})
    keys = (f"{PREFIX}seq:{path[1]}", channel)
    try:
        while (message := await receive())["type"] == "websocket.receive":
            frame = json.loads(message.get("text") or "{}")
            if role != "scanner":
                if frame.get("type") == "ping":
                    await send({"type": "websocket.send", "text": envelope("pong", None, {})})
            elif frame.get("type") != "state":
                error = {"code": "unknown_type", "ref": frame.get("seq")}
                await send({"type": "websocket.send", "text": envelope("error", None, error)})
            else:
                await process.pipe.evalsha(PUBLISH, keys, [json.dumps(frame["payload"])])
    finally:
        process.people.get(channel, {}).pop(me, None)
