"""Run the scanner agent (the simulated console) of one or more scanners against a relay.

    manage.py scanner_agent 3 --token wsd_...                      # one scanner, its token
    WESCAN_DEVICE_TOKEN=wsd_... manage.py scanner_agent 3
    manage.py scanner_agent --all-cockpit-ready --issue-token --url http://127.0.0.1:8000

`--issue-token` issues a fresh device token for each scanner through
`marketplace.services.tenancy.scanner_rotate_token` (the old token stops working), acting as a
platform admin (`--as <email>`, else the first active one), or else as a manager of the scanner's
hospital: the rotation is audited under that person. One process runs every agent
(asyncio.gather); Ctrl-C or SIGTERM stops them cleanly.
"""

import asyncio
import contextlib
import os
import signal
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import User
from cockpit.agent import DeviceTokenRefused, ScannerAgent
from marketplace.models import Membership, Role, Scanner
from marketplace.services.tenancy import scanner_rotate_token


class Command(BaseCommand):
    help = "Run the simulated console of scanners and connect it to the cockpit relay."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("scanner_ids", nargs="*", type=int, metavar="scanner_id")
        parser.add_argument(
            "--url", default="http://127.0.0.1:8000", help="The WeScan server (http or ws)."
        )
        parser.add_argument(
            "--token",
            default=os.environ.get("WESCAN_DEVICE_TOKEN", ""),
            help="The scanner's device token (default: $WESCAN_DEVICE_TOKEN). One scanner only.",
        )
        parser.add_argument(
            "--issue-token",
            action="store_true",
            help="Issue a fresh device token for each scanner (the old one stops working).",
        )
        parser.add_argument(
            "--as",
            dest="actor_email",
            default="",
            help="Who issues the tokens (a platform admin or the hospital's manager).",
        )
        parser.add_argument(
            "--all-cockpit-ready",
            action="store_true",
            help="Every cockpit-ready scanner (with --issue-token).",
        )
        parser.add_argument("--rate-hz", type=float, default=10.0)
        parser.add_argument("--full-every", type=int, default=20)
        parser.add_argument(
            "--no-alarms", action="store_true", help="No random alarms (squeeze ball, motion)."
        )
        parser.add_argument(
            "--reconnect-after",
            type=float,
            default=0.5,
            help="Seconds before the first attempt to reconnect after a lost connection "
            "(doubling on each failure, to 15 s).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        scanners = self._scanners(options["scanner_ids"], options["all_cockpit_ready"])
        tokens = self._tokens(scanners, options)
        agents = [
            ScannerAgent(
                options["url"],
                tokens[scanner.pk],
                rate_hz=options["rate_hz"],
                full_every=options["full_every"],
                alarms=not options["no_alarms"],
                backoff_initial_s=options["reconnect_after"],
                name=f"{scanner.pk} ({scanner.site.hospital.name} / {scanner.name})",
            )
            for scanner in scanners
        ]
        for agent in agents:
            self.stdout.write(f"scanner agent {agent.name} -> {agent.ws_url}")
        failures = asyncio.run(self._run(agents))
        if failures:
            raise CommandError("\n".join(failures))

    def _scanners(self, ids: list[int], all_ready: bool) -> list[Scanner]:
        queryset = Scanner.objects.select_related("site__hospital").order_by("pk")
        if all_ready:
            scanners = list(queryset.filter(cockpit_ready=True))
            if not scanners:
                raise CommandError("No scanner is cockpit-ready.")
            return scanners
        if not ids:
            raise CommandError("Name the scanners (their ids), or pass --all-cockpit-ready.")
        found = {scanner.pk: scanner for scanner in queryset.filter(pk__in=ids)}
        missing = [str(pk) for pk in ids if pk not in found]
        if missing:
            raise CommandError(f"No scanner with id {', '.join(missing)}.")
        for scanner in found.values():
            if not scanner.cockpit_ready:
                self.stderr.write(
                    f"Scanner {scanner.pk} ({scanner.name}) is not cockpit-ready: it gets no "
                    "cockpit sessions."
                )
        return [found[pk] for pk in dict.fromkeys(ids)]

    def _tokens(self, scanners: list[Scanner], options: dict[str, Any]) -> dict[int, str]:
        if options["issue_token"]:
            return {
                scanner.pk: scanner_rotate_token(
                    actor=self._issuer(scanner, options["actor_email"]), scanner=scanner
                )
                for scanner in scanners
            }
        token = options["token"].strip()
        if not token:
            raise CommandError(
                "No device token: pass --token, set WESCAN_DEVICE_TOKEN, or --issue-token."
            )
        if len(scanners) != 1:
            raise CommandError("A device token belongs to one scanner; use --issue-token.")
        return {scanners[0].pk: token}

    def _issuer(self, scanner: Scanner, email: str) -> User:
        if email:
            user = User.objects.filter(email__iexact=email, is_active=True).first()
            if user is None:
                raise CommandError(f"No active user {email}.")
            return user
        admin = User.objects.filter(is_staff=True, is_active=True).order_by("pk").first()
        if admin is not None:
            return admin
        membership = (
            Membership.objects.select_related("user")
            .filter(hospital=scanner.site.hospital, role=Role.MANAGER, user__is_active=True)
            .order_by("pk")
            .first()
        )
        if membership is None:
            raise CommandError(
                f"Nobody can issue a token for {scanner.name}: no platform admin and no "
                f"manager of {scanner.site.hospital.name}. Pass --token."
            )
        return membership.user

    async def _run(self, agents: list[ScannerAgent]) -> list[str]:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(signum, stop.set)
        try:
            results = await asyncio.gather(
                *(agent.run(stop) for agent in agents), return_exceptions=True
            )
        finally:
            for signum in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.remove_signal_handler(signum)
        failures = []
        for agent, result in zip(agents, results, strict=True):
            if isinstance(result, DeviceTokenRefused):
                failures.append(str(result))
            elif isinstance(result, BaseException):
                failures.append(f"scanner agent {agent.name}: {result!r}")
        self.stdout.write("scanner agents stopped.")
        return failures
