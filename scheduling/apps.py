from django.apps import AppConfig


class SchedulingConfig(AppConfig):
    name = "scheduling"
    verbose_name = "Scheduling"

    def ready(self) -> None:
        # The marketplace (below) tells scheduling without importing it: a cancelled posting
        # closes its pending bookings.
        from marketplace.signals import posting_cancelled
        from scheduling.receivers import posting_cancelled_received

        posting_cancelled.connect(
            posting_cancelled_received, dispatch_uid="scheduling.posting_cancelled"
        )
        # What it holds about a person, for their download and erasure (accounts.privacy).
        from scheduling import privacy

        privacy.register()
