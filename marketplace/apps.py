from django.apps import AppConfig


class MarketplaceConfig(AppConfig):
    name = "marketplace"

    def ready(self) -> None:
        # A sign-up through an invitation link joins the hospital: accounts (below) knows no
        # hospitals, so it tells the marketplace.
        from accounts.signals import account_signed_up
        from marketplace.invitations import invitation_join_on_sign_up

        account_signed_up.connect(
            invitation_join_on_sign_up, dispatch_uid="marketplace.invitation_join"
        )
        # Managers and local staff must have a second factor: accounts knows no roles.
        from accounts.second_factor import register_required_reader
        from marketplace.selectors import holds_role_needing_second_factor

        register_required_reader(holds_role_needing_second_factor)
        # What it holds about a person, for their download and erasure (accounts.privacy).
        from marketplace import privacy

        privacy.register()
