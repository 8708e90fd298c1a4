from django.http import HttpRequest, HttpResponse


def privacy(request: HttpRequest) -> HttpResponse:
    raise NotImplementedError


privacy_export = privacy_erase = privacy
