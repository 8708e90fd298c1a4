from typing import Any, ClassVar

from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.db import models


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
    email = models.EmailField("e-mail address", unique=True)

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    objects: ClassVar[UserManager] = UserManager()  # type: ignore[assignment]

    class Meta:
        ordering = ["email"]

    def __str__(self) -> str:
        return self.display_name

    @property
    def display_name(self) -> str:
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
        constraints = [
            models.UniqueConstraint(fields=["user", "address_hash"], name="usual_address_once")
        ]

    def __str__(self) -> str:
        return f"{self.user} from {self.address_hash[:8]}…"
