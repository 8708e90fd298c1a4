"""The demo's second factor: every demo login holds one public authenticator secret, and
`manage.py demo_totp` prints the code an app holding it shows now (what `make run` tells a
newcomer to use). Signing in with it is shown in Chromium by the demo's own browser tests."""

import io

import pyotp
from django.core.management import call_command

from operations.management.commands.load_demo import DEMO_TOTP_SECRET


def test_demo_totp_prints_the_code_an_app_with_the_demo_secret_shows() -> None:
    app = pyotp.TOTP(DEMO_TOTP_SECRET)
    before = app.now()
    out = io.StringIO()
    call_command("demo_totp", stdout=out)
    after = app.now()  # the 30 s may turn while the command runs
    code, explanation = out.getvalue().splitlines()
    assert code in {before, after}
    assert explanation.startswith("(the code of every demo login for ")
