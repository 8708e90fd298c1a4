from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    # allauth's own app is already "Accounts" in the admin; two sections of that name confused.
    verbose_name = "People"

    def ready(self) -> None:
        from allauth.account import signals as allauth_signals

        from accounts import tokens

        for signal in (allauth_signals.password_changed, allauth_signals.password_reset):
            signal.connect(tokens.password_changed, dispatch_uid=f"tokens-{id(signal)}")
