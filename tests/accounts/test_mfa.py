"""The second factor as people meet it outside a browser: those who must have one are sent to set
one up before anything else (the API says so with 403), and those who have one are asked for it
at sign-in, the admin's too. Codes are computed as an authenticator app would, at the moment they
are typed (no clock is frozen: allauth reads the real one, and so does the test)."""

from urllib.parse import urlencode

import pyotp
import pytest
from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from django.test import Client
from django.urls import reverse

from accounts.models import User
from accounts.second_factor import session_passed_second_factor
from marketplace.models import Role
from tests.conftest import World
from tests.factories import (
    PASSWORD,
    MembershipFactory,
    UserFactory,
    enrol_totp,
    totp_code,
)

pytestmark = pytest.mark.django_db

SETUP = "/account/second-factor/"


def person(world: World, role: str) -> User:
    """Someone of `role` with no second factor yet."""
    if role == "admin":
        return UserFactory(is_staff=True)
    user = UserFactory()
    MembershipFactory(user=user, hospital=world.hospital, role=role)
    return user


def setup_for(path: str) -> str:
    return f"{SETUP}?{urlencode({'next': path})}"


@pytest.mark.parametrize("role", [Role.MANAGER, Role.LOCAL_STAFF, "admin"])
def test_one_who_must_is_sent_to_set_one_up_from_every_page(world: World, role: str) -> None:
    client = Client()
    client.force_login(person(world, role))
    for path in ["/", "/profile/", f"/hospitals/{world.hospital.pk}/", "/cockpits/", "/admin/"]:
        response = client.get(path)
        assert response.status_code == 302, path
        assert response["Location"] == setup_for(path)
    page = client.get(setup_for("/profile/"))
    assert page.status_code == 200
    assert "Your account must have a second factor before you use WeScan." in page.text
    assert reverse("mfa_activate_totp") in page.text
    assert reverse("mfa_add_webauthn") in page.text


def test_a_form_sent_without_one_goes_to_set_up_too_and_changes_nothing(world: World) -> None:
    manager = person(world, Role.MANAGER)
    client = Client()
    client.force_login(manager)
    response = client.post("/profile/", {"first_name": "Changed", "last_name": "Name"})
    assert response.status_code == 302
    assert response["Location"] == setup_for("/")
    manager.refresh_from_db()
    assert manager.first_name != "Changed"


def test_setting_one_up_and_signing_out_stay_open(world: World) -> None:
    client = Client()
    client.force_login(person(world, Role.MANAGER))
    # allauth asks for the password again before adding one (force_login signed in no one by
    # password): that page is open too.
    activate = client.get(reverse("mfa_activate_totp"))
    assert activate.status_code == 302
    assert activate["Location"].startswith(reverse("account_reauthenticate"))
    assert client.get(activate["Location"]).status_code == 200
    assert client.get(reverse("mfa_index")).status_code == 200
    assert client.get(reverse("account_email")).status_code == 200
    assert client.post(reverse("account_logout")).status_code == 302
    assert client.get("/profile/")["Location"].startswith(reverse("account_login"))


def test_technologists_and_people_with_one_go_where_they_asked(world: World) -> None:
    technologist = person(world, Role.TECHNOLOGIST)
    for user in [technologist, world.manager, world.local_staff, world.admin, world.outsider]:
        client = Client()
        client.force_login(user)
        assert client.get("/profile/").status_code == 200, user.email


def test_the_api_answers_403_saying_to_set_one_up(world: World) -> None:
    client = Client()
    client.force_login(person(world, Role.MANAGER))
    response = client.get("/api/v1/me/")
    assert response.status_code == 403
    assert response.json() == {
        "error": {
            "code": "second_factor_required",
            "message": (
                "Your account must have a second factor (an authenticator app or a passkey) "
                "before it uses WeScan: set one up on the web, under My profile."
            ),
            "fields": {},
        }
    }
    enrolled = Client()
    enrolled.force_login(world.manager)
    assert enrolled.get("/api/v1/me/").status_code == 200


def sign_in_with_password(client: Client, email: str, next_path: str = "") -> str:
    url = reverse("account_login") + (f"?{urlencode({'next': next_path})}" if next_path else "")
    response = client.post(url, {"login": email, "password": PASSWORD})
    assert response.status_code == 302
    return str(response["Location"])


def confirm_password(client: Client, path: str) -> None:
    """allauth asks for the password again before a second factor is added or removed."""
    asked = client.get(path)
    assert asked.status_code == 302
    assert asked["Location"] == f"{reverse('account_reauthenticate')}?{urlencode({'next': path})}"
    confirmed = client.post(asked["Location"], {"password": PASSWORD})
    assert confirmed["Location"] == path


