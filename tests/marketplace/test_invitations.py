"""A manager invites by e-mail; the link makes the membership on sign-up or accept, once, until it
expires."""

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone

from accounts.models import User
from core.errors import Conflict, Gone, PermissionDenied
from core.models import AuditEvent
from marketplace import services
from marketplace.models import Invitation, Membership, Role
from marketplace.tasks import invitation_send_email
from tests.conftest import World, api_as
from tests.factories import PASSWORD, UserFactory, totp_code

pytestmark = pytest.mark.django_db(transaction=True)


def _invite(world: World, email: str = "Nadia@Example.org", role: str = Role.TECHNOLOGIST) -> str:
    """Invite through the page, as a manager would, and return the link from the e-mail."""
    client = Client()
    client.force_login(world.manager)
    response = client.post(
        f"/hospitals/{world.hospital.pk}/invite/", {"email": email, "role": role}
    )
    assert response.status_code == 302
    message = mail.outbox[-1]
    assert message.to == [email.lower()]
    assert "Hôpital Sainte-Claire" in message.subject
    match = re.search(r"https?://[^/\s]+(/join/[\w-]+/)", message.body)
    assert match, message.body
    return match.group(1)


def test_signing_up_through_the_link_joins_with_the_invited_role(world: World) -> None:
    link = _invite(world, role=Role.LOCAL_STAFF)
    visitor = Client()
    page = visitor.get(link)
    assert page.status_code == 200
    assert "Hôpital Sainte-Claire" in page.content.decode()
    response = visitor.post(
        "/accounts/signup/",
        {
            "email": "nadia@example.org",
            "password1": "A-long-pass-phrase-1",
            "password2": "A-long-pass-phrase-1",
        },
        follow=True,
    )
    assert response.status_code == 200
    user = User.objects.get(email="nadia@example.org")
    membership = Membership.objects.get(user=user)
    assert (membership.hospital, membership.role) == (world.hospital, Role.LOCAL_STAFF)
    assert "Welcome to Hôpital Sainte-Claire" in response.content.decode()
    assert Invitation.objects.get().status == "accepted"
    # The same link a second time: used.
    again = Client().get(link)
    assert "already been used" in again.content.decode()


def test_a_signed_in_person_accepts_with_one_click(world: World) -> None:
    link = _invite(world, email=world.outsider.email)
    client = Client()
    client.force_login(world.outsider)
    response = client.post(link)
    assert response.status_code == 302
    assert response["Location"] == f"/hospitals/{world.hospital.pk}/"
    assert Membership.objects.get(user=world.outsider).role == Role.TECHNOLOGIST
    # The link again: its owner is shown the hospital, anyone else is told it is used.
    assert client.get(link)["Location"] == f"/hospitals/{world.hospital.pk}/"
    other = Client()
    other.force_login(world.technologist)
    assert other.post(link).status_code == 410
    assert Membership.objects.filter(user=world.outsider).count() == 1


def test_the_link_is_for_the_invited_address_only(world: World) -> None:
    link = _invite(world)
    client = Client()
    client.force_login(world.outsider)
    response = client.post(link)
    assert response.status_code == 403
    assert "sent to nadia@example.org" in response.content.decode()
    assert not Membership.objects.filter(user=world.outsider).exists()


def test_signing_up_with_another_address_keeps_the_account_but_not_the_invitation(
    world: World,
) -> None:
    link = _invite(world)
    visitor = Client()
    visitor.get(link)
    response = visitor.post(
        "/accounts/signup/",
        {
            "email": "someone@example.org",
            "password1": "A-long-pass-phrase-1",
            "password2": "A-long-pass-phrase-1",
        },
        follow=True,
    )
    assert "sent to nadia@example.org" in response.content.decode()
    assert not Membership.objects.filter(user__email="someone@example.org").exists()
    assert Invitation.objects.get().status == "pending"


def test_an_expired_link(world: World) -> None:
    link = _invite(world, email=world.outsider.email)
    Invitation.objects.update(expires_at=timezone.now() - timedelta(minutes=1))
    client = Client()
    client.force_login(world.outsider)
    assert "has expired" in client.get(link).content.decode()
    assert client.post(link).status_code == 410
    assert not Membership.objects.filter(user=world.outsider).exists()


def test_a_revoked_link(world: World) -> None:
    link = _invite(world, email=world.outsider.email)
    invitation = Invitation.objects.get()
    assert api_as(world.manager).delete(f"/api/v1/invitations/{invitation.pk}/").status_code == 204
    client = Client()
    client.force_login(world.outsider)
    assert client.post(link).status_code == 410
    assert "withdrawn" in client.get(link).content.decode()


def test_a_new_invitation_replaces_the_pending_one(world: World) -> None:
    first = _invite(world, email=world.outsider.email)
    second = _invite(world, email=world.outsider.email, role=Role.MANAGER)
    client = Client()
    client.force_login(world.outsider)
    assert client.post(first).status_code == 410
    assert client.post(second).status_code == 302
    assert Membership.objects.get(user=world.outsider).role == Role.MANAGER


def test_an_unknown_link(db: None) -> None:
    response = Client().get("/join/not-a-token/")
    assert response.status_code == 404
    assert "not valid" in response.content.decode()


