from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "accounts"
    # allauth's own app is already "Accounts" in the admin; two sections of that name confused.
    verbose_name = _("People")

    def ready(self) -> None:
        # A signed-out session (its own sign-out, or the idle timeout) stops hearing notices on
        # the pages it still has open.
        from allauth.account import signals as allauth_signals
        from django.contrib.auth.signals import user_logged_out

        from accounts import tokens
        from accounts.sessions import session_signed_out

        user_logged_out.connect(session_signed_out, dispatch_uid="accounts.session_signed_out")
        # A new password ends the tokens the old one was exchanged for.
        for signal in (allauth_signals.password_changed, allauth_signals.password_reset):
            signal.connect(tokens.password_changed, dispatch_uid=f"tokens-{id(signal)}")
        # Setting up a second factor counts as passing one (a signal receiver).
        from accounts import (
            mfa,  # noqa: F401
            security_audit,  # noqa: F401  (signing in, in the audit trail)
        )

        # A person's own socket (notifications, in core) opens only past the second factor.
        from accounts.mfa_required import socket_check
        from core.gates import register_socket_check

        register_socket_check(socket_check)
