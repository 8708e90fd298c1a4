from typing import Any

from django.http import HttpRequest

from core import notify


def navigation(request: HttpRequest) -> dict[str, Any]:
    """The hospitals shown in the navigation bar of every page."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_memberships": []}
    return {"nav_memberships": list(user.memberships.select_related("hospital"))}


def notifications(request: HttpRequest) -> dict[str, Any]:
    """The header's notification menu on every page: the unread count and the latest few."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    latest = list(notify.notification_list(user_id=user.pk)[: notify.MENU_SIZE])
    for notification in latest:
        notification.age = notify.notification_age(notification)  # type: ignore[attr-defined]
    return {
        "notice_unread": notify.notification_unread_count(user_id=user.pk),
        "notice_latest": latest,
        "notice_newest_id": latest[0].pk if latest else "",
    }
