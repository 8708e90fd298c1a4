"""Notices to people: stored (listed on every page until read), pushed live to any page they have
open, and mailed once. Everything leaves only after the caller's transaction commits.

Services call `notification_send`; pages, the API and the header menu read through the
selectors at the end. `push_on_commit` is the bare live push, for notices that are not kept."""

import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, connection, connections, transaction
from django.db.models import Count, Q, QuerySet, TextField
from django.db.models.functions import Cast, Length
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.functional import Promise
from django.utils.timesince import timesince
from django.utils.translation import gettext as _

from core.errors import NotFound
from core.groups import user_group
from core.ids import as_id
from core.models import Notification

logger = logging.getLogger(__name__)

# What the header menu lists; the full page lists the rest.
MENU_SIZE = 8
# A notice's text, in each language, is kept up to this many characters.
MESSAGE_MAX = 2000


def push_on_commit(*, user_ids: Iterable[int], payload: dict[str, Any]) -> None:
    """Push one frame to everyone in `user_ids` once the transaction commits (not stored)."""
    recipients = sorted(set(user_ids))

    def push() -> None:
        _push(recipients, payload)

    if recipients:
        transaction.on_commit(push, robust=True)


def sessions_ended_on_commit(*, user_id: int, session_keys: Iterable[str]) -> None:
    """Once the transaction commits, tell this person's notification sockets that these
    sessions were signed out: a socket opened by one of them closes (`NotificationConsumer`)."""
    keys = sorted({key for key in session_keys if key})
    layer = get_channel_layer()
    if not keys or layer is None:
        return

    def send() -> None:
        async_to_sync(layer.group_send)(
            user_group(user_id), {"type": "session.ended", "session_keys": keys}
        )

    transaction.on_commit(send, robust=True)


def _push(user_ids: list[int], payload: dict[str, Any]) -> None:
    _send_all([(user_id, payload) for user_id in user_ids])


def _send_all(frames: list[tuple[int, dict[str, Any]]]) -> None:
    """Each (user id, payload) to that person's sockets, in one hop onto the event loop (one hop
    per frame cost more than the sends themselves when a notice goes to hundreds)."""
    layer = get_channel_layer()
    if layer is None or not frames:
        return

    async def send() -> None:
        for user_id, payload in frames:
            await layer.group_send(user_group(user_id), {"type": "notify", "payload": payload})

    async_to_sync(send)()


def notification_send(
    *,
    user_ids: Iterable[int],
    kind: str,
    message: str | Promise,
    url: str = "",
    data: dict[str, Any] | None = None,
    dedupe_key_prefix: str | None = None,
    mail: bool = True,
) -> list[Notification]:
    """Store one notice per recipient, then on commit push each live and queue its mail.

    With `dedupe_key_prefix`, each recipient's notice has the key `f"{prefix}:{user_id}"`: a
    notice that already exists is not made again, so an event told twice (a periodic job run
    twice, two workers at once) reaches each person once. Each insert runs in a savepoint, so a
    clash with a concurrent sender leaves the caller's transaction usable. Returns the notices
    made by this call.

    A lazy `message` (`format_lazy(gettext_lazy("…"), …)`) is written in each recipient's own
    language (their profile's, else their browser's last, else the site's default), whoever's
    request sent it, and kept in each of the site's languages for whoever reads it later in
    another (`Notification.text`)."""
    recipients = sorted(set(user_ids))
    every_language = message_in_every_language(message)
    texts = messages_in_languages(message, recipients, rendered=every_language)
    keys = {
        user_id: f"{dedupe_key_prefix}:{user_id}" if dedupe_key_prefix else None
        for user_id in recipients
    }
    taken = set(
        Notification.objects.filter(
            dedupe_key__in=[key for key in keys.values() if key]
        ).values_list("dedupe_key", flat=True)
    )
    fields = [
        {
            "recipient_id": user_id,
            "kind": kind,
            "message": texts[user_id][:MESSAGE_MAX],
            "messages": every_language,
            "url": url,
            "data": data or {},
            "dedupe_key": keys[user_id],
            "mail_due": mail,
        }
        for user_id in recipients
        if keys[user_id] not in taken
    ]
    try:
        # One INSERT for everyone (a request for help reaches hundreds at once), in a savepoint:
        # after a clash with a concurrent sender, each is tried on its own.
        with transaction.atomic():
            created = Notification.objects.bulk_create(
                [Notification(**notice) for notice in fields]
            )
    except IntegrityError:
        created = []
        for notice in fields:
            try:
                with transaction.atomic():
                    created.append(Notification.objects.create(**notice))
            except IntegrityError as error:
                if "dedupe_key" not in str(error):  # not the clash, but a real fault: raised
                    raise
                continue  # a concurrent sender made it first
    if created:
        ids = [notification.pk for notification in created]

        # Robust: a channel layer or broker that is down is logged, and the move stands.
        def push() -> None:
            _push_stored(ids)

        def queue_mail() -> None:
            notification_mails_queue(ids)

        transaction.on_commit(push, robust=True)
        if mail:
            transaction.on_commit(queue_mail, robust=True)
    return created


