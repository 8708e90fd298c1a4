"""Server-rendered pages for hospitals. Each view fetches through `access`, calls one service and
redirects; a refused action comes back as a DomainError, shown by `DomainErrorMiddleware`."""

from typing import Any

from allauth.account.adapter import get_adapter
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts.adapter import INVITATION_SESSION_KEY
from accounts.models import User
from accounts.requests import AuthenticatedHttpRequest
from core.errors import DomainError, NotFound
from marketplace import access, selectors, services
from marketplace.forms import InviteForm, RoleForm, ScannerForm, SiteForm
from marketplace.models import Hospital, Role


def _hospital_page(
    request: AuthenticatedHttpRequest, hospital: Hospital, status: int = 200, **forms: Any
) -> HttpResponse:
    manager = access.can_manage(request.user, hospital)
    context = {
        "hospital": hospital,
        "my_role": access.role_in(request.user, hospital),
        "is_manager": manager,
        "sites": selectors.site_list(user=request.user, hospital_id=hospital.pk),
        "scanners": selectors.scanner_list(user=request.user, hospital_id=hospital.pk),
        "memberships": selectors.membership_list(user=request.user, hospital_id=hospital.pk),
        "invitations": (
            selectors.invitation_list(user=request.user, hospital_id=hospital.pk).filter(
                accepted_at__isnull=True, revoked_at__isnull=True
            )
            if manager
            else []
        ),
        "roles": Role.choices,
        "invite_form": forms.get("invite_form") or InviteForm(),
        "site_form": forms.get("site_form") or SiteForm(),
        "scanner_form": forms.get("scanner_form") or ScannerForm(hospital_id=hospital.pk),
    }
    return render(request, "marketplace/hospital_detail.html", context, status=status)


@login_required
def hospital_detail(request: AuthenticatedHttpRequest, hospital_id: int) -> HttpResponse:
    return _hospital_page(request, access.access_hospital(request.user, hospital_id))


def _form_error(request: AuthenticatedHttpRequest, form: Any, error: DomainError) -> None:
    for field, problems in error.fields.items():
        target = field if field in form.fields else None
        for problem in problems if isinstance(problems, list) else [problems]:
            form.add_error(target, str(problem))
    if not error.fields:
        form.add_error(None, error.message)


@login_required
@require_POST
def hospital_invite(request: AuthenticatedHttpRequest, hospital_id: int) -> HttpResponse:
    hospital = access.access_hospital(request.user, hospital_id, manage=True)
    form = InviteForm(request.POST)
    if form.is_valid():
        try:
            invitation, _token = services.invitation_create(
                actor=request.user, hospital=hospital, **form.cleaned_data
            )
        except DomainError as error:
            _form_error(request, form, error)
        else:
            messages.success(
                request,
                f"Invitation sent to {invitation.email} as {invitation.get_role_display()}.",
            )
            return redirect("hospital_detail", hospital.pk)
    return _hospital_page(request, hospital, status=400, invite_form=form)


@login_required
@require_POST
def site_add(request: AuthenticatedHttpRequest, hospital_id: int) -> HttpResponse:
    hospital = access.access_hospital(request.user, hospital_id, manage=True)
    form = SiteForm(request.POST)
    if form.is_valid():
        try:
            site = services.site_create(actor=request.user, hospital=hospital, **form.cleaned_data)
        except DomainError as error:
            _form_error(request, form, error)
        else:
            messages.success(request, f"Site {site.name} added.")
            return redirect("hospital_detail", hospital.pk)
    return _hospital_page(request, hospital, status=400, site_form=form)


@login_required
@require_POST
def scanner_add(request: AuthenticatedHttpRequest, hospital_id: int) -> HttpResponse:
    hospital = access.access_hospital(request.user, hospital_id, manage=True)
    form = ScannerForm(request.POST, hospital_id=hospital.pk)
    if form.is_valid():
        try:
            scanner = services.scanner_create(actor=request.user, **form.cleaned_data)
        except DomainError as error:
            _form_error(request, form, error)
        else:
            messages.success(request, f"Scanner {scanner.name} added.")
            return redirect("hospital_detail", hospital.pk)
    return _hospital_page(request, hospital, status=400, scanner_form=form)


@login_required
@require_POST
def scanner_rotate_token(request: AuthenticatedHttpRequest, scanner_id: int) -> HttpResponse:
    scanner = access.access_scanner(request.user, scanner_id, manage=True)
    token = services.scanner_rotate_token(actor=request.user, scanner=scanner)
    # Rendered, not redirected: the token is shown this once and never stored in a message.
    response = render(
        request, "marketplace/scanner_token.html", {"scanner": scanner, "token": token}
    )
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def invitation_revoke(request: AuthenticatedHttpRequest, invitation_id: int) -> HttpResponse:
    invitation = access.access_invitation(request.user, invitation_id)
    services.invitation_revoke(actor=request.user, invitation=invitation)
    messages.success(request, f"Invitation to {invitation.email} withdrawn.")
    return redirect("hospital_detail", invitation.hospital_id)


@login_required
@require_POST
def membership_role(request: AuthenticatedHttpRequest, membership_id: int) -> HttpResponse:
    membership = access.access_membership(request.user, membership_id, manage=True)
    form = RoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a role.")
    else:
        services.membership_change_role(
            actor=request.user, membership=membership, role=form.cleaned_data["role"]
        )
        messages.success(
            request,
            f"{membership.user.display_name} is now {form.cleaned_data['role'].replace('_', ' ')}.",
        )
    return redirect("hospital_detail", membership.hospital_id)


@login_required
@require_POST
def membership_remove(request: AuthenticatedHttpRequest, membership_id: int) -> HttpResponse:
    membership = access.access_membership(request.user, membership_id, manage=True)
    hospital_id = membership.hospital_id
    services.membership_remove(actor=request.user, membership=membership)
    messages.success(request, f"{membership.user.display_name} no longer belongs to the hospital.")
    if membership.user_id == request.user.pk and not request.user.is_staff:
        return redirect("home")
    return redirect("hospital_detail", hospital_id)


def invitation_detail(request: HttpRequest, token: str) -> HttpResponse:
    """The link from the e-mail. Anonymous visitors sign up (and join at once) or sign in;
    a signed-in person accepts with one click."""
    invitation = selectors.invitation_by_token(token=token)
    if invitation is None:
        raise NotFound("This invitation link is not valid.")
    user = request.user if isinstance(request.user, User) else None
    if user is not None and invitation.accepted_by_id == user.pk:
        # Back from signing up through this link: they joined, show them the hospital.
        return redirect("hospital_detail", invitation.hospital_id)
    problem = None
    try:
        services.invitation_check(invitation=invitation, user=user)
    except DomainError as error:
        problem = error
    if request.method == "POST":
        if user is None:
            return redirect_to_login(request.get_full_path())
        if problem is not None:
            raise problem
        membership = services.invitation_accept(user=user, invitation=invitation)
        messages.success(
            request,
            f"You joined {membership.hospital.name} as {membership.get_role_display().lower()}.",
        )
        return redirect("hospital_detail", membership.hospital_id)
    if user is None and problem is None:
        # Remembered for the sign-up that may follow; the mailed link also proves the address.
        request.session[INVITATION_SESSION_KEY] = token
        get_adapter(request).stash_verified_email(request, invitation.email)
    return render(
        request,
        "marketplace/invitation.html",
        {"invitation": invitation, "problem": problem, "token": token},
        status=problem.status if problem else 200,
    )
