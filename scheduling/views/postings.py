"""The pages of a posting that show what scheduling knows about it: a posting with its bookings
and ranked candidates (and cancelling it, whose refusal shows on that page), and a technologist's
open postings ranked by how well they match. Marketplace keeps the posting's other pages (its
list, create, edit, publish); these live here because marketplace sits below scheduling and
never reads its bookings or matches."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.requests import AuthenticatedHttpRequest
from core.errors import ValidationFailed
from core.pages import form_error
from marketplace import access
from marketplace import selectors as marketplace_selectors
from marketplace import services as marketplace_services
from marketplace.forms import CancelPostingForm, OpenPostingFilterForm
from marketplace.models import PostingStatus, Role, SessionPosting
from marketplace.services import EDITABLE_POSTING_STATUSES
from scheduling import matching, selectors, services

# The ranked postings a technologist sees on one page.
MATCHES_SHOWN = 50


# --- Technologists: the postings they qualify for ---------------------------------------------


@login_required
def open_postings(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Open postings for a technologist: first those they can be booked on, ranked with the
    reasons, each with an Apply button; then those they qualify for but are not free for. When
    their licence stands in the way, the reasons instead of an empty list."""
    profile = marketplace_selectors.technologist_profile_for(user=request.user)
    form = OpenPostingFilterForm(request.GET or None)
    reasons = profile.ineligibility_reasons() if profile else []
    matches: list[matching.Match] = []
    others: list[SessionPosting] = []
    if profile is not None and not reasons:
        filters = form.selector_filters(profile.home_time_zone)
        qualifying = list(marketplace_selectors.open_postings_for(profile=profile, **filters))
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
        held = selectors.live_booking_posting_ids(technologist_id=request.user.pk)
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


# --- One posting ----------------------------------------------------------------------------


def _posting_page(
    request: AuthenticatedHttpRequest,
    posting: SessionPosting,
    *,
    cancel_form: CancelPostingForm | None = None,
    status: int = 200,
) -> HttpResponse:
    profile = marketplace_selectors.technologist_profile_for(user=request.user)
    is_manager = access.can_manage(request.user, posting.hospital)
    on_posting = selectors.posting_bookings(posting_id=posting.pk)
    # Others see only their own booking on it; local staff see who comes.
    if not (is_manager or request.user.is_staff) and (
        access.role_in(request.user, posting.hospital) != Role.LOCAL_STAFF
    ):
        on_posting = on_posting.filter(technologist=request.user)
    bookings = services.bookings_with_actions(on_posting, user=request.user)
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
@require_POST
def posting_cancel(request: AuthenticatedHttpRequest, posting_id: int) -> HttpResponse:
    posting = access.access_posting(request.user, posting_id, manage=True)
    form = CancelPostingForm(request.POST)
    if form.is_valid():
        try:
            marketplace_services.posting_cancel(
                actor=request.user, posting=posting, reason=form.cleaned_data["reason"]
            )
        except ValidationFailed as error:
            form_error(form, error)
        else:
            messages.success(request, _("Posting cancelled."))
            return redirect("posting_detail", posting.pk)
    return _posting_page(request, posting, cancel_form=form, status=400)