# Committed as in production: allauth tells of a new authenticator once its transaction commits,
# inside the request (a test's own transaction would hold that back until after the response).
@pytest.mark.django_db(transaction=True)
def test_sign_in_sets_one_up_first_then_goes_where_it_was_going(world: World) -> None:
    manager = person(world, Role.MANAGER)
    client = Client()
    assert sign_in_with_password(client, manager.email) == "/"
    assert client.get("/")["Location"] == setup_for("/")
    assert client.get(setup_for("/")).status_code == 200
    confirm_password(client, reverse("mfa_activate_totp"))
    page = client.get(reverse("mfa_activate_totp"))
    assert page.status_code == 200
    secret = page.context["form"].secret
    assert secret in page.text
    assert "<svg" in page.text  # the QR code, drawn in the page: an image would need data:
    assert "data:image" not in page.text
    wrong = client.post(reverse("mfa_activate_totp"), {"code": "000000"})
    assert wrong.status_code == 200
    assert "Incorrect code." in wrong.text
    assert not Authenticator.objects.filter(user=manager).exists()

    done = client.post(reverse("mfa_activate_totp"), {"code": pyotp.TOTP(secret).now()})
    assert done["Location"] == reverse("mfa_view_recovery_codes")
    codes = client.get(done["Location"])
    assert len(codes.context["unused_codes"]) == 10
    # Setting it up proved the app, as signing in with it would have.
    assert session_passed_second_factor(codes.wsgi_request)
    onwards = client.get(SETUP)
    assert onwards["Location"] == "/"
    assert client.get("/").status_code == 200


def test_one_with_an_app_types_its_code_after_the_password(world: World) -> None:
    client = Client()
    assert sign_in_with_password(client, world.manager.email) == reverse("mfa_authenticate")
    asked = client.get(reverse("mfa_authenticate"))
    assert "Enter the code your authenticator app shows now" in asked.text
    assert "Use a passkey" not in asked.text  # they have none
    # Not signed in yet: the password alone opens nothing.
    assert client.get("/profile/")["Location"].startswith(reverse("account_login"))
    refused = client.post(reverse("mfa_authenticate"), {"code": "000000"})
    assert refused.status_code == 200
    assert "Incorrect code." in refused.text
    response = client.post(reverse("mfa_authenticate"), {"code": totp_code(world.manager)})
    assert response["Location"] == "/"
    assert client.get("/profile/").status_code == 200
    assert session_passed_second_factor(client.get("/profile/").wsgi_request)


def test_a_code_is_taken_once(world: World) -> None:
    code = totp_code(world.manager)
    first, second = Client(), Client()
    sign_in_with_password(first, world.manager.email)
    assert first.post(reverse("mfa_authenticate"), {"code": code})["Location"] == "/"
    sign_in_with_password(second, world.manager.email)
    again = second.post(reverse("mfa_authenticate"), {"code": code})
    assert again.status_code == 200
    assert "Incorrect code." in again.text


def test_the_admin_signs_in_through_the_same_second_factor(world: World) -> None:
    client = Client()
    start = client.get("/admin/")
    assert start.status_code == 302
    assert start["Location"] == "/admin/login/?next=/admin/"
    to_login = client.get(start["Location"])
    assert to_login["Location"] == f"{reverse('account_login')}?next=/admin/"
    # The password alone: the second factor, not the admin.
    assert sign_in_with_password(client, world.admin.email, "/admin/") == reverse(
        "mfa_authenticate"
    )
    assert client.get("/admin/")["Location"] == "/admin/login/?next=/admin/"
    assert client.get("/admin/login/?next=/admin/")["Location"].startswith(reverse("account_login"))
    done = client.post(reverse("mfa_authenticate"), {"code": totp_code(world.admin)})
    assert done["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_an_admin_without_one_cannot_reach_the_admin(world: World) -> None:
    admin = person(world, "admin")
    client = Client()
    sign_in_with_password(client, admin.email, "/admin/")
    assert client.get("/admin/")["Location"] == setup_for("/admin/")
    assert client.get("/admin/login/?next=/admin/")["Location"].startswith(SETUP)


def test_the_last_second_factor_of_one_who_must_stays(world: World) -> None:
    client = Client()
    sign_in_with_password(client, world.manager.email)
    client.post(reverse("mfa_authenticate"), {"code": totp_code(world.manager)})
    confirm_password(client, reverse("mfa_deactivate_totp"))
    response = client.post(reverse("mfa_deactivate_totp"))
    assert response.status_code == 200
    assert (
        "Your role needs a second factor, and this is your last one: add a passkey first, "
        "then remove this one." in response.text
    )
    assert Authenticator.objects.filter(user=world.manager, type="totp").exists()
    # A technologist may remove theirs.
    technologist = person(world, Role.TECHNOLOGIST)
    enrol_totp(technologist)
    other = Client()
    sign_in_with_password(other, technologist.email)
    other.post(reverse("mfa_authenticate"), {"code": totp_code(technologist)})
    confirm_password(other, reverse("mfa_deactivate_totp"))
    assert other.post(reverse("mfa_deactivate_totp"))["Location"] == reverse("mfa_index")
    assert not Authenticator.objects.filter(user=technologist).exists()


def test_an_unconfirmed_address_is_confirmed_first_and_the_page_says_so(world: World) -> None:
    manager = person(world, Role.MANAGER)
    EmailAddress.objects.create(user=manager, email=manager.email, verified=False, primary=True)
    client = Client()
    client.force_login(manager)
    page = client.get(SETUP)
    assert "First confirm your e-mail address" in page.text
    # allauth lets no one add a second factor to an unconfirmed address (someone could sign up
    # with another's address and lock its owner out); it says why, on a page still open.
    refused = client.get(reverse("mfa_activate_totp"), follow=True)
    assert refused.redirect_chain[-1][0] == reverse("mfa_index")
    assert "Confirm your e-mail address first" in refused.text
    assert client.get(reverse("account_email")).status_code == 200
