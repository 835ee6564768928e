#!/usr/bin/env bash
# Find Python 3.10 (PATH or pyenv), build .venv with it and install the project.
# Idempotent: re-installs only when pyproject.toml changed since the last install.
set -euo pipefail
cd "$(dirname "$0")/.."

find_python310() {
    local c
    for c in python3.10; do
        if command -v "$c" >/dev/null 2>&1 && "$c" -c 'import sys; assert sys.version_info[:2]==(3,10)' 2>/dev/null; then
            command -v "$c"; return 0
        fi
    done
    if command -v pyenv >/dev/null 2>&1; then
        local root; root=$(pyenv root)
        for c in $(ls -d "$root"/versions/3.10.* 2>/dev/null | sort -V -r); do
            if [ -x "$c/bin/python" ]; then echo "$c/bin/python"; return 0; fi
        done
    fi
    for c in "$HOME"/.pyenv/versions/3.10.*/bin/python /usr/local/bin/python3.10 /usr/bin/python3.10; do
        if [ -x "$c" ]; then echo "$c"; return 0; fi
    done
    return 1
}

if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import sys; assert sys.version_info[:2]==(3,10)' 2>/dev/null; then
    PY=$(find_python310) || { echo "error: Python 3.10 not found (install it, e.g. 'pyenv install 3.10.13')" >&2; exit 1; }
    echo "==> creating .venv with $PY"
    rm -rf .venv
    "$PY" -m venv .venv
fi

stamp=.venv/.wuye-installed
want=$(cat pyproject.toml | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "==> installing dependencies into .venv (first time takes a few minutes)"
    .venv/bin/python -m pip install -q --upgrade "pip<25" "setuptools>=65,<76" wheel 2>&1 | grep -v "^WARNING: Location" || true
    .venv/bin/python -m pip install -q -e ".[test]" 2>&1 | grep -v "^WARNING: Location" || true
    .venv/bin/python -c "import rasa, jieba, fastapi" || { echo "error: installation failed" >&2; exit 1; }
    echo "$want" > "$stamp"
fi
