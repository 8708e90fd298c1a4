"""How long does someone else's sign-in page take while one request carries a big body?

Set-up: a fresh database (bench/common.py), one Daphne process as production runs it. One client
sends 20 MB of `&` as a form to /accounts/login/ (anonymous: refused unread, 403), trickled in
16 pieces over about a second; meanwhile another loads the sign-in page every 50 ms, from just
after the big request sets off until a moment after it was answered. Three rounds.

The tests (tests/core/test_busy_server.py) decide whether anyone is stalled by the order of the
answers; the time it takes is this figure.

Figures:
- busy_server.login_median_ms: the sign-in page's median while the big body is handled (target
  <= 200 ms: "at once"; Twisted's parse of such a body held every page for 7 s);
- busy_server.login_max_ms: the slowest of them (target <= 1000 ms).
"""

import http.client
import os
import statistics
import sys
import threading
import time

from common import Bench, BenchFailure, figure, machine, run, start_daphne

MIB = 1024 * 1024
ROUNDS = 3
PIECES = 16


def _login_ms(port: int) -> float:
    started = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request("GET", "/accounts/login/")
        response = connection.getresponse()
        response.read()
    finally:
        connection.close()
    if response.status != 200:
        raise BenchFailure(f"the sign-in page answered {response.status}")
    return (time.perf_counter() - started) * 1000


def _send_big(port: int, answers: list[int]) -> None:
    body = b"&" * (20 * MIB)
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.putrequest("POST", "/accounts/login/")
        connection.putheader("Content-Type", "application/x-www-form-urlencoded")
        connection.putheader("Content-Length", str(len(body)))
        connection.endheaders()
        piece = len(body) // PIECES + 1
        for start in range(0, len(body), piece):
            connection.send(body[start : start + piece])
            time.sleep(0.06)
        answers.append(connection.getresponse().status)
    finally:
        connection.close()


def seed() -> None:
    return None


def measure(bench: Bench, _seeded: None) -> None:
    server = start_daphne("busy_server", 0, "memory", os.environ.copy())
    try:
        print(f"setup: 1 daphne process (pid {server.process.pid}), {machine()}")
        timings: list[float] = []
        for _round in range(ROUNDS):
            answers: list[int] = []
            busy = threading.Thread(target=_send_big, args=(server.port, answers))
            busy.start()
            time.sleep(0.05)
            while busy.is_alive():
                timings.append(_login_ms(server.port))
                time.sleep(0.05)
            timings.append(_login_ms(server.port))
            busy.join()
            if answers != [403]:
                raise BenchFailure(f"the 20 MB form was answered {answers}, not [403]")
            server.check_alive()
    finally:
        server.stop()
    median, slowest = statistics.median(timings), max(timings)
    figure("busy_server.login_median_ms", f"{median:.1f}", "ms", "<= 200", median > 200)
    figure("busy_server.login_max_ms", f"{slowest:.1f}", "ms", "<= 1000", slowest > 1000)


if __name__ == "__main__":
    sys.exit(run("busy_server", "wescan_bench_busy_server", seed, measure))
