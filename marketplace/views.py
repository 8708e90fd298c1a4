"""Server-rendered pages for hospitals. Each view fetches through `access`, calls one service and
redirects; a refused action comes back as a DomainError, shown by `DomainErrorMiddleware`."""

from collections import Counter
from typing import Any

from allauth.account.adapter import get_adapter
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from accounts.adapter import INVITATION_SESSION_KEY
from accounts.models import User
from accounts.requests import AuthenticatedHttpRequest
from core.errors import Conflict, DomainError, NotFound, ValidationFailed
from marketplace import access, selectors, services
from marketplace.forms import (
    CancelPostingForm,
    HospitalPostingFilterForm,
    InviteForm,
    OpenPostingFilterForm,
    PostingForm,
    RoleForm,
    ScannerForm,
    SiteForm,
    TechnologistProfileForm,
)
from marketplace.models import Hospital, PostingStatus, Role, SessionPosting, TechnologistProfile
from marketplace.services import EDITABLE_POSTING_STATUSES
from scheduling import matching
from scheduling import selectors as scheduling_selectors
from scheduling import services as scheduling_services


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
        try:
            services.membership_change_role(
                actor=request.user, membership=membership, role=form.cleaned_data["role"]
            )
        except Conflict as refusal:  # e.g. the last manager: said on the page, not instead of it
            messages.error(request, refusal.message)
        else:
            role = form.cleaned_data["role"].replace("_", " ")
            messages.success(request, f"{membership.user.display_name} is now {role}.")
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
    messages.success(request, f"{membership.user.display_name} no longer belongs to the hospital.")
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
        raise NotFound("No such invitation for you.")
    membership = services.invitation_accept(user=request.user, invitation=invitation)
    messages.success(
        request,
        f"You joined {membership.hospital.name} as {membership.get_role_display().lower()}.",
    )
    return redirect("hospital_detail", membership.hospital_id)


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


