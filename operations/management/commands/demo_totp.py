"""The code an authenticator app holding the demo secret shows now: a demo login's second factor
without a phone. It knows the public demo secret only, never a real account's."""

import time
from typing import Any

from allauth.mfa import app_settings
from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value
from django.core.management.base import BaseCommand

from operations.management.commands.load_demo import DEMO_TOTP_SECRET


class Command(BaseCommand):
    help = "Print the current second-factor code of every demo login (see load_demo)."

    def handle(self, *args: Any, **options: Any) -> None:
        period = app_settings.TOTP_PERIOD
        counter, into = divmod(int(time.time()), period)
        now, following = (
            format_hotp_value(hotp_value(DEMO_TOTP_SECRET, c)) for c in (counter, counter + 1)
        )
        self.stdout.write(now)
        self.stdout.write(
            f"(the code of every demo login for {period - into} more seconds; the next is "
            f"{following})"
        )
