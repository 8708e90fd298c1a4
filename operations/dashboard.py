"""The operations dashboard of one hospital or of the network: which period it covers (from the
query parameters the page, the CSV and the API share) and its sections, counted by
`operations.metrics`."""

from collections.abc import Mapping
from datetime import date, datetime, timedelta

from django.utils.text import format_lazy
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.models import User
from core.dates import FIRST_DAY, LAST_DAY
from core.errors import NotFound, ValidationFailed
from core.ids import as_id
from marketplace import access
from marketplace.models import Hospital
from operations import metrics
from operations.figures import GRANULARITIES, Dashboard, Granularity, Period

# The default period: the 12 weeks ending today.
DEFAULT_DAYS = 12 * 7
# The longest period: two years (one of them a leap year).
MAX_DAYS = 731

# The longest value a period parameter may have: a date (YYYY-MM-DD) and a granularity ("month")
# both fit. Longer is refused before anything else is done with it, in the one message the page,
# the CSV and the API give.
MAX_PARAMETER_LENGTH = 10

# What each period parameter must be: in the refusal's sentence, and as the field's hint.
_EXPECTED = {
    "start": (gettext_lazy("a date as YYYY-MM-DD"), gettext_lazy("A date as YYYY-MM-DD.")),
    "end": (gettext_lazy("a date as YYYY-MM-DD"), gettext_lazy("A date as YYYY-MM-DD.")),
    "granularity": (gettext_lazy("week or month"), gettext_lazy("week or month.")),
}

NETWORK = gettext_lazy("The WeScan network")


def _day(params: Mapping[str, str], name: str) -> date | None:
    raw = _parameter(params, name)
    if not raw:
        return None
    try:
        if not _looks_like_a_day(raw):
            raise ValueError(raw)
        day = date.fromisoformat(raw)
    except ValueError:
        raise _refused(name, raw) from None
    if not FIRST_DAY <= day <= LAST_DAY:
        bounds = {"name": name, "first": FIRST_DAY, "last": LAST_DAY}
        raise ValidationFailed(
            _("'%(name)s' must be between %(first)s and %(last)s.") % bounds,
            fields={name: [_("A date between %(first)s and %(last)s.") % bounds]},
        )
    return day


def _refused(name: str, raw: str) -> ValidationFailed:
    """'<name>' must be <what it may be>, not <what was sent>: the value itself when it is short
    and printable; else only its length, or that it holds control characters (never repeated)."""
    expected, hint = _EXPECTED[name]
    if len(raw) > MAX_PARAMETER_LENGTH:
        sent = _("%(show_value)d characters") % {"show_value": len(raw)}
    elif not raw.isprintable():
        sent = _("a text with control characters")
    else:
        sent = repr(raw)
    # The same sentence as the page's form (operations.views._refusals).
    message = format_lazy(
        gettext_lazy("'{name}' must be {expected}, not {sent}."),
        name=name,
        expected=expected,
        sent=sent,
    )
    return ValidationFailed(str(message), fields={name: [str(hint)]})


def _parameter(params: Mapping[str, str], name: str) -> str:
    """The parameter's value, bounded before anything else is done with it, without surrounding
    spaces ('' when absent or blank)."""
    raw = params.get(name) or ""
    if len(raw) > MAX_PARAMETER_LENGTH:
        raise _refused(name, raw)
    return raw.strip()


def _looks_like_a_day(raw: str) -> bool:
    """Exactly YYYY-MM-DD in ASCII digits: `date.fromisoformat` also reads "20261005" and ISO
    week dates ("2026-W40-1"), which nobody means by a day."""
    return len(raw) == 10 and all(
        char == "-" if at in (4, 7) else char in "0123456789" for at, char in enumerate(raw)
    )


def period_from(params: Mapping[str, str], *, time_zone: str, today: date) -> Period:
    """The period `start`..`end` (inclusive, exactly YYYY-MM-DD) by `granularity` (week or
    month). Without them: the 12 weeks ending today, by week; `start` alone runs 12 weeks from it
    (to today at most), `end` alone the 12 weeks ending then. Empty values count as absent. Each
    value is bounded to MAX_PARAMETER_LENGTH characters first; a refusal never repeats a long
    value or a control character."""
    granularity = _parameter(params, "granularity") or "week"
    if granularity not in GRANULARITIES:
        raise _refused("granularity", granularity)
    start, end = _day(params, "start"), _day(params, "end")
    if end is None:
        end = today if start is None else min(today, start + timedelta(days=DEFAULT_DAYS - 1))
        end = max(end, start) if start is not None else end
    if start is None:
        start = end - timedelta(days=DEFAULT_DAYS - 1)
    if end < start:
        raise ValidationFailed(
            _("'end' must not be before 'start'."), fields={"end": [_("On or after the start.")]}
        )
    if (end - start).days + 1 > MAX_DAYS:
        raise ValidationFailed(
            _("The period may cover at most %(days)s days (two years).") % {"days": MAX_DAYS},
            fields={"start": [_("At most %(days)s days before the end.") % {"days": MAX_DAYS}]},
        )
    checked: Granularity = "month" if granularity == "month" else "week"
    return Period(start=start, end=end, granularity=checked, time_zone=time_zone)


def dashboard_for(*, hospital: Hospital | None, period: Period, now: datetime) -> Dashboard:
    """Every section for `hospital` (None: the network) over `period`, compared with the period
    before it. Twelve queries, for a hospital as for the network, whatever the history."""
    scope = metrics.scope_for(hospital=hospital, period=period, now=now)
    return Dashboard(
        scope=str(NETWORK) if hospital is None else hospital.name,
        hospital_id=None if hospital is None else hospital.pk,
        period=period,
        previous=period.previous(),
        sections=tuple(family(scope) for family in metrics.FAMILIES),
    )


# --- Who sees which dashboard ------------------------------------------------------------------


def access_dashboard(user: User, hospital_id: int | str) -> Hospital:
    """A hospital's figures are its managers' (and platform admins'): to anyone else, members of
    it included, the hospital's dashboard does not exist (404)."""
    missing = _("No such hospital.")
    pk = as_id(hospital_id, message=missing)
    hospital = access.hospitals_managed_by(user).filter(pk=pk).first()
    if hospital is None:
        raise NotFound(missing)
    return hospital


def access_network_dashboard(user: User) -> None:
    """The network's figures are platform admins'; for anyone else there is nothing here
    (404, as for the network's plans)."""
    if not (user.is_authenticated and user.is_staff):
        raise NotFound(_("No such page."))