def test_inviting_a_member_is_a_conflict(world: World) -> None:
    with pytest.raises(Conflict):
        services.invitation_create(
            actor=world.manager,
            hospital=world.hospital,
            email=world.technologist.email,
            role=Role.TECHNOLOGIST,
        )


def test_accepting_twice_in_a_race_makes_one_membership(world: World) -> None:
    invitation, _ = services.invitation_create(
        actor=world.manager,
        hospital=world.hospital,
        email=world.outsider.email,
        role=Role.TECHNOLOGIST,
    )
    services.invitation_accept(user=world.outsider, invitation=invitation)
    with pytest.raises(Gone):
        services.invitation_accept(user=world.outsider, invitation=invitation)
    assert Membership.objects.filter(user=world.outsider).count() == 1


def test_only_a_manager_invites(world: World) -> None:
    with pytest.raises(PermissionDenied):
        services.invitation_create(
            actor=world.technologist,
            hospital=world.hospital,
            email="x@example.org",
            role=Role.TECHNOLOGIST,
        )
    assert not Invitation.objects.exists()


def test_the_invitation_mail_goes_once(world: World) -> None:
    _invite(world)
    invitation = Invitation.objects.get()
    assert len(mail.outbox) == 1
    assert invitation_send_email(invitation.pk, "token") is False
    assert len(mail.outbox) == 1


def test_every_change_leaves_an_audit_event(world: World) -> None:
    link = _invite(world, email=world.outsider.email)
    client = Client()
    client.force_login(world.outsider)
    client.post(link)
    actions = list(AuditEvent.objects.order_by("pk").values_list("action", "actor_id"))
    assert actions == [
        ("invitation.created", world.manager.pk),
        ("invitation.accepted", world.outsider.pk),
    ]


def test_a_hospital_keeps_at_least_one_manager(world: World) -> None:
    membership = world.manager.memberships.get()
    response = api_as(world.manager).patch(
        f"/api/v1/memberships/{membership.pk}/", {"role": "technologist"}, format="json"
    )
    assert response.status_code == 409
    assert "must keep at least one manager" in response.json()["error"]["message"]
    assert api_as(world.manager).delete(f"/api/v1/memberships/{membership.pk}/").status_code == 409
    membership.refresh_from_db()
    assert membership.role == Role.MANAGER


def test_a_manager_changes_a_role_and_removes_a_member(world: World) -> None:
    membership = world.technologist.memberships.get()
    client = api_as(world.manager)
    response = client.patch(
        f"/api/v1/memberships/{membership.pk}/", {"role": "manager"}, format="json"
    )
    assert response.json()["role"] == "manager"
    assert client.delete(f"/api/v1/memberships/{membership.pk}/").status_code == 204
    assert not Membership.objects.filter(pk=membership.pk).exists()


def test_sign_in_with_email_and_password(world: World) -> None:
    client = Client()
    response = client.post(
        "/accounts/login/", {"login": world.manager.email, "password": PASSWORD}, follow=True
    )
    assert response.status_code == 200
    # A manager's code from their authenticator app follows the password.
    response = client.post(
        "/accounts/2fa/authenticate/", {"code": totp_code(world.manager)}, follow=True
    )
    assert response.status_code == 200
    assert "Hôpital Sainte-Claire" in response.content.decode()


def test_sign_in_attempts_are_rate_limited(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    # Failures are counted in fixed windows of time: keep the test inside one.
    now = timezone.now()
    monkeypatch.setattr(timezone, "now", lambda: now)
    client = Client()
    for _ in range(5):
        wrong = {"login": world.manager.email, "password": "wrong"}
        assert "not correct" in client.post("/accounts/login/", wrong).content.decode()
    # Now even the right password is turned away from this address for a while, and the page
    # says why (tests/accounts/test_login_throttle.py has the rest of the rules).
    right = client.post("/accounts/login/", {"login": world.manager.email, "password": PASSWORD})
    assert right.status_code == 429
    assert "Too many failed sign-ins" in right.content.decode()
    assert "_auth_user_id" not in client.session


def test_password_reset_mails_a_link(world: World) -> None:
    response = Client().post("/accounts/password/reset/", {"email": world.manager.email})
    assert response.status_code == 302
    assert "/accounts/password/reset/key/" in mail.outbox[-1].body


def test_a_user_may_belong_to_no_hospital(db: None) -> None:
    user = UserFactory()
    client = Client()
    client.force_login(user)
    assert client.get("/").status_code == 200
    assert api_as(user).get("/api/v1/hospitals/").json()["count"] == 0


def test_the_dashboard_lists_invitations_to_accept(world: World) -> None:
    services.invitation_create(
        actor=world.manager, hospital=world.hospital, email=world.outsider.email, role="local_staff"
    )
    invitation = Invitation.objects.get()
    client = Client()
    client.force_login(world.outsider)
    assert (
        "Hôpital Sainte-Claire</strong> invites you to join as" in client.get("/").content.decode()
    )
    # Only its addressee may accept it.
    other = Client()
    other.force_login(world.technologist)
    assert other.post(f"/invitations/{invitation.pk}/accept/").status_code == 404
    response = client.post(f"/invitations/{invitation.pk}/accept/")
    assert response["Location"] == f"/hospitals/{world.hospital.pk}/"
    assert Membership.objects.get(user=world.outsider).role == "local_staff"
    assert "invites you" not in client.get("/").content.decode()
