from typing import Any, NoReturn

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _


class AppendOnlyError(Exception):
    pass


class AuditEventQuerySet(models.QuerySet["AuditEvent"]):
    def update(self, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError("Audit events are append-only.")

    def delete(self) -> NoReturn:
        raise AppendOnlyError("Audit events are append-only.")

    def relabel_actor(self, label: str) -> int:
        """The one change an audit row allows: the display label of its actor (a person's
        e-mail, replaced by a pseudonym on erasure). The label is outside the hash chain; the
        PostgreSQL trigger allows this update and no other. Use
        `core.audit.audit_actor_pseudonymise`."""
        return super().update(actor_label=label)


class AuditEvent(models.Model):
    """Who did what, when. Written by services in the same transaction as the change it records.

    Append-only: the ORM refuses update and delete; on PostgreSQL a trigger refuses them too
    (the actor's display label excepted, see `core.audit`). Actor and hospital are kept as plain
    ids (no database constraint) so that the log never blocks nor follows the deletion of what it
    describes.

    Tamper-evident: `seq` numbers the events 1, 2, 3, ... without gaps, `prev_hash` is the
    previous event's `hash`, and `hash` is SHA-256 over this event's content and `prev_hash`
    (`core.audit.event_hash`); `manage.py audit_verify` walks the chain.
    """

    # Set by core.audit before the insert (the hash covers it), not on save.
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    actor_label = models.CharField(max_length=254, blank=True)
    hospital = models.ForeignKey(
        "marketplace.Hospital",
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    action = models.CharField(max_length=64, db_index=True)
    target_type = models.CharField(max_length=64)
    target_id = models.CharField(max_length=64)
    data = models.JSONField(default=dict, blank=True)
    # The chain (core.audit): position, the previous event's hash, this event's hash (hex).
    seq = models.PositiveBigIntegerField(unique=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["target_type", "target_id"]),
            # A hospital's trail, newest first (the manager's audit page and CSV).
            models.Index(
                fields=["hospital", "-created_at", "-id"], name="core_audit_hospital_time"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.actor_label or 'system'} {self.action}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise AppendOnlyError("Audit events are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError("Audit events are append-only.")


class Notification(models.Model):
    """Something WeScan tells one person: listed on every page until read, pushed live to any
    page they have open, and mailed once (`emailed_at` makes the mail task safe to run twice).

    `dedupe_key`, when set, makes a notice happen once whatever runs it again (reminders from a
    periodic job). Notices describe the work, never the patient.

    `mail_due` says a mail is still owed: set when the notice is made to be mailed, cleared once
    it is sent or cannot be (no active address). A notice whose mail never went out (the broker
    was down when it was queued, a worker died with it, the mail server stayed away past the
    task's retries) is queued again by a periodic job (`core.tasks.notification_mails_overdue`),
    which notes when in `mail_queued_at`."""

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    kind = models.CharField(max_length=40)
    message = models.TextField(max_length=2000)
    url = models.CharField(max_length=300, blank=True, help_text=_("Where the notice leads."))
    data = models.JSONField(default=dict, blank=True)
    dedupe_key = models.CharField(max_length=160, null=True, blank=True, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)
    # The database's own default too: a process still on the code before this field (during an
    # upgrade) inserts notices without it.
    mail_due = models.BooleanField(default=False, db_default=False)
    mail_queued_at = models.DateTimeField(null=True, blank=True)
    # The notice in each of the site's languages, by code, when it was made from a translatable
    # text: a person who changes language reads the notices they already have in the new one.
    # Null for a text that is the same in every language, and for a notice made by a process of
    # the code before this field (during an upgrade): `message` is shown then.
    messages = models.JSONField(null=True, blank=True)

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["recipient", "read_at", "-created_at"]),
            # The few notices whose mail is still owed, for the periodic job that looks for them.
            models.Index(
                fields=["created_at"], condition=Q(mail_due=True), name="notification_mail_due"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} for {self.recipient_id}: {self.message[:60]}"

    def text(self, language: str | None = None) -> str:
        """The notice in `language` (the active one by default) when it was kept in every
        language, else as its recipient read it when it was made (`message`)."""
        language = language or translation.get_language() or ""
        messages = self.messages or {}
        return messages.get(language) or messages.get(language.split("-")[0]) or self.message
