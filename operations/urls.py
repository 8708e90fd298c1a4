from django.urls import path

from operations import views

urlpatterns = [
    path("", views.home, name="home"),
]
