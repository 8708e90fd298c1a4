"""Server-rendered pages for hospitals, technologists' profiles and postings, and a person's
notifications. Each view fetches through `access`, calls one service and redirects; a refused
action comes back as a DomainError, shown by `DomainErrorMiddleware`. The pages of a posting that
show its bookings and matches are scheduling's (`scheduling.views.postings`)."""

from typing import Any

from allauth.account.adapter import get_adapter
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.models import User
from accounts.requests import AuthenticatedHttpRequest
from core import notify
from core.errors import Conflict, DomainError, NotFound
from core.pages import form_error, next_or
from marketplace import access, selectors, services
from marketplace.forms import (
    HospitalPostingFilterForm,
    InviteForm,
    PostingForm,
    RoleForm,
    ScannerForm,
    SiteForm,
    TechnologistProfileForm,
)
from marketplace.invitations import INVITATION_SESSION_KEY
from marketplace.models import (
    Hospital,
    PostingStatus,
    Role,
    SessionPosting,
    TechnologistProfile,
    role_in_sentence,
)
from marketplace.selectors import hospital_time_zone, viewer_time_zone
from marketplace.services import EDITABLE_POSTING_STATUSES


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
            form_error(form, error)
        else:
            messages.success(
                request,
                _("Invitation sent to %(email)s as %(role)s.")
                % {"email": invitation.email, "role": role_in_sentence(invitation.role)},
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
            form_error(form, error)
        else:
            messages.success(request, _("Site %(name)s added.") % {"name": site.name})
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
            form_error(form, error)
        else:
            messages.success(request, _("Scanner %(name)s added.") % {"name": scanner.name})
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
    messages.success(request, _("Invitation to %(email)s withdrawn.") % {"email": invitation.email})
    return redirect("hospital_detail", invitation.hospital_id)


@login_required
@require_POST
def membership_role(request: AuthenticatedHttpRequest, membership_id: int) -> HttpResponse:
    membership = access.access_membership(request.user, membership_id, manage=True)
    form = RoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose a role."))
    else:
        try:
            services.membership_change_role(
                actor=request.user, membership=membership, role=form.cleaned_data["role"]
            )
        except Conflict as refusal:  # e.g. the last manager: said on the page, not instead of it
            messages.error(request, refusal.message)
        else:
            messages.success(
                request,
                _("%(name)s is now %(role)s.")
                % {
                    "name": membership.user.display_name,
                    "role": role_in_sentence(form.cleaned_data["role"]),
                },
            )
    return redirect("hospital_detail", membership.hospital_id)


@login_required
@require_POST
def membership_remove(request: AuthenticatedHttpRequest, membership_id: int) -> HttpResponse:
    membership = access.access_membership(request.user, membership_id, manage=True)
    hospital_id = membership.hospital_id
    try:
        services.membership_remove(actor=request.user, membership=membership)
    except Conflict as refusal:
        messages.error(request, refusal.message)
        return redirect("hospital_detail", hospital_id)
    messages.success(
        request,
        _("%(name)s no longer belongs to the hospital.") % {"name": membership.user.display_name},
    )
    if membership.user_id == request.user.pk and not request.user.is_staff:
        return redirect("home")
    return redirect("hospital_detail", hospital_id)


@login_required
@require_POST
def invitation_accept(request: AuthenticatedHttpRequest, invitation_id: int) -> HttpResponse:
    """Accept, from the dashboard, a pending invitation sent to one's own address."""
    invitation = (
        selectors.invitations_addressed_to(user=request.user).filter(pk=invitation_id).first()
    )
    if invitation is None:
        raise NotFound(_("No such invitation for you."))
    membership = services.invitation_accept(user=request.user, invitation=invitation)
    messages.success(
        request,
        _("You joined %(hospital)s as %(role)s.")
        % {"hospital": membership.hospital.name, "role": role_in_sentence(membership.role)},
    )
    return redirect("hospital_detail", membership.hospital_id)


def invitation_detail(request: HttpRequest, token: str) -> HttpResponse:
    """The link from the e-mail. Anonymous visitors sign up (and join at once) or sign in;
    a signed-in person accepts with one click."""
    invitation = selectors.invitation_by_token(token=token)
    if invitation is None:
        raise NotFound(_("This invitation link is not valid."))
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
            _("You joined %(hospital)s as %(role)s.")
            % {"hospital": membership.hospital.name, "role": role_in_sentence(membership.role)},
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


# --- Technologists: profile --------------------------------------------------------------------


def _profile_initial(profile: TechnologistProfile | None) -> dict[str, Any]:
    if profile is None:
        return {}
    return {
        "seniority": profile.seniority,
        "years_experience": profile.years_experience,
        "exam_families": list(profile.exam_families.all()),
        "vendors": [v.vendor for v in profile.vendor_familiarities.all()],
        "languages": list(profile.languages.all()),
        "home_time_zone": profile.home_time_zone,
        "licence_number": profile.licence_number,
        "licence_authority": profile.licence_authority,
        "licence_valid_until": profile.licence_valid_until,
    }


@login_required
def technologist_profile(request: AuthenticatedHttpRequest) -> HttpResponse:
    """One's own technologist profile: competencies, licence, and whether one can be booked."""
    user = request.user
    profile = selectors.technologist_profile_for(user=user)
    status = 200
    if request.method == "POST":
        form = TechnologistProfileForm(request.POST)
        if form.is_valid():
            was_verified = profile is not None and profile.licence_verified_at is not None
            try:
                saved = services.technologist_profile_update(
                    actor=user, user=user, **form.cleaned_data
                )
            except DomainError as error:
                form_error(form, error)
            else:
                messages.success(request, _("Your technologist profile is saved."))
                if was_verified and saved.licence_verified_at is None:
                    messages.warning(
                        request,
                        _(
                            "Your licence details changed, so WeScan verifies them again "
                            "before you can be booked."
                        ),
                    )
                return redirect("technologist_profile")
        status = 400
    else:
        form = TechnologistProfileForm(initial=_profile_initial(profile))
    return render(
        request,
        "marketplace/technologist_profile.html",
        {
            "form": form,
            "profile": profile,
            "reasons": profile.ineligibility_reasons() if profile else [],
            "time_zone": profile.home_time_zone if profile else "UTC",
        },
        status=status,
    )


# --- Hospitals: postings ------------------------------------------------------------------------


@login_required
def hospital_postings(request: AuthenticatedHttpRequest, hospital_id: int) -> HttpResponse:
    hospital = access.access_hospital(request.user, hospital_id, manage=True)
    form = HospitalPostingFilterForm(request.GET or None, hospital=hospital)
    postings = selectors.posting_list(
        user=request.user,
        hospital_id=hospital.pk,
        **form.selector_filters(hospital_time_zone(hospital)),
    )
    return render(
        request,
        "marketplace/hospital_postings.html",
        {
            "hospital": hospital,
            "form": form,
            "postings": postings,
            "editable": EDITABLE_POSTING_STATUSES,
        },
        status=400 if form.is_bound and not form.is_valid() else 200,
    )


def _posting_form_page(
    request: AuthenticatedHttpRequest,
    form: PostingForm,
    *,
    hospital: Hospital,
    posting: SessionPosting | None = None,
    status: int = 200,
) -> HttpResponse:
    return render(
        request,
        "marketplace/posting_form.html",
        {
            "hospital": hospital,
            "posting": posting,
            "form": form,
            "sites": selectors.site_list(user=request.user, hospital_id=hospital.pk),
        },
        status=status,
    )


@login_required
def posting_create(request: AuthenticatedHttpRequest, hospital_id: int) -> HttpResponse:
    hospital = access.access_hospital(request.user, hospital_id, manage=True)
    if request.method != "POST":
        return _posting_form_page(request, PostingForm(hospital=hospital), hospital=hospital)
    form = PostingForm(request.POST, hospital=hospital)
    if form.is_valid():
        try:
            posting = services.posting_create(
                actor=request.user,
                hospital=hospital,
                publish="publish" in request.POST,
                **form.cleaned_data,
            )
        except DomainError as error:
            form_error(form, error)
        else:
            messages.success(
                request,
                _("Posting published: technologists who qualify can see it.")
                if posting.status == PostingStatus.OPEN
                else _("Posting saved as a draft; publish it when it is ready."),
            )
            return redirect("posting_detail", posting.pk)
    return _posting_form_page(request, form, hospital=hospital, status=400)


@login_required
def posting_edit(request: AuthenticatedHttpRequest, posting_id: int) -> HttpResponse:
    posting = access.access_posting(request.user, posting_id, manage=True)
    hospital = posting.hospital
    if posting.status not in EDITABLE_POSTING_STATUSES:
        messages.error(
            request,
            _("This posting is %(status)s: it stays as it is.")
            % {"status": str(posting.get_status_display()).lower()},
        )
        return redirect("posting_detail", posting.pk)
    if request.method != "POST":
        form = PostingForm(initial=PostingForm.initial_for(posting), hospital=hospital)
        return _posting_form_page(request, form, hospital=hospital, posting=posting)
    form = PostingForm(request.POST, hospital=hospital)
    if form.is_valid():
        changes = dict(form.cleaned_data)
        try:
            services.posting_update(
                actor=request.user,
                posting=posting,
                required_exam_families=changes.pop("required_exam_families"),
                languages=changes.pop("languages"),
                **changes,
            )
        except DomainError as error:
            form_error(form, error)
        else:
            messages.success(request, _("Posting saved."))
            return redirect("posting_detail", posting.pk)
    return _posting_form_page(request, form, hospital=hospital, posting=posting, status=400)


@login_required
@require_POST
def posting_publish(request: AuthenticatedHttpRequest, posting_id: int) -> HttpResponse:
    posting = access.access_posting(request.user, posting_id, manage=True)
    services.posting_publish(actor=request.user, posting=posting)
    messages.success(request, _("Posting published: technologists who qualify can see it."))
    return redirect(next_or(request, reverse("posting_detail", args=[posting.pk])))


# --- Notifications ------------------------------------------------------------------------------

NOTIFICATIONS_PER_PAGE = 25


@login_required
def notifications(request: AuthenticatedHttpRequest) -> HttpResponse:
    """A person's notices, newest first, each at the time their own pages use. Core keeps the
    notices and the moves on them (`core.views`); the page is here because that wall clock is
    the marketplace's to know (a technologist's home, else their hospital's)."""
    unread_only = request.GET.get("show") == "unread"
    notices = notify.notification_list(
        user_id=request.user.pk, unread=True if unread_only else None
    )
    page = Paginator(notices, NOTIFICATIONS_PER_PAGE).get_page(request.GET.get("page"))
    for notification in page:
        notification.age = notify.notification_age(notification)  # type: ignore[attr-defined]
    return render(
        request,
        "core/notifications.html",
        {
            "page": page,
            "unread_only": unread_only,
            "viewer_time_zone": viewer_time_zone(request.user),
        },
    )
