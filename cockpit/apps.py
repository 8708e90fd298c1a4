from django.apps import AppConfig


class CockpitConfig(AppConfig):
    name = "cockpit"
    verbose_name = "Cockpit"

    def ready(self) -> None:
        # Scheduling (below) tells the cockpit without importing it: its booking moves reach the
        # open sockets, and its pages read how the exams went.
        from cockpit.receivers import booking_closed_received
        from cockpit.selectors import exam_summaries
        from scheduling.exams import exam_reader_set
        from scheduling.signals import booking_closed

        booking_closed.connect(booking_closed_received, dispatch_uid="cockpit.booking_closed")
        exam_reader_set(exam_summaries)
