"""`manage.py audit_verify`: walk the audit trail's hash chain (core.audit) from its first event
to its last; exit 0 saying how many events hold, or 1 naming the first broken link."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.audit import audit_chain_verify


class Command(BaseCommand):
    help = "Verify the audit trail's hash chain and name its first broken link."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--chunk-size",
            type=int,
            default=2000,
            help="Events read from the database at a time (memory stays constant).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        chunk_size = options["chunk_size"]
        if not 1 <= chunk_size <= 100_000:
            raise CommandError("--chunk-size must be between 1 and 100000.")
        report = audit_chain_verify(chunk_size=chunk_size)
        if report.broken is not None:
            raise CommandError(
                f"{report.broken} ({report.count - 1} event(s) before it hold.)", returncode=1
            )
        self.stdout.write(f"{report.count} events, chain intact. Last hash: {report.head}")
