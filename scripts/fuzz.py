"""`make fuzz`: schemathesis against a live Daphne serving the demo data, once per role.

Everything happens in a throwaway directory: a fresh SQLite file (SQLITE_PATH) is migrated and
loaded with the demo, then copied aside; each role gets a pristine copy of its own and a Daphne of
its own on a free port, so what one role deletes another still finds. FUZZ_JOBS roles run at once
(default: all four). A role's run is a schemathesis client and a Daphne taking turns on one
request at a time, and leaves a core partly idle: on 2 cores the four roles took 290 s one after
the other, 172 s two at a time and 120 s all at once. DATABASE_URL and
REDIS_URL are dropped from the server's environment: fuzzing never reaches a real database.

Roles: anonymous, a demo manager, a demo technologist (the operator of a live cockpit) and demo
local staff. Their API tokens are made with a shell call on the throwaway database, not through
the throttled token endpoint.

Exits non-zero on any server error or response that breaks the schema, printing one line per role
and a final one. FUZZ_EXAMPLES bounds the examples per operation (default keeps the whole run
within ~2 minutes on 2 cores); FUZZ_SEED makes a run repeatable; FUZZ_KEEP=1 keeps the directory
with the reports and server logs.
"""

import contextlib
import json
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
HOST = "127.0.0.1"
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "5"))
SEED = int(os.environ.get("FUZZ_SEED", "14"))
KEEP = os.environ.get("FUZZ_KEEP", "") not in ("", "0")
JOBS = max(1, int(os.environ.get("FUZZ_JOBS", "4")))

# Longest run first, so that runs sharing a slot (FUZZ_JOBS below 4) finish close together.
ROLES = {
    "manager": "manager@sainte-claire.demo",
    "technologist": "pieter.janssens@scheldeland.demo",
    "local_staff": "local@sainte-claire.demo",
    "anonymous": None,
}

# Checks left out, each with why the product is right and the check is not.
EXCLUDED_CHECKS = {
    "positive_data_acceptance": (
        "It expects every request that fits the schema's shapes to succeed. WeScan also refuses, "
        "with a 400 naming the field, what no OpenAPI schema can express: rules across fields "
        "(a window must end after it starts, a posting start in the future), references to rows "
        "(a site of another hospital in a body, an exam family code that does not exist), unique "
        "names, and values checked against a live list (IANA time zone names). Those 400s are "
        "the product keeping its promises, and they are documented in the schema."
    ),
}

# Operations left out, each with why.
EXCLUDED_OPERATIONS = {
    "me_token_revoke": (
        "The fuzzer signs in with one personal access token, whose id is small and listed by "
        "GET /api/v1/me/tokens/: revoking it would turn the rest of that role's run into 401s "
        "that pass every check and test nothing. tests/accounts/test_tokens.py covers it (one's "
        "own, another's: 404, a read token: 403)."
    ),
}


@dataclass
class Outcome:
    role: str
    operations: int
    cases: int
    failures: list[str]
    seconds: float

    @property
    def line(self) -> str:
        verdict = "ok" if not self.failures else f"{len(self.failures)} FAILURES"
        return (
            f"fuzz: {self.role:<13} {self.operations} operations, {self.cases} cases, "
            f"{verdict} ({self.seconds:.0f} s)"
        )


def server_env(workdir: Path) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE", "SECRET_KEY"}
        and not key.startswith("WESCAN_")
    }
    env.update(
        SQLITE_PATH=str(workdir / "db.sqlite3"),
        DJANGO_SETTINGS_MODULE="wescan.settings.local",
        PYTHONUNBUFFERED="1",
    )
    return env


def manage(env: dict[str, str], log: Path, *args: str) -> str:
    with log.open("a") as sink:
        result = subprocess.run(
            [str(BIN / "python"), "manage.py", *args],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=sink,
            text=True,
            check=True,
        )
    with log.open("a") as sink:
        sink.write(result.stdout)
    return result.stdout


# A personal access token per role, write scope, made as from a session that passed the second
# factor for those who must have one or have one (a token of theirs made without it is refused),
# as from a password-only session for the others.
TOKENS = """
import json
from accounts.models import User
from accounts.tokens import second_factor_guards
from accounts.tokens import access_token_create
tokens = {{}}
for email in json.loads({emails!r}):
    user = User.objects.get(email=email)
    tokens[email] = access_token_create(
        user=user, name="fuzz", scope="write", expires_in_days=7,
        with_second_factor=second_factor_guards(user),
    ).secret
print(json.dumps(tokens))
"""


def prepare(workdir: Path, env: dict[str, str]) -> dict[str, str]:
    log = workdir / "setup.log"
    manage(env, log, "migrate", "--no-input")
    manage(env, log, "load_demo")
    emails = [email for email in ROLES.values() if email]
    out = manage(env, log, "shell", "-c", TOKENS.format(emails=json.dumps(emails)))
    tokens: dict[str, str] = json.loads(out.strip().splitlines()[-1])
    copy_db(workdir / "db.sqlite3", workdir / "pristine.sqlite3")
    return tokens