def messages_in_languages(
    message: str | Promise, user_ids: list[int], *, rendered: dict[str, str] | None = None
) -> dict[int, str]:
    """`message` as each person reads it: a lazy text is rendered once per language spoken
    among them (`rendered`: the languages it was rendered in already)."""
    if not isinstance(message, Promise):
        return dict.fromkeys(user_ids, message)
    languages = {
        pk: chosen or browser
        for pk, chosen, browser in get_user_model()
        .objects.filter(pk__in=user_ids)
        .values_list("pk", "language", "browser_language")
    }
    rendered = dict(rendered or {})
    texts = {}
    for user_id in user_ids:
        language = languages.get(user_id) or settings.LANGUAGE_CODE
        if language not in rendered:
            with translation.override(language):
                rendered[language] = str(message)
        texts[user_id] = rendered[language]
    return texts


def message_in_every_language(message: str | Promise) -> dict[str, str] | None:
    """A lazy `message` rendered in each of the site's languages, by code (None for a plain text:
    it reads the same in all)."""
    if not isinstance(message, Promise):
        return None
    rendered = {}
    for code, _name in settings.LANGUAGES:
        with translation.override(code):
            rendered[code] = str(message)[:MESSAGE_MAX]
    return rendered


def notification_payload(notification: Notification, *, unread: int) -> dict[str, Any]:
    """The live frame's payload: the notice, and how many the recipient has unread."""
    return {
        "id": notification.pk,
        "kind": notification.kind,
        "message": notification.message,
        "url": notification.url,
        "open_url": _open_url(notification),
        "created_at": notification.created_at.isoformat(),
        "data": notification.data,
        "unread": unread,
    }


def _open_url(notification: Notification) -> str:
    return reverse("notification_open", args=[notification.pk])


def _push_stored(notification_ids: list[int]) -> None:
    """After commit: each notice to its recipient, with their unread count as of now."""
    if get_channel_layer() is None:
        return
    notices = list(Notification.objects.filter(pk__in=notification_ids).order_by("pk"))
    unread = dict(
        Notification.objects.filter(
            recipient_id__in={notification.recipient_id for notification in notices},
            read_at__isnull=True,
        )
        .values("recipient_id")
        .annotate(count=Count("pk"))
        .values_list("recipient_id", "count")
    )
    _send_all(
        [
            (
                notification.recipient_id,
                notification_payload(notification, unread=unread.get(notification.recipient_id, 0)),
            )
            for notification in notices
        ]
    )


