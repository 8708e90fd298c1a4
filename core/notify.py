"""Live notices to people, on whatever page they have open, sent once the transaction commits."""

from collections.abc import Iterable
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from core.groups import user_group


def push_on_commit(*, user_ids: Iterable[int], payload: dict[str, Any]) -> None:
    recipients = sorted(set(user_ids))

    def send() -> None:
        layer = get_channel_layer()
        if layer is None:
            return
        for user_id in recipients:
            async_to_sync(layer.group_send)(
                user_group(user_id), {"type": "notify", "payload": payload}
            )

    if recipients:
        transaction.on_commit(send)
