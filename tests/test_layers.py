"""The layers point one way (STYLE.md): core → accounts → marketplace → scheduling → cockpit →
operations, with `wescan` (settings, URLs, ASGI, Celery) above them all. An app imports only from
itself and the apps below it, and never another app's private (`_name`) helpers: a shared helper
moves down instead. The contract is import-linter's, in pyproject.toml (`make lint` runs it too);
here it runs in `make test`, with the check import-linter cannot make: private names."""

import ast
import importlib
import itertools
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grimp
import pytest

ROOT = Path(__file__).resolve().parent.parent
# From the bottom up, as in STYLE.md.
APPS = ("core", "accounts", "marketplace", "scheduling", "cockpit", "operations", "wescan")
# Django's own underscore API, meant to be used from anywhere.
DJANGO_PUBLIC = {"_meta", "_default_manager", "_base_manager", "_state"}


def _contract() -> dict[str, Any]:
    with (ROOT / "pyproject.toml").open("rb") as file:
        config: dict[str, Any] = tomllib.load(file)["tool"]["importlinter"]
    (layers,) = (c for c in config["contracts"] if c["id"] == "layers")
    return {"root_packages": config["root_packages"], **layers}


def _route(graph: grimp.ImportGraph, route: grimp.Route) -> str:
    """One way up the layers, each import with the line it is on."""
    chain = [sorted(route.heads), *[[module] for module in route.middle], sorted(route.tails)]
    steps = []
    for importers, importeds in itertools.pairwise(chain):
        for importer, imported in itertools.product(importers, importeds):
            for detail in graph.get_import_details(importer=importer, imported=imported):
                steps.append(f"{importer}:{detail['line_number']}: {detail['line_contents']}")
    return "\n    ".join(steps)


def test_each_app_imports_only_the_apps_below_it() -> None:
    """import-linter's contract (pyproject.toml), checked with grimp, the graph library it runs
    on. Not through import-linter's runner: its option check reads every name `dir()` gives a
    contract class, and once Daphne has loaded Twisted, zope.interface lists a `__provides__`
    there that cannot be read."""
    contract = _contract()
    assert contract["type"] == "layers"
    assert [*reversed(contract["layers"])] == [*APPS]  # the layers STYLE.md states
    assert sorted(contract["root_packages"]) == sorted(APPS)
    # The graph is built of this checkout's apps, not of an installed copy of them.
    for app in APPS:
        module = importlib.import_module(app)
        assert Path(module.__file__ or "").resolve().is_relative_to(ROOT), app
    graph = grimp.build_graph(*contract["root_packages"], cache_dir=None)
    upward = graph.find_illegal_dependencies_for_layers(layers=contract["layers"])
    problems = [
        f"{dependency.importer} imports {dependency.imported}:\n    " + _route(graph, route)
        for dependency in sorted(upward, key=lambda d: (d.importer, d.imported))
        for route in dependency.routes
    ]
    assert not problems, "An import goes up the layers:\n" + "\n".join(problems)


def _python_files(app: str) -> Iterator[Path]:
    yield from sorted((ROOT / app).rglob("*.py"))


def private_uses(source: str, *, app: str) -> list[tuple[int, str]]:
    """The other apps' private names that `source` (a module of `app`) uses: imported by name
    (`from marketplace.api import _filters`), from a private module (`from core._x import y`), or
    read off something imported from another app (`marketplace_api._filters`, `Booking._x`)."""
    found: list[tuple[int, str]] = []
    foreign: set[str] = set()  # local names bound to another app's modules or objects

    def other_app(module: str) -> bool:
        top = module.split(".")[0]
        return top in APPS and top != app

    def private(name: str) -> bool:
        return name.startswith("_") and not name.startswith("__")

    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if not other_app(node.module):
                continue
            if any(private(part) for part in node.module.split(".")):
                found.append((node.lineno, node.module))
            for alias in node.names:
                if private(alias.name):
                    found.append((node.lineno, f"{node.module}.{alias.name}"))
                foreign.add(alias.asname or alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if not other_app(alias.name):
                    continue
                if any(private(part) for part in alias.name.split(".")):
                    found.append((node.lineno, alias.name))
                foreign.add(alias.asname or alias.name.split(".")[0])
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.Attribute)
            and private(node.attr)
            and node.attr not in DJANGO_PUBLIC
            and isinstance(node.value, ast.Name | ast.Attribute)
            and ast.unparse(node.value).split(".")[0] in foreign
        ):
            found.append((node.lineno, f"{ast.unparse(node.value)}.{node.attr}"))
    return found


def test_no_app_uses_another_apps_private_names() -> None:
    problems = [
        f"{path.relative_to(ROOT)}:{line}: {name}"
        for app in APPS
        for path in _python_files(app)
        for line, name in private_uses(path.read_text(encoding="utf-8"), app=app)
    ]
    assert not problems, "Private names used across apps (give them a public home below):\n" + (
        "\n".join(problems)
    )


@pytest.mark.parametrize(
    ("source", "found"),
    [
        ("from marketplace.api import _filters, query\n", [(1, "marketplace.api._filters")]),
        ("def f():\n    from core.views import _next_or as n\n", [(2, "core.views._next_or")]),
        ("from core._private import helper\n", [(1, "core._private")]),
        ("from marketplace import api\napi._valid(1)\n", [(2, "api._valid")]),
        ("import marketplace.views\nmarketplace.views._x\n", [(2, "marketplace.views._x")]),
        ("from scheduling.models import Booking\nBooking._meta\n", []),
        ("from cockpit.views import _own\n", []),  # its own app: allowed here
        ("from cockpit.services.session import _locked\n", []),
        ("from marketplace.models import __doc__\n", []),
        ("x = object()\nx._private\n", []),
    ],
)
def test_the_private_name_check_sees_each_way_of_reaching_in(
    source: str, found: list[tuple[int, str]]
) -> None:
    assert private_uses(source, app="cockpit") == found