def notification_mails_queue(notification_ids: list[int]) -> None:
    """Queue the mails of these notices (each goes out once, however often it is queued)."""
    from core.tasks import notification_mail, notification_mails

    if settings.NOTIFICATION_MAIL_IN_BACKGROUND:
        # Embedded mode: Celery runs tasks in the caller's thread, which in Daphne is the one
        # thread every database call shares; two hundred mails would hold it for seconds. Notices
        # queued while a batch waits join it, so a burst of moves (the demo loader makes dozens)
        # waits MAIL_AFTER_PUSH_S once, not once per move.
        with _pending_lock:
            waiting = bool(_pending)
            _pending.extend(notification_ids)
        if not waiting:
            _mailer.submit(_mail_pending)
        return
    if len(notification_ids) == 1:
        notification_mail.delay(notification_ids[0])
    else:
        notification_mails.delay(notification_ids)


_mailer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="notification-mail")
# Mail is the slow channel: it waits this long so as not to compete with the live pushes of the
# same notices for the interpreter (rendering hundreds of mails takes a second or two of CPU).
MAIL_AFTER_PUSH_S = 1.0
# ... and pauses between two mails, so that the server's event loop is never kept waiting for the
# interpreter for long (a mail is ~8 ms of CPU; the pause lets the sockets' frames go out).
MAIL_GAP_S = 0.01


_pending: list[int] = []
_pending_lock = threading.Lock()


def _mail_pending() -> None:
    time.sleep(MAIL_AFTER_PUSH_S)
    with _pending_lock:
        notification_ids = _pending.copy()
        _pending.clear()
    _mail_all(notification_ids)


def _mail_all(notification_ids: list[int]) -> None:
    from core.tasks import notification_mail

    try:
        for notification_id in notification_ids:
            try:
                notification_mail.apply(args=(notification_id,))
            except Exception:
                logger.exception("notification %s: mail failed", notification_id)
            time.sleep(MAIL_GAP_S)
    finally:
        connections.close_all()


# --- Reading them -------------------------------------------------------------------------------


@transaction.atomic
def notification_mark_read(*, user_id: int, notification_id: int) -> Notification:
    """Mark one of the user's own notices read (again is harmless); anyone else's is 404."""
    notification = access_notification(user_id=user_id, notification_id=notification_id)
    if notification.read_at is None:
        notification.read_at = timezone.now()
        notification.save(update_fields=["read_at"])
    return notification


def notification_mark_all_read(*, user_id: int, up_to_id: int | None = None) -> int:
    """Mark the user's unread notices read: all of them, or those up to the newest one the page
    showed (`up_to_id`), so that a notice that arrived meanwhile is not marked read unseen.
    Returns how many."""
    unread = Notification.objects.filter(recipient_id=user_id, read_at__isnull=True)
    if up_to_id is not None:
        unread = unread.filter(pk__lte=up_to_id)
    return unread.update(read_at=timezone.now())


# --- Erasure ----------------------------------------------------------------------------------

# The shortest start of a name (a word's start) replaced where a text was cut at MESSAGE_MAX.
NAME_START_MIN = 4


