from typing import Any, ClassVar

from django.conf import settings
from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.db import models
from django.utils.translation import gettext_lazy as _

# An erased account's address is ERASED_PREFIX + a pseudonym + "@" + ERASED_DOMAIN (a domain
# that never receives mail); pages call the person FORMER_MEMBER.
ERASED_PREFIX = "erased-"
ERASED_DOMAIN = "invalid"
FORMER_MEMBER = _("Former member")


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def _create(self, email: str, password: str | None, **extra: Any) -> "User":
        if not email:
            raise ValueError("An e-mail address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> "User":
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> "User":
        extra.update(is_staff=True, is_superuser=True)
        return self._create(email, password, **extra)


class User(AbstractUser):
    """A person. Signs in with an e-mail address; what they may see comes from their memberships.

    `is_staff` marks a platform admin (the Django admin and every hospital)."""

    username = None  # type: ignore[assignment]
    email = models.EmailField(_("e-mail address"), unique=True)
    # The language of pages and mails (accounts.language); blank follows the browser.
    language = models.CharField(
        _("language"),
        max_length=8,
        choices=settings.LANGUAGES,
        blank=True,
        default="",
        help_text=_("Pages and mails come in this language; blank follows your browser."),
    )
    # The language the person's browser last asked for, while they chose none: what their mails
    # and notices are written in (a mail has no browser to ask).
    browser_language = models.CharField(
        _("browser's language"), max_length=8, blank=True, default="", editable=False
    )

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    objects: ClassVar[UserManager] = UserManager()  # type: ignore[assignment]

    class Meta:
        ordering = ["email"]
        verbose_name = _("person")
        verbose_name_plural = _("people")

    def __str__(self) -> str:
        return self.display_name

    @property
    def is_erased(self) -> bool:
        """Erased (accounts.privacy): the address is the pseudonym erasure gave it."""
        return self.email.startswith(ERASED_PREFIX) and self.email.endswith(f"@{ERASED_DOMAIN}")

    @property
    def display_name(self) -> str:
        """How pages name the person: their name, else their address; an erased person is a
        "Former member" (their pseudonym stays for the audit trail and the admin)."""
        if self.is_erased:
            return str(FORMER_MEMBER)
        return self.get_full_name() or self.email


class UsualAddress(models.Model):
    """A client address (or IPv6 /64) this person signed in from with the right password.

    While an account is under attack from many addresses, its usual addresses still get in
    (see `accounts.services.login_authenticate`). The address is kept as a keyed hash of the
    person and the address: enough to recognise it, not to read it back."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="usual_addresses")
    address_hash = models.CharField(max_length=64)
    last_signed_in_at = models.DateTimeField()

    class Meta:
        verbose_name = _("usual address")
        verbose_name_plural = _("usual addresses")
        constraints = [
            models.UniqueConstraint(fields=["user", "address_hash"], name="usual_address_once")
        ]

    def __str__(self) -> str:
        return f"{self.user} from {self.address_hash[:8]}…"


class TokenScope(models.TextChoices):
    READ = "read", _("Read: look, change nothing")
    WRITE = "write", _("Write: everything you may do")


class AccessToken(models.Model):
    """A personal access token for the API (`Authorization: Token <secret>`).

    The secret is shown once, when the token is made; only its SHA-256 is kept (a random
    secret of 256 bits needs no slow hash: there is nothing to guess from it), with the first
    characters (`prefix`) so that its owner can tell their tokens apart. Every token expires.
    Made, used and revoked through `accounts.tokens`."""

    user = models.ForeignKey(
        User, on_delete=models.CASCADE, related_name="access_tokens", verbose_name=_("person")
    )
    name = models.CharField(_("name"), max_length=100)
    scope = models.CharField(_("scope"), max_length=8, choices=TokenScope.choices)
    prefix = models.CharField(_("prefix"), max_length=16)
    secret_hash = models.CharField(_("secret hash"), max_length=64, unique=True)
    created_at = models.DateTimeField(_("created"))
    expires_at = models.DateTimeField(_("expires"))
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)
    # Made from a session that passed a second factor; people who must have one (managers,
    # local staff, platform admins) can use no other.
    created_with_second_factor = models.BooleanField(_("made with a second factor"), default=False)
    # Given for a password at `POST /api/v1/auth/token/` (a person keeps only the newest few).
    by_password_sign_in = models.BooleanField(_("given for a password"), default=False)

    class Meta:
        verbose_name = _("personal access token")
        verbose_name_plural = _("personal access tokens")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "revoked_at", "expires_at"])]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(expires_at__gt=models.F("created_at")),
                name="access_token_expires_after_creation",
            ),
            models.CheckConstraint(
                condition=models.Q(scope__in=["read", "write"]), name="access_token_scope_known"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"
