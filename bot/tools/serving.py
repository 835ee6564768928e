"""`wuye serve --workers N`: N uvicorn worker processes, each listening on its own socket of the same port.

uvicorn's own workers share one listening socket, and an event loop accepts every connection waiting on it at
once: a burst of new connections (a restart, a client pool opening 16 keep-alive connections) tends to land on
one worker while the other idles — measured on `wuye bench serve`: 16 connections split 0/16, 2/14, 3/13 as
often as 7/9, one worker saturated while the other had nothing to do. Here every worker binds the port with
SO_REUSEPORT and the kernel spreads new connections over the workers by a hash of each connection's addresses
(what nginx's ``reuseport`` and gunicorn's ``--reuse-port`` do). uvicorn's supervisor still starts, watches,
restarts and stops the workers.

A plain bind is tried first, so a port already in use (another server, or another wuye) is an error, never a
silent sharing of its traffic; the supervisor then holds the port with a bound, non-listening socket of the group.
Linux only (SO_REUSEPORT spreading); elsewhere uvicorn's shared socket is used.
"""
from __future__ import annotations

import functools
import socket
import sys
from typing import Any, Dict, List, Optional

UVICORN_OPTIONS: Dict[str, Any] = {"log_level": "warning", "log_config": None, "access_log": False}
BACKLOG = 2048  # uvicorn's default


def serve_workers(host: str, port: int, workers: int) -> None:
    import uvicorn

    options = dict(factory=True, workers=workers, host=host, port=port, **UVICORN_OPTIONS)
    if not sys.platform.startswith("linux") or not hasattr(socket, "SO_REUSEPORT"):
        uvicorn.run("bot.main:create_app", **options)
        return
    from uvicorn.supervisors import Multiprocess

    try:
        check_port_free(host, port)
    except OSError as exc:
        raise SystemExit(f"wuye serve: 端口 {host}:{port} 已被占用 (address in use: {exc.strerror})") from None
    reservation = group_socket(host, port)  # bound, not listening: no connection is ever queued on it
    try:
        config = uvicorn.Config("bot.main:create_app", **options)
        Multiprocess(config, target=functools.partial(_worker, host, port), sockets=[]).run()
    finally:
        reservation.close()


def check_port_free(host: str, port: int) -> None:
    """Raise OSError (address in use) when something already listens on the port, reuse-port group or not."""
    with socket.socket(_family(host), socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # (connections in TIME_WAIT do not count)
        probe.bind((host, port))


def group_socket(host: str, port: int) -> socket.socket:
    sock = socket.socket(_family(host), socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def _family(host: str) -> int:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def _worker(host: str, port: int, sockets: Optional[List[socket.socket]] = None) -> None:
    """One worker process (started by uvicorn's supervisor): its own listening socket of the group, the app."""
    import uvicorn

    sock = group_socket(host, port)
    sock.listen(BACKLOG)
    config = uvicorn.Config("bot.main:create_app", factory=True, workers=1, host=host, port=port, **UVICORN_OPTIONS)
    uvicorn.Server(config).run(sockets=[sock])
