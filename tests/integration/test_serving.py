"""`wuye serve --workers 2` (bot/tools/serving.py): each worker listens on its own socket of the port, new connections are
spread over both, and a port already served is refused instead of shared."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Dict, Set

import httpx
import pytest

from bot.tools.bench_serve import Server, free_port, listening_sockets, tcp_sockets, wait_for_workers
from tests.conftest import subprocess_env

# `make test-deploy` (several worker processes): kept out of `make test`'s 15 minutes, run by CI after it
pytestmark = [pytest.mark.deploy,
              pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SO_REUSEPORT spreading is Linux's")]


def _socket_inodes(pid: int) -> Set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def _established_by_process(port: int, pids) -> Dict[int, int]:
    """ESTABLISHED server-side connections on the port, per process (from /proc)."""
    connections = set(tcp_sockets(port, "01"))
    return {pid: len(_socket_inodes(pid) & connections) for pid in pids}


def _children(pid: int):
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def test_two_workers_each_listen_and_share_new_connections(tmp_path, settings, trained_model):
    port = free_port()
    env = subprocess_env(WUYE_DATABASE_URL=f"sqlite:///{tmp_path / 'w.db'}", WUYE_MODELS_DIR=str(settings.models_dir))
    wuye = str(Path(sys.executable).parent / "wuye")
    probe = lambda url: httpx.post(url + "/api/parse", json={"text": "物业几点上班"}, timeout=5)  # noqa: E731
    with Server("workers", [wuye, "serve", "--port", str(port), "--workers", "2"], env, probe, port) as server:
        wait_for_workers(port, 2)
        assert listening_sockets(port) == 2  # one socket per worker; the supervisor's own holds the port unlistened
        clients = [httpx.Client(base_url=server.url, timeout=10) for _ in range(16)]
        try:
            for _ in range(2):  # 16 keep-alive connections, as the benchmark's load opens them; the second round
                # reopens any the server closed after its 5 s keep-alive while the first parses were slow
                for client in clients:
                    assert client.post("/api/parse", json={"text": "物业几点上班"}).json()["intent"]["name"]
            split = _established_by_process(port, _children(server.process.pid))  # the workers (and spawn's helper)
            assert sum(split.values()) == 16
            # spread by the kernel's hash of each connection (all 16 on one worker: odds 1 in 32,768)
            assert len([n for n in split.values() if n > 0]) == 2, split
        finally:
            for client in clients:
                client.close()
        # a second server on the same port is refused, not let into the group to take half of the traffic
        second = subprocess.run([wuye, "serve", "--port", str(port), "--workers", "2"], env=env, capture_output=True,
                                text=True, timeout=120)
        assert second.returncode != 0
        assert "已被占用" in second.stderr and "Traceback" not in second.stderr
        assert listening_sockets(port) == 2
