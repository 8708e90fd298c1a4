"""The live progress of one optimiser plan, on `/ws/plans/<id>/`.

Who may watch is the plan's own rule (`scheduling.services.plans.access_plan`): a hospital's
plan its managers and platform admins, a network plan platform admins. Anyone else is closed
with 4401 (not signed in), 4404 (no such plan, as far as they may know) or 4403 (a member of the
hospital whose role may not plan). On connect the socket sends the plan's state at once
(`state`), then each update the solve pushes (phase, best objective so far, bound, time left) and
the final status. A dedicated socket rather than the person's notifications socket: the state on
connect and the end of the stream belong to the plan, and only the plan's viewers need its
frames (two a second while it runs). The socket answers `ping` only.
"""

from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from core.consumers import CLOSE_NOT_FOUND, CLOSE_UNAUTHENTICATED, FRAMES, frame_buckets
from core.errors import DomainError, NotFound
from core.frames import error_payload, frame_loads
from core.groups import plan_group
from core.sockets import Cleanup
from scheduling.services.plans import access_plan, plan_state

CLOSE_FORBIDDEN = 4403
MAX_FRAME_BYTES = 1024


@database_sync_to_async
def _state_for(user: Any, plan_id: int) -> dict[str, Any]:
    return plan_state(access_plan(user, plan_id))


class PlanConsumer(Cleanup, AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        plan_id = self.scope["url_route"]["kwargs"]["plan_id"]
        try:
            state = await _state_for(user, plan_id)
        except NotFound:
            await self.close(code=CLOSE_NOT_FOUND)
            return
        except DomainError:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.seq = 0
        self.group = plan_group(plan_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        await self.send_frame("state", state)

    async def disconnect(self, code: int) -> None:
        await self.cleanup()

    async def cleanup(self) -> None:
        group = self.__dict__.pop("group", None)
        if group is not None:
            await self.channel_layer.group_discard(group, self.channel_name)

    async def send_frame(self, frame_type: str, payload: dict[str, Any]) -> None:
        self.seq += 1
        await self.send_json({"type": frame_type, "seq": self.seq, "payload": payload})

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        try:
            if not frame_buckets.admit(self.scope["user"].pk, FRAMES, what="frames"):
                return
            content = frame_loads(text_data, max_bytes=MAX_FRAME_BYTES)
        except DomainError as error:
            await self.send_frame("error", error_payload(error))
            return
        if not isinstance(content, dict) or content.get("type") != "ping":
            await self.send_frame(
                "error", {"code": "unknown_type", "message": "This socket accepts 'ping' only."}
            )
            return
        await self.send_frame("pong", {})

    async def plan_state(self, event: dict[str, Any]) -> None:
        """Group message from `scheduling.services.plans._push`."""
        await self.send_frame("state", event["payload"])
