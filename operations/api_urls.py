"""The operations API (figures and coverage), under /api/v1/."""

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
