from django.apps import AppConfig


class OperationsConfig(AppConfig):
    """The top of the layers: pages that read every app (the home page, the operations
    dashboard) and the demo loader. No other app imports it."""

    name = "operations"