def notification_names_replace(*, name: str, instead: Callable[[str], str]) -> int:
    """Replace `name` (in any case) in every notice: its text, its text in every language and its
    data (a request for help keeps who asked); `instead(language)` says what to write in the
    notice's language (capitalised where it opens a text). Where a text was cut at MESSAGE_MAX
    inside the name, the start of it that was kept goes too. Returns how many notices changed."""
    # A whole word (or address) only: "Ann Lee" is not in "Joann Leeds".
    pattern = re.compile(rf"(?<!\w){re.escape(name)}(?!\w)", re.IGNORECASE)
    notices = Notification.objects.only("pk", "message", "messages", "data").order_by("pk")
    if connection.vendor != "sqlite":  # SQLite's LIKE ignores the case of ASCII letters only:
        # there every notice is read here. As stored, a JSON text may write the name's quotes
        # and backslashes (and, but for PostgreSQL, accents) as escapes.
        forms = {name, json.dumps(name)[1:-1], json.dumps(name, ensure_ascii=False)[1:-1]}
        # The texts cut at the limit too (few): the start of the name may end them.
        found = Q(message__icontains=name) | Q(message_length__gte=MESSAGE_MAX)
        for field in ("messages", "data"):
            for form in forms:
                found |= Q(**{f"{field}_text__icontains": form})
        notices = notices.annotate(
            message_length=Length("message"),
            messages_text=Cast("messages", TextField()),
            data_text=Cast("data", TextField()),
        ).filter(found)
    changed: list[Notification] = []
    total = 0
    for notice in notices.iterator(chunk_size=500):
        kept = notice.messages or {}
        # `message` is one of the kept texts: its recipient's language at the time.
        language = next(
            (code for code, text in kept.items() if text == notice.message),
            settings.LANGUAGE_CODE,
        )
        message = _name_replaced(notice.message, pattern, name, instead(language))
        messages = {
            code: _name_replaced(text, pattern, name, instead(code)) for code, text in kept.items()
        }
        data = _data_name_replaced(notice.data, pattern, instead(language))
        if (message, messages or None, data) == (notice.message, notice.messages, notice.data):
            continue
        notice.message, notice.messages, notice.data = message, messages or None, data
        changed.append(notice)
        if len(changed) == 500:
            total += Notification.objects.bulk_update(changed, ["message", "messages", "data"])
            changed = []
    total += Notification.objects.bulk_update(changed, ["message", "messages", "data"])
    return total


def _name_replaced(text: str, pattern: re.Pattern[str], name: str, instead: str) -> str:
    cut = len(text) >= MESSAGE_MAX  # cut at the limit: perhaps inside the name
    text = pattern.sub(lambda _match: instead, text)
    if cut:
        for size in range(min(len(name) - 1, len(text)), NAME_START_MIN - 1, -1):
            at = len(text) - size
            starts_word = at == 0 or not text[at - 1].isalnum()
            if starts_word and text[at:].casefold() == name[:size].casefold():
                text = text[:at] + instead
                break
    return text[0].upper() + text[1:] if text.startswith(instead) else text


def _data_name_replaced(value: Any, pattern: re.Pattern[str], instead: str) -> Any:
    if isinstance(value, str):
        return pattern.sub(lambda _match: instead, value)
    if isinstance(value, list):
        return [_data_name_replaced(item, pattern, instead) for item in value]
    if isinstance(value, dict):
        return {key: _data_name_replaced(item, pattern, instead) for key, item in value.items()}
    return value


# --- Wording -----------------------------------------------------------------------------------


def notification_age(notification: Notification, *, now: datetime | None = None) -> str:
    """How long ago, as the menu says it: "just now", "5 minutes ago", "2 days, 3 hours ago"."""
    now = now or timezone.now()
    if now - notification.created_at < timedelta(minutes=1):
        return _("just now")
    return _("%(time)s ago") % {"time": timesince(notification.created_at, now)}


# --- Selectors ---------------------------------------------------------------------------------


def notification_list(*, user_id: int, unread: bool | None = None) -> QuerySet[Notification]:
    """A person's own notices, newest first; only the unread (or only the read) ones if asked."""
    notices = Notification.objects.filter(recipient_id=user_id)
    if unread is not None:
        notices = notices.filter(read_at__isnull=unread)
    return notices.order_by("-created_at", "-id")


def notification_unread_count(*, user_id: int) -> int:
    return Notification.objects.filter(recipient_id=user_id, read_at__isnull=True).count()


def access_notification(*, user_id: int, notification_id: int) -> Notification:
    """One of the user's own notices; anyone else's does not exist for them."""
    pk = as_id(notification_id, message="No such notification.")
    notification = Notification.objects.filter(pk=pk, recipient_id=user_id).first()
    if notification is None:
        raise NotFound("No such notification.")
    return notification
