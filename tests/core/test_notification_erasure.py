"""`notification_names_replace`: an erased person's name leaves every notice, in every language
it is kept in, and its data, however it is written or stored."""

import pytest

from core.models import Notification
from core.notify import MESSAGE_MAX, notification_names_replace
from tests.conftest import World

pytestmark = pytest.mark.django_db

NAME = 'Zoë "Z" Dubois'
INSTEAD = {"en": "a former member", "nl": "een voormalig lid", "fr": "un ancien membre"}


def _replace(name: str = NAME) -> int:
    return notification_names_replace(name=name, instead=INSTEAD.__getitem__)


def _notice(world: World, message: str, **fields: object) -> Notification:
    return Notification.objects.create(
        recipient=world.manager, kind="assist.requested", message=message, **fields
    )


def test_the_name_goes_from_the_text_every_language_and_the_data(world: World) -> None:
    notice = _notice(
        world,
        f"{NAME} asks for help.",
        messages={
            "en": f"{NAME} asks for help.",
            "nl": f"{NAME} vraagt hulp.",
            "fr": f"{NAME} demande de l'aide.",
        },
        data={"requested_by": NAME, "note": f"for {NAME.upper()}", "steps": [NAME, 3]},
    )

    assert _replace() == 1

    notice.refresh_from_db()
    assert notice.message == "A former member asks for help."
    assert notice.messages == {
        "en": "A former member asks for help.",
        "nl": "Een voormalig lid vraagt hulp.",
        "fr": "Un ancien membre demande de l'aide.",
    }
    assert notice.data == {
        "requested_by": "a former member",
        "note": "for a former member",
        "steps": ["a former member", 3],
    }


def test_a_name_kept_only_in_another_language_is_found_as_the_database_stored_it(
    world: World,
) -> None:
    # Accents, quotes and backslashes are escaped differently by SQLite and PostgreSQL.
    notice = _notice(world, "Help asked.", messages={"en": "Help asked.", "fr": f"Par {NAME}."})

    assert _replace() == 1

    notice.refresh_from_db()
    assert notice.messages["fr"] == "Par un ancien membre."


def test_the_name_is_found_in_any_case(world: World) -> None:
    notice = _notice(world, "Mail tina.peeters@example.org about it.")

    notification_names_replace(name="Tina.Peeters@Example.org", instead=INSTEAD.__getitem__)

    notice.refresh_from_db()
    assert notice.message == "Mail a former member about it."


def test_the_start_of_a_name_cut_at_the_limit_goes_too(world: World) -> None:
    padding = "x" * (MESSAGE_MAX - len("Tina P") - 1)
    cut = f"{padding} Tina P"
    notice = _notice(world, cut, messages={"en": cut, "nl": cut, "fr": cut})

    notification_names_replace(name="Tina Peeters", instead=INSTEAD.__getitem__)

    notice.refresh_from_db()
    assert notice.message == f"{padding} a former member"
    assert notice.messages["fr"] == f"{padding} un ancien membre"


def test_a_word_that_only_ends_like_the_start_of_the_name_stays(world: World) -> None:
    text = "x" * (MESSAGE_MAX - len(" Smart")) + " Smart"
    notice = _notice(world, text)

    assert notification_names_replace(name="Mart Jansen", instead=INSTEAD.__getitem__) == 0

    notice.refresh_from_db()
    assert notice.message == text


def test_notices_that_do_not_name_them_are_left_alone(world: World) -> None:
    notice = _notice(world, "Zoë asked.", data={"requested_by": "Zoë Martin"})

    assert _replace() == 0

    notice.refresh_from_db()
    assert (notice.message, notice.data) == ("Zoë asked.", {"requested_by": "Zoë Martin"})


def test_an_accented_name_in_capitals_is_found(world: World) -> None:
    notice = _notice(
        world,
        "ZOË DUBOIS asks for help.",
        messages={"en": "Help.", "fr": "Aide pour ZOË DUBOIS"},
        data={"note": "mail élodie.dupont@x.be"},
    )

    notification_names_replace(name="Zoë Dubois", instead=INSTEAD.__getitem__)
    notification_names_replace(name="Élodie.Dupont@x.be", instead=INSTEAD.__getitem__)

    notice.refresh_from_db()
    assert notice.message == "A former member asks for help."
    assert notice.messages["fr"] == "Aide pour un ancien membre"
    assert notice.data == {"note": "mail a former member"}


def test_another_name_that_holds_theirs_is_left_alone(world: World) -> None:
    notice = _notice(world, "Joann Leeds asks for help.", data={"to": "joann.lee@x.be"})

    assert notification_names_replace(name="Ann Lee", instead=INSTEAD.__getitem__) == 0
    assert notification_names_replace(name="ann.lee@x.be", instead=INSTEAD.__getitem__) == 0

    notice.refresh_from_db()
    assert (notice.message, notice.data) == ("Joann Leeds asks for help.", {"to": "joann.lee@x.be"})
