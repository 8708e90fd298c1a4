"""Senior assistance in and out of the API: requests for help as everyone involved sees them
(`cockpit.selectors.assist_view`, plus where the scan is), the on-call schedule, and the
on-call switch. Moments come out in UTC (`…Z`) on the window rows; a request's moments are
those of `assist_view` (ISO 8601 with their offset)."""

from typing import Any

from django.utils.translation import gettext as _
from rest_framework import serializers

from cockpit.models import ASSIST_REQUESTER_ROLES, AssistRequest, AssistStage, AssistStatus, Role
from cockpit.selectors import assist_notice_for, assist_view, assist_wanted_message
from cockpit.services import NOTE_MAX
from core.api import BoundedListField, StrictSerializer
from marketplace.models import Vendor
from marketplace.serializers import UTCDateTimeField, UTCModelSerializer, code_list
from scheduling.forms import describe_rule
from scheduling.models import OnCallWindow
from scheduling.serializers import WindowWriteFields

# --- Requests for help ------------------------------------------------------------------------


class AssistExamFamilySerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()


class AssistPersonSerializer(serializers.Serializer):
    """A participant by display name only: never an e-mail address to the other hospital."""

    id = serializers.IntegerField()
    name = serializers.CharField()
    role = serializers.CharField(help_text="Their role in the cockpit: " + ", ".join(Role.values))


class AssistRequestSerializer(serializers.Serializer):
    """A request for help: what the people in the cockpit see (`assist_view`), where the scan
    is, and whether you may accept it. Read only; the fields describe the answer."""

    id = serializers.IntegerField()
    cockpit = serializers.IntegerField()
    status = serializers.ChoiceField(choices=AssistStatus.choices)
    status_label = serializers.CharField()
    stage = serializers.ChoiceField(
        choices=AssistStage.choices,
        help_text="1 on-call seniors asked, 2 widened to experienced technologists, 3 managers "
        "alerted.",
    )
    stage_label = serializers.CharField()
    exam_family = AssistExamFamilySerializer()
    vendor = serializers.ChoiceField(choices=Vendor.choices, help_text="The scanner's vendor.")
    vendor_label = serializers.CharField()
    note = serializers.CharField(help_text="The difficulty, in the requester's words.")
    requested_by = AssistPersonSerializer()
    requested_at = serializers.DateTimeField()
    stage_changed_at = serializers.DateTimeField()
    next_step_at = serializers.DateTimeField(
        allow_null=True, help_text="When an unanswered request escalates next; null once it can't."
    )
    asked = serializers.IntegerField(help_text="How many technologists were asked to join.")
    managers_alerted = serializers.BooleanField()
    accepted_by = AssistPersonSerializer(allow_null=True)
    accepted_at = serializers.DateTimeField(allow_null=True)
    ended_at = serializers.DateTimeField(allow_null=True)
    hospital = serializers.CharField(help_text="The scanning hospital.")
    site = serializers.CharField()
    scanner = serializers.CharField()
    may_accept = serializers.BooleanField(
        help_text="You were asked to join and it is still open: POST …/accept/ to join."
    )
    message = serializers.CharField(
        help_text="What a technologist asked to help reads (the banner and the mail)."
    )

    def to_representation(self, instance: AssistRequest) -> dict[str, Any]:
        view = assist_view(instance) or {}
        posting = instance.cockpit.booking.posting
        request = self.context.get("request")
        viewer = getattr(request, "user", None)
        notice = (
            assist_notice_for(assist=instance, user=viewer)
            if viewer is not None and viewer.is_authenticated
            else None
        )
        return {
            **view,
            "vendor_label": vendor_label(instance.vendor),
            "hospital": posting.hospital.name,
            "site": posting.site.name,
            "scanner": posting.scanner.name,
            "may_accept": bool(
                notice and notice.may_accept and instance.status == AssistStatus.OPEN
            ),
            "message": assist_wanted_message(instance),
        }


def vendor_label(code: str) -> str:
    try:
        return str(Vendor(code).label)
    except ValueError:
        return code


class AssistFilterSerializer(serializers.Serializer):
    open = serializers.BooleanField(
        required=False,
        help_text="1: only the open requests you were asked to answer (or, as a manager, "
        "alerted about). Without it: every request you raised, were asked about or answered.",
    )


class AssistRaiseSerializer(StrictSerializer):
    exam_family = serializers.CharField(
        max_length=40, help_text="The exam family you need help with (its code, e.g. neuro)."
    )
    note = serializers.CharField(
        max_length=NOTE_MAX,
        allow_blank=True,
        required=False,
        default="",
        help_text=f"The difficulty, at most {NOTE_MAX} characters; never patient data.",
    )
    role = serializers.CharField(
        max_length=16,
        required=False,
        help_text="Which of your roles in the cockpit asks: "
        + " or ".join(ASSIST_REQUESTER_ROLES)
        + "; default: operator, else local.",
    )

    def validate_role(self, value: str) -> str:
        if value not in ASSIST_REQUESTER_ROLES:
            raise serializers.ValidationError(
                _("Only the operator or local staff ask for help: %(roles)s.")
                % {"roles": " or ".join(ASSIST_REQUESTER_ROLES)}
            )
        return value


# --- The on-call schedule ---------------------------------------------------------------------


class OnCallWindowSerializer(UTCModelSerializer):
    """A window; for a recurring one `starts_at`/`ends_at` are its first occurrence."""

    exam_families = code_list(
        help_text="Exam families it covers; empty: every family on your profile."
    )
    recurring = serializers.BooleanField(source="is_recurring", read_only=True)
    repeats = serializers.SerializerMethodField(help_text='The rule in words, e.g. "Every Mon".')
    lending_hospital_name = serializers.CharField(
        source="lending_hospital.name", read_only=True, default=None, allow_null=True
    )

    class Meta:
        model = OnCallWindow
        fields = [
            "id",
            "technologist",
            "starts_at",
            "ends_at",
            "time_zone",
            "rrule",
            "repeats",
            "exdates",
            "recurring",
            "last_ends_at",
            "exam_families",
            "lending_hospital",
            "lending_hospital_name",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_repeats(self, window: OnCallWindow) -> str:
        return describe_rule(window.rrule)


class OnCallWindowCreateSerializer(WindowWriteFields):
    exam_families = BoundedListField(
        child=serializers.CharField(max_length=40),
        max_length=50,
        required=False,
        help_text="Exam family codes on your profile; none: all of them.",
    )


class OnCallStatusSerializer(serializers.Serializer):
    paused = serializers.BooleanField(
        help_text="The on-call switch is off: no request for help reaches you, whatever the "
        "schedule."
    )
    on_call_now = serializers.BooleanField(
        help_text="An on-call window is under way and the switch is on: you are asked now."
    )
    window = serializers.IntegerField(
        allow_null=True, help_text="The on-call window under way now, if any."
    )
    until = UTCDateTimeField(allow_null=True, help_text="When that window's occurrence ends.")
    may_go_on_call = serializers.BooleanField(
        help_text="Senior and experienced technologists keep an on-call schedule; juniors ask "
        "for help from the cockpit."
    )


class OnCallSwitchSerializer(StrictSerializer):
    paused = serializers.BooleanField(help_text="true: off; false: on.")
