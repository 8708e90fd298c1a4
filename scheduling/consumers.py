"""The live progress of one optimiser plan, on `/ws/plans/<id>/`.

Who may watch is the plan's own rule (`scheduling.services.plans.access_plan`): a hospital's
plan its managers and platform admins, a network plan platform admins. Anyone else is accepted
then closed with 4401 (not signed in), 4404 (no such plan, as far as they may know) or 4403 (a
member of the hospital whose role may not plan). On connect the socket sends the plan's state
at once (`state`), then each update the solve pushes (phase, best objective so far, bound, time
left) and the final status. A dedicated socket rather than the person's notifications socket:
the state on connect and the end of the stream belong to the plan, and only the plan's viewers
need its frames (two a second while it runs). The socket answers `ping` only.
"""

from typing import Any

from channels.db import database_sync_to_async

from core.consumers import CLOSE_NOT_FOUND, CLOSE_UNAUTHENTICATED, FeedConsumer
from core.errors import DomainError, NotFound
from core.groups import plan_group
from scheduling.services.plans import access_plan, plan_state

CLOSE_FORBIDDEN = 4403


@database_sync_to_async
def _state_for(user: Any, plan_id: int) -> dict[str, Any]:
    return plan_state(access_plan(user, plan_id))


class PlanConsumer(FeedConsumer):
    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.refuse(CLOSE_UNAUTHENTICATED)
            return
        if await self.held_back():
            return
        plan_id = self.scope["url_route"]["kwargs"]["plan_id"]
        try:
            state = await _state_for(user, plan_id)
        except NotFound:
            await self.refuse(CLOSE_NOT_FOUND)
            return
        except DomainError:
            await self.refuse(CLOSE_FORBIDDEN)
            return
        await self.listen(plan_group(plan_id))
        await self.send_frame("state", state)

    async def refuse(self, code: int) -> None:
        """Accepted, then closed with `code`: a browser sees the code only on a socket that
        opened (closing before accepting is an HTTP 403 at the handshake, code 1006)."""
        await self.accept()
        await self.close(code=code)

    async def plan_state(self, event: dict[str, Any]) -> None:
        """Group message from `scheduling.services.plans._push`."""
        await self.send_frame("state", event["payload"])
