"""What every app's server-rendered pages share: where to go back to after a POST, and a refused
service shown on the form that asked for it."""

from collections.abc import Mapping
from typing import Any

from django.http import HttpRequest
from django.utils.http import url_has_allowed_host_and_scheme

from core.errors import DomainError


def next_or(request: HttpRequest, default: str) -> str:
    """Where to go after a POST: the page it came from when it says so (same site only)."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default


def form_error(form: Any, error: DomainError, *, renamed: Mapping[str, str] | None = None) -> None:
    """A service's refusal on the form: each field's problems beside that field (`renamed` maps
    the service's field names to the form's where they differ; a field the form lacks goes above
    it), else the message above the form."""
    for field, problems in error.fields.items():
        name = (renamed or {}).get(field, field)
        target = name if name in form.fields else None
        for problem in problems if isinstance(problems, list) else [problems]:
            form.add_error(target, str(problem))
    if not error.fields:
        form.add_error(None, error.message)
