from typing import Any

from django.http import HttpRequest

from core import notify
from core.gates import request_held


def navigation(request: HttpRequest) -> dict[str, Any]:
    """The hospitals shown in the navigation bar of every page; none, and `page_held`, while the
    request is held (a second factor to set up or to pass first: `core.gates`)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_memberships": []}
    if request_held(request):
        return {"nav_memberships": [], "page_held": True}
    return {"nav_memberships": list(user.memberships.select_related("hospital"))}


def notifications(request: HttpRequest) -> dict[str, Any]:
    """The header's notification menu on every page: the unread count and the latest few
    (nothing while the request is held)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or request_held(request):
        return {}
    latest = list(notify.notification_list(user_id=user.pk)[: notify.MENU_SIZE])
    for notification in latest:
        notification.age = notify.notification_age(notification)  # type: ignore[attr-defined]
    return {
        "notice_unread": notify.notification_unread_count(user_id=user.pk),
        "notice_latest": latest,
        "notice_newest_id": latest[0].pk if latest else "",
    }
