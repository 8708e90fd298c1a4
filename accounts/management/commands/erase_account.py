"""A platform admin erases a person (`manage.py erase_account <email>`), on the same rules as
the person's own request (accounts.privacy): refused while something stands in the way."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import User
from accounts.privacy import account_erase
from core.errors import DomainError


class Command(BaseCommand):
    help = "Erase (anonymise) a person's account; ledger and audit facts stay, pseudonymised."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email", help="The person's e-mail address.")

    def handle(self, *args: Any, **options: Any) -> None:
        email = str(options["email"]).strip()[:254]
        user = User.objects.filter(email__iexact=email).first()
        if user is None:
            raise CommandError(f"No account with the e-mail address {email}.")
        try:
            pseudonym = account_erase(actor=None, user=user)
        except DomainError as error:
            raise CommandError(error.message) from None
        self.stdout.write(f"Erased: account {user.pk} is now erased-{pseudonym}@invalid.")
