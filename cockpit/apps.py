from django.apps import AppConfig


class CockpitConfig(AppConfig):
    name = "cockpit"
    verbose_name = "Cockpit"

    def ready(self) -> None:
        # Scheduling (below) tells the cockpit without importing it: its booking moves reach the
        # open sockets; its pages read how the exams went; a booking completed from its page ends
        # its exam first; either side's no-show reads whether the operator joined.
        from cockpit.receivers import (
            booking_closed_received,
            booking_exam_close,
            booking_exam_lock,
            operator_joins,
        )
        from cockpit.selectors import exam_summaries
        from scheduling.exams import exam_closer_set, exam_reader_set
        from scheduling.no_shows import operator_joins_reader_set
        from scheduling.signals import booking_closed

        booking_closed.connect(booking_closed_received, dispatch_uid="cockpit.booking_closed")
        exam_reader_set(exam_summaries)
        exam_closer_set(booking_exam_close, locker=booking_exam_lock)
        operator_joins_reader_set(operator_joins)
        # What it holds about a person, for their download and erasure (accounts.privacy).
        from cockpit import privacy

        privacy.register()
