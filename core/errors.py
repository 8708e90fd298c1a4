"""The one family of domain errors. Services raise them; `core.api.exception_handler`, the
`DomainErrorMiddleware` (pages) and the websocket consumers each map them to the client once."""

import math
from typing import Any


class DomainError(Exception):
    """A user's request that the domain refuses. Never a 500."""

    status = 400
    code = "invalid"

    def __init__(self, message: str, *, fields: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields or {}

    @property
    def headers(self) -> dict[str, str]:
        """HTTP headers the refusal carries, wherever it is answered."""
        return {}


class ValidationFailed(DomainError):
    status = 400
    code = "invalid"


class NotFound(DomainError):
    """Also what another hospital's object looks like: it does not exist for this user."""

    status = 404
    code = "not_found"


class PermissionDenied(DomainError):
    status = 403
    code = "forbidden"


class Conflict(DomainError):
    """The move is not allowed from the object's current state."""

    status = 409
    code = "conflict"


class Gone(DomainError):
    status = 410
    code = "gone"


class Throttled(DomainError):
    """Too many attempts: try again after `retry_after` seconds (sent as Retry-After, in whole
    seconds; a websocket `error` frame carries it as it is)."""

    status = 429
    code = "throttled"

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(max(1, math.ceil(self.retry_after)))}


class RateLimited(Throttled):
    """A websocket participant sending frames faster than their bucket refills."""

    code = "rate_limited"


def validate_instance(instance: Any, *, exclude: list[str] | None = None) -> None:
    """Run the model's own validation and turn its complaints into a ValidationFailed."""
    from django.core.exceptions import ValidationError
    from django.utils.translation import gettext as _

    try:
        instance.full_clean(exclude=exclude)
    except ValidationError as error:
        fields = {k: [str(m) for m in v] for k, v in error.message_dict.items() if k != "__all__"}
        general = error.message_dict.get("__all__", [])
        raise ValidationFailed(
            " ".join(general) if general else _("Some fields are not valid."),
            fields=fields,
        ) from None


class FrameError(DomainError):
    """A websocket frame the socket cannot take (`code`: malformed, too_large, too_deep,
    unknown_type, invalid); `ref` is the client's own seq of that frame, when it had one."""

    def __init__(self, code: str, message: str, *, ref: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.ref = ref
