from django.apps import AppConfig
from django.urls import register_converter
from django.utils.translation import gettext_lazy as _


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = _("WeScan core")

    def ready(self) -> None:
        from core.ids import IdConverter

        # Before any URLconf is loaded: every app's urls.py may write `<id:...>`.
        register_converter(IdConverter, "id")
