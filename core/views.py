from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from core.api import error_body
from marketplace import selectors


def home(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        return render(request, "core/landing.html")
    return render(
        request,
        "core/dashboard.html",
        {
            "hospitals": selectors.hospital_list(user=request.user),
            "invitations": selectors.invitations_addressed_to(user=request.user),
        },
    )


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse(error_body("not_found", "No such address in the API."), status=404)
    return render(request, "error.html", {"status": 404, "message": "Not found."}, status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse(
            error_body("server_error", "Something went wrong on our side."), status=500
        )
    return render(request, "500.html", status=500)
