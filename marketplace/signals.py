"""What the marketplace tells the apps above it, without knowing them (they connect in their
AppConfig.ready)."""

from django.dispatch import Signal

# Sent by `marketplace.services.posting_cancel` inside its transaction, the posting locked and
# saved as cancelled. Arguments: posting, actor. A receiver that closes what hung on the posting
# returns how many it closed (the audit row counts them); any error rolls the cancelling back.
posting_cancelled = Signal()
