from django.db import transaction

from accounts.models import User
from core.audit import audit_record


@transaction.atomic
def user_update_profile(*, user: User, first_name: str, last_name: str) -> User:
    user.first_name = first_name.strip()
    user.last_name = last_name.strip()
    user.save(update_fields=["first_name", "last_name"])
    audit_record(actor=user, action="user.profile_updated", target=user)
    return user
