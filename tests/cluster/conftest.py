"""The cluster tests' working folder (see tests/cluster/support.py for the rest)."""

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def cluster_workdir() -> Iterator[Path]:
    """Under /tmp, reachable by the postgres user (pytest's own temporary folders are not)."""
    workdir = Path(tempfile.mkdtemp(prefix="wescan-cluster-"))
    workdir.chmod(0o755)
    yield workdir
    shutil.rmtree(workdir, ignore_errors=True)
