from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    # allauth's own app is already "Accounts" in the admin; two sections of that name confused.
    verbose_name = "People"

    def ready(self) -> None:
        # Setting up a second factor counts as passing one (a signal receiver).
        from accounts import mfa  # noqa: F401
