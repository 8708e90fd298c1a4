"""ASGI entry point: HTTP first (so Django is set up before any consumer is imported), then the
websocket router behind origin validation and session authentication. In the embedded mode with
WESCAN_EMBEDDED_BEAT=1 (`make run`), the periodic jobs run inside this process
(`wescan.embedded_beat`)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wescan.settings.local")
http_application = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from wescan.embedded_beat import with_embedded_beat  # noqa: E402
from wescan.routing import websocket_urlpatterns  # noqa: E402

application = with_embedded_beat(
    ProtocolTypeRouter(
        {
            "http": http_application,
            "websocket": AllowedHostsOriginValidator(
                AuthMiddlewareStack(URLRouter(websocket_urlpatterns))
            ),
        }
    )
)
