"""What accounts tells the apps above it, without knowing them (they connect in their
AppConfig.ready)."""

from django.dispatch import Signal

# Sent by `accounts.adapter.AccountAdapter.save_user` once a sign-up's new account is saved: before
# allauth records its e-mail addresses (which may make an address the visitor proved, such as an
# invitation's, the primary one) and signs it in. Arguments: request, user.
account_signed_up = Signal()
