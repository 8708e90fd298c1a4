from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    # allauth's own app is already "Accounts" in the admin; two sections of that name confused.
    verbose_name = "People"
