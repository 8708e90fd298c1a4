"""The cluster harness itself (wescan.cluster): what it refuses, and that a start that fails
half-way leaves no process behind."""

import os
import socket
from pathlib import Path

import pytest

from tests.cluster.support import cluster_config, needs_postgres_leg
from wescan.cluster import Cluster, ClusterConfig, ClusterError, haproxy_config


def processes_under(workdir: Path) -> list[str]:
    """The command lines of running processes that name `workdir`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue  # gone meanwhile
        if str(workdir) in command and entry.name != str(os.getpid()):
            found.append(command)
    return found


def test_shared_servers_are_not_the_clusters_to_stop(tmp_path: Path) -> None:
    cluster = Cluster(
        ClusterConfig(
            workdir=tmp_path,
            database_url="postgres://wescan@db.example.org/wescan",
            redis_url="redis://cache.example.org:6379/0",
        )
    )
    for move in (cluster.stop_redis, cluster.start_redis, cluster.restart_redis):
        with pytest.raises(ClusterError, match="shared redis"):
            move()
    for move in (cluster.stop_postgres, cluster.start_postgres, cluster.restart_postgres):
        with pytest.raises(ClusterError, match="shared postgres"):
            move()


def test_the_balancer_checks_each_daphne_and_keeps_websockets_open() -> None:
    config = haproxy_config(port=8200, daphne_ports=[8201, 8202], stats_socket=Path("/x.sock"))
    assert "balance leastconn" in config
    assert "timeout tunnel 1h" in config
    assert "http-check send meth GET uri /healthz" in config
    assert "option redispatch" in config
    assert "server daphne1 127.0.0.1:8201" in config
    assert "server daphne2 127.0.0.1:8202" in config


@pytest.mark.cluster
@needs_postgres_leg()
def test_a_start_that_fails_half_way_leaves_no_process(cluster_workdir: Path) -> None:
    config = cluster_config(cluster_workdir, daphnes=1, celery=False, agents=False, demo=False)
    with socket.socket() as taken:  # Redis's port, held by someone else
        taken.bind(("127.0.0.1", config.redis_port))
        taken.listen()
        cluster = Cluster(config)
        with pytest.raises(ClusterError, match="redis exited") as failure:
            cluster.start()
    assert "Address already in use" in str(failure.value)  # the log's last lines say why
    assert processes_under(cluster.workdir) == []  # PostgreSQL, started first, is stopped
