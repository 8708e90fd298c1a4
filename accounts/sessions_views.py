"""The page of one's signed-in sessions, with signing out the others or every one."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_http_methods, require_POST

from accounts.requests import AuthenticatedHttpRequest
from accounts.sessions import (
    session_idle_timeout,
    sessions_end_all,
    sessions_end_others,
    sessions_of,
)


@login_required
@require_http_methods(["GET", "HEAD"])
def session_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    timeout = session_idle_timeout()
    return render(
        request,
        "accounts/sessions.html",
        {
            "sessions": sessions_of(request),
            "idle_minutes": int(timeout.total_seconds() // 60) if timeout else None,
        },
    )


@login_required
@require_POST
def sessions_sign_out(request: AuthenticatedHttpRequest) -> HttpResponse:
    """`which`: "others" (every session but this one) or "all" (this one too)."""
    which = request.POST.get("which", "")
    if which == "all":
        sessions_end_all(request)
        messages.info(request, _("You are signed out everywhere, here too."))
        return redirect("account_login")
    if which != "others":
        messages.error(request, _("Choose which sessions to sign out."))
        return redirect("account_sessions")
    ended = sessions_end_others(request)
    messages.success(
        request,
        ngettext(
            "Signed out %(count)s other session.", "Signed out %(count)s other sessions.", ended
        )
        % {"count": ended}
        if ended
        else _("There was no other session to sign out."),
    )
    return redirect("account_sessions")
