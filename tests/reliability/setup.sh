#!/usr/bin/env bash
# Machine prerequisites of `make reliability`: Debian's nginx (the two-instance test runs it as a child process with a
# generated config; the package's own service is never started by us), redis-server, and the local PostgreSQL/Redis
# that the CI entry point (.ci/run) also starts. Non-interactive; does nothing when everything is there.
set -euo pipefail
need=()
[ -x /usr/sbin/nginx ] || need+=(nginx)
command -v redis-server >/dev/null || need+=(redis-server)
if [ ${#need[@]} -gt 0 ]; then
    echo "==> installing ${need[*]} (Debian packages)"
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${need[@]}" >/dev/null
    # the package starts its own nginx on :80 where an init system runs; we only need the binary
    if command -v service >/dev/null && [ -x /usr/sbin/nginx ]; then $SUDO service nginx stop >/dev/null 2>&1 || true; fi
fi
if ! (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; then
    echo "==> starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
fi
if ! (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null; then
    echo "==> starting Redis"
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no || true
fi
