from django.urls import path

from scheduling import views  # noqa: F401

urlpatterns: list = []
