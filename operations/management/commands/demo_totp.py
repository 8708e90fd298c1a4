"""The code an authenticator app holding the demo secret shows now: a demo login's second factor
without a phone. It knows the public demo secret only, never a real account's."""

import time
from typing import Any

from allauth.mfa import app_settings
from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value
from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.utils import translation
from django.utils.translation import gettext as _

from operations.management.commands.load_demo import DEMO_TOTP_SECRET, environment_language


class Command(BaseCommand):
    help = "Print the current second-factor code of every demo login (see load_demo)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--language",
            choices=[code for code, _name in settings.LANGUAGES],
            help="The language of what is printed (en, nl, fr). Default: the environment's.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        with translation.override(options.get("language") or environment_language()):
            self._print()

    def _print(self) -> None:
        period = app_settings.TOTP_PERIOD
        counter, into = divmod(int(time.time()), period)
        now, following = (
            format_hotp_value(hotp_value(DEMO_TOTP_SECRET, c)) for c in (counter, counter + 1)
        )
        self.stdout.write(now)
        self.stdout.write(
            _("(the code of every demo login for %(seconds)s more seconds; the next is %(next)s)")
            % {"seconds": period - into, "next": following}
        )
