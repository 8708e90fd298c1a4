from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from marketplace import selectors


def home(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        return render(request, "core/landing.html")
    return render(
        request,
        "operations/home.html",
        {
            "hospitals": selectors.hospital_list(user=request.user),
            "invitations": selectors.invitations_addressed_to(user=request.user),
        },
    )
