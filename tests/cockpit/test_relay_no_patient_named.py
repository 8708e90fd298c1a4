"""The path of the issue, over the relay: "Mr Jan Janssens keeps moving during DWI" sent as a
note asking for help, or a chat line naming the patient, gets an `error` frame naming what was
found (never the name), reaches no one else, and leaves nothing recorded."""

from typing import Any

import pytest
from channels.db import database_sync_to_async

from cockpit.models import AssistRequest
from marketplace.models import ExamFamily
from tests.cockpit.support import open_cockpit
from tests.conftest import World

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

REFUSED = (
    "This looks like it contains a person's name. Describe the work, never the patient: no "
    "names, dates of birth, register or NHS numbers, e-mail addresses or phone numbers (the "
    "session's times belong in its start and end)."
)


def refusal(ref: int) -> dict[str, Any]:
    return {
        "type": "error",
        "seq": None,
        "payload": {"code": "invalid", "message": REFUSED, "ref": ref},
    }


@database_sync_to_async
def help_asked() -> bool:
    return AssistRequest.objects.exists()


async def test_a_note_or_chat_line_naming_the_patient_is_an_error_frame(
    world: World, relay: Any
) -> None:
    # A transactional test may follow one that emptied the seeded vocabulary.
    await database_sync_to_async(ExamFamily.objects.get_or_create)(
        code="neuro", defaults={"name": "Neuro"}
    )
    cockpit = await database_sync_to_async(open_cockpit)(world)
    operator = await relay.person(world.technologist, cockpit.pk)
    await operator.recv_many(3)  # welcome, snapshot, presence
    local = await relay.person(world.local_staff, cockpit.pk)
    await local.recv_many(3)
    await operator.recv()  # local staff's presence

    ref = await operator.send(
        "assist",
        {
            "action": "request",
            "exam_family": "neuro",
            "note": "Mr Jan Janssens keeps moving during DWI",
        },
    )
    assert await operator.recv() == refusal(ref)

    ref = await local.send("chat", {"text": "Mevrouw Els Peeters, claustrofobie"})
    assert await local.recv() == refusal(ref)
    ref = await operator.send("chat", {"text": "jan janssens needs sedation"})
    assert await operator.recv() == refusal(ref)

    # Nothing reached anyone, nothing was asked; the same sockets carry the work's own words.
    await operator.silent()
    await local.silent()
    assert not await help_asked()
    await local.send("chat", {"text": "Siemens Vida: DWI, FLAIR, Gadovist at Sint-Jan"})
    line = await operator.recv()
    assert (line["type"], line["payload"]["text"]) == (
        "chat",
        "Siemens Vida: DWI, FLAIR, Gadovist at Sint-Jan",
    )