def _next_or(request: HttpRequest, default: str) -> str:
    """Where to go after a POST: the page it came from when it says so (same site only)."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default


def hospital_time_zone(hospital: Hospital) -> str:
    """The wall clock a hospital's pages use when no single site is meant: the time zone most of
    its sites share (UTC for a hospital without sites)."""
    zones = Counter(site.time_zone for site in hospital.sites.all())
    return zones.most_common(1)[0][0] if zones else "UTC"


# The ranked postings a technologist sees on one page.
MATCHES_SHOWN = 50


# --- Technologists: profile and the postings they qualify for -------------------------------------


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
                _form_error(request, form, error)
            else:
                messages.success(request, "Your technologist profile is saved.")
                if was_verified and saved.licence_verified_at is None:
                    messages.warning(
                        request,
                        "Your licence details changed, so WeScan verifies them again before "
                        "you can be booked.",
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


@login_required
def open_postings(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Open postings for a technologist: first those they can be booked on, ranked with the
    reasons, each with an Apply button; then those they qualify for but are not free for. When
    their licence stands in the way, the reasons instead of an empty list."""
    profile = selectors.technologist_profile_for(user=request.user)
    form = OpenPostingFilterForm(request.GET or None)
    reasons = profile.ineligibility_reasons() if profile else []
    matches: list[matching.Match] = []
    others: list[SessionPosting] = []
    if profile is not None and not reasons:
        filters = form.selector_filters(profile.home_time_zone)
        qualifying = list(selectors.open_postings_for(profile=profile, **filters))
        in_range = {posting.pk for posting in qualifying}
        # Ranked: the postings they can be booked on now (free for the whole session, no
        # clash, under the weekly cap), with the reasons; the date filters apply to both lists.
        matches = [
            match
            for match in matching.matches_for(
                profile=profile,
                limit=MATCHES_SHOWN,
                urgency=filters["urgency"],
                exam_family=filters["exam_family"],
            )
            if match.posting.pk in in_range
        ]
        ranked = {match.posting.pk for match in matches}
        held = scheduling_selectors.live_booking_posting_ids(technologist_id=request.user.pk)
        others = [p for p in qualifying if p.pk not in ranked and p.pk not in held]
    return render(
        request,
        "marketplace/open_postings.html",
        {
            "profile": profile,
            "reasons": reasons,
            "form": form,
            "matches": matches,
            "others": others,
            "time_zone": profile.home_time_zone if profile else "UTC",
        },
        status=400 if form.is_bound and not form.is_valid() else 200,
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
            _form_error(request, form, error)
        else:
            messages.success(
                request,
                "Posting published: technologists who qualify can see it."
                if posting.status == PostingStatus.OPEN
                else "Posting saved as a draft; publish it when it is ready.",
            )
            return redirect("posting_detail", posting.pk)
    return _posting_form_page(request, form, hospital=hospital, status=400)


def _posting_page(
    request: AuthenticatedHttpRequest,
    posting: SessionPosting,
    *,
    cancel_form: CancelPostingForm | None = None,
    status: int = 200,
) -> HttpResponse:
    profile = selectors.technologist_profile_for(user=request.user)
    is_manager = access.can_manage(request.user, posting.hospital)
    on_posting = scheduling_selectors.posting_bookings(posting_id=posting.pk)
    # Others see only their own booking on it; local staff see who comes.
    if not (is_manager or request.user.is_staff) and (
        access.role_in(request.user, posting.hospital) != Role.LOCAL_STAFF
    ):
        on_posting = on_posting.filter(technologist=request.user)
    bookings = scheduling_services.bookings_with_actions(on_posting, user=request.user)
    mine_live = any(b.technologist_id == request.user.pk and b.is_open for b in bookings)
    return render(
        request,
        "marketplace/posting_detail.html",
        {
            "posting": posting,
            "is_manager": is_manager,
            "editable": posting.status in EDITABLE_POSTING_STATUSES,
            "cancel_form": cancel_form or CancelPostingForm(),
            "viewer_time_zone": profile.home_time_zone if profile else None,
            "bookings": bookings,
            # The ranked candidates, for its managers while it takes bookings.
            "candidates": (
                matching.candidates_for(posting=posting)
                if is_manager and posting.status == PostingStatus.OPEN
                else None
            ),
            "can_apply": (
                profile is not None and posting.status == PostingStatus.OPEN and not mine_live
            ),
        },
        status=status,
    )


@login_required
def posting_detail(request: AuthenticatedHttpRequest, posting_id: int) -> HttpResponse:
    return _posting_page(request, access.access_posting(request.user, posting_id))


@login_required
def posting_edit(request: AuthenticatedHttpRequest, posting_id: int) -> HttpResponse:
    posting = access.access_posting(request.user, posting_id, manage=True)
    hospital = posting.hospital
    if posting.status not in EDITABLE_POSTING_STATUSES:
        messages.error(
            request, f"This posting is {posting.get_status_display().lower()}: it stays as it is."
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
            _form_error(request, form, error)
        else:
            messages.success(request, "Posting saved.")
            return redirect("posting_detail", posting.pk)
    return _posting_form_page(request, form, hospital=hospital, posting=posting, status=400)


@login_required
@require_POST
def posting_publish(request: AuthenticatedHttpRequest, posting_id: int) -> HttpResponse:
    posting = access.access_posting(request.user, posting_id, manage=True)
    services.posting_publish(actor=request.user, posting=posting)
    messages.success(request, "Posting published: technologists who qualify can see it.")
    return redirect(_next_or(request, reverse("posting_detail", args=[posting.pk])))


@login_required
@require_POST
def posting_cancel(request: AuthenticatedHttpRequest, posting_id: int) -> HttpResponse:
    posting = access.access_posting(request.user, posting_id, manage=True)
    form = CancelPostingForm(request.POST)
    if form.is_valid():
        try:
            services.posting_cancel(
                actor=request.user, posting=posting, reason=form.cleaned_data["reason"]
            )
        except ValidationFailed as error:
            _form_error(request, form, error)
        else:
            messages.success(request, "Posting cancelled.")
            return redirect("posting_detail", posting.pk)
    return _posting_page(request, posting, cancel_form=form, status=400)
