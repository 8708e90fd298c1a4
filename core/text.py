"""Free text from people: bounded before anything else reads it, then checked for patient data.

Every free-text input (a cancellation reason, a posting's notes, a chat line, a note asking for
help) goes through `free_text_clean` in the service that stores or relays it, so the page, the API
and the websocket get the same refusal. The length is checked first, on the raw text, so that no
later step (stripping, the identifier patterns, the database) ever sees more than the bound.
"""

from django.utils.translation import gettext as _

from core.errors import ValidationFailed
from core.identifiers import patient_identifier_message, patient_identifier_problems


def free_text_clean(
    value: str | None,
    *,
    field: str,
    max_length: int,
    what: str = "text",
    required: bool = False,
    one_line: bool = False,
) -> str:
    """`value` stripped (and, with `one_line`, its runs of white space made single spaces).

    Refused with a ValidationFailed naming `field` when it is longer than `max_length`, empty
    while `required`, or when it looks like it names a patient.
    """
    value = value or ""
    if len(value) > max_length:
        # Spaces around a text that fits are forgiven; a longer text is refused unread.
        value = value.strip() if len(value) <= 2 * max_length else value
        if len(value) > max_length:
            message = _("Keep the %(what)s to %(max)s characters; this one has %(count)s.") % {
                "what": what,
                "max": max_length,
                "count": len(value),
            }
            raise ValidationFailed(message, fields={field: [message]})
    value = " ".join(value.split()) if one_line else value.strip()
    if required and not value:
        message = _("The %(what)s cannot be empty.") % {"what": what}
        raise ValidationFailed(message, fields={field: [message]})
    problems = patient_identifier_problems(value)
    if problems:
        message = patient_identifier_message(problems)
        raise ValidationFailed(message, fields={field: [message]})
    return value