def copy_db(source: Path, target: Path) -> None:
    """A consistent copy of a WAL-mode SQLite file (its -wal pages included)."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    with (
        contextlib.closing(sqlite3.connect(source)) as src,
        contextlib.closing(sqlite3.connect(target)) as dst,
    ):
        src.backup(dst)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def daphne(env: dict[str, str], log: Path) -> Iterator[str]:
    port = free_port()
    with log.open("w") as sink:
        server = subprocess.Popen(
            [str(BIN / "daphne"), "-b", HOST, "-p", str(port), "wescan.asgi:application"],
            cwd=ROOT,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=1):
                break
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"fuzz: Daphne did not start, see {log}")
            time.sleep(0.2)
        yield f"http://{HOST}:{port}"
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def fuzz_role(role: str, token: str | None, workdir: Path, env: dict[str, str]) -> Outcome:
    started = time.monotonic()
    out = workdir / role
    out.mkdir()
    copy_db(workdir / "pristine.sqlite3", out / "db.sqlite3")
    env = {**env, "SQLITE_PATH": str(out / "db.sqlite3")}
    with daphne(env, out / "daphne.log") as base:
        command = [
            str(BIN / "schemathesis"),
            "run",
            f"{base}/api/schema/",
            "--checks",
            "all",
            "--max-examples",
            str(EXAMPLES),
            "--seed",
            str(SEED),
            "--workers",
            "1",
            "--generation-database",
            "none",
            "--request-timeout",
            "30",
            "--no-color",
            "--report",
            "junit",
            "--report-dir",
            str(out),
        ]
        if EXCLUDED_CHECKS:
            command += ["--exclude-checks", ",".join(EXCLUDED_CHECKS)]
        for operation_id in EXCLUDED_OPERATIONS:
            command += ["--exclude-operation-id", operation_id]
        if token:
            command += ["--header", f"Authorization: Token {token}"]
        signed_in = [signed_in_problem(base, token, "before the run")]
        with (out / "schemathesis.log").open("w") as sink:
            result = subprocess.run(command, cwd=out, stdout=sink, stderr=subprocess.STDOUT)
        signed_in.append(signed_in_problem(base, token, "after the run"))
    operations, cases, failures = read_report(out)
    failures += [problem for problem in signed_in if problem]
    if result.returncode != 0 and not failures:
        failures = [f"schemathesis exited {result.returncode}, see {out / 'schemathesis.log'}"]
    return Outcome(role, operations, cases, failures, time.monotonic() - started)


def signed_in_problem(base: str, token: str | None, when: str) -> str | None:
    """What is wrong, if the role's token does not sign it in (a run of 401s tests nothing)."""
    if token is None:
        return None
    request = urllib.request.Request(  # noqa: S310 (our own Daphne, on 127.0.0.1)
        f"{base}/api/v1/me/", headers={"Authorization": f"Token {token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            response.read()
            return None
    except urllib.error.HTTPError as refused:
        return f"the role's token is refused {when}: {refused.code} {refused.read()[:300]!r}"


def read_report(out: Path) -> tuple[int, int, list[str]]:
    """Operations tested, cases generated, and one line per failing operation and check (from
    the JUnit report, e.g. `DELETE /api/v1/scanners/{id}/: ST101 Server error`)."""
    operations, failures = 0, set()
    for path in out.glob("junit*.xml"):
        # S314: the report is the one schemathesis just wrote into our own directory.
        for case in ElementTree.parse(path).iter("testcase"):  # noqa: S314
            operations += 1
            for failure in case.iter("failure"):
                for check in re.findall(r"^- (ST\d+ .+)$", failure.text or "", re.MULTILINE):
                    failures.add(f"{case.get('name')}: {check.strip()}")
    log = (out / "schemathesis.log").read_text(errors="replace")
    generated = re.search(r"(\d+) generated", log)
    return operations, int(generated.group(1)) if generated else 0, sorted(failures)


def main() -> int:
    workdir = Path(tempfile.mkdtemp(prefix="wescan-fuzz-"))
    env = server_env(workdir)
    started = time.monotonic()
    failed = 1
    try:
        tokens = prepare(workdir, env)
        outcomes = []
        with ThreadPoolExecutor(max_workers=JOBS) as pool:
            runs = [
                pool.submit(fuzz_role, role, tokens[email] if email else None, workdir, env)
                for role, email in ROLES.items()
            ]
            for run in as_completed(runs):
                outcome = run.result()
                print(outcome.line, flush=True)
                for failure in outcome.failures:
                    print(f"    {failure}", flush=True)
                outcomes.append(outcome)
        failed = sum(len(o.failures) for o in outcomes)
        print(
            f"fuzz: {'FAILED' if failed else 'passed'}: {len(outcomes)} roles, "
            f"{sum(o.cases for o in outcomes)} cases, {failed} failures, "
            f"{time.monotonic() - started:.0f} s"
            + (f"; reports in {workdir}" if failed or KEEP else "")
        )
        return 1 if failed else 0
    finally:
        if not KEEP and not failed:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
