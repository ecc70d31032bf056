#!/usr/bin/env bash
# The browser test of the connection form (make test-ui): Debian's Chromium and chromedriver
# (installed with apt as root when missing), Selenium pinned in constraints/airflow-3.3.txt, then
# tests/ui against a real Airflow 3.3 API server on 127.0.0.1. Screenshots go to ui-screenshots/.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}

if [ ! -x /usr/bin/chromedriver ] || [ ! -x /usr/bin/chromium ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "test-ui: Chromium is missing; run as root, or: apt-get install chromium chromium-driver" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
fi

"$PYTHON" -m pip install --quiet --disable-pip-version-check -c constraints/airflow-3.3.txt -e ".[ui]"
# SIGINT on overrun: pytest stops, and atexit hooks stop the API server and the browser.
MOVEWORKS_UI_TESTS=1 timeout --signal=INT --kill-after=20 180 "$PYTHON" -m pytest tests/ui -q --tb=short --durations=3 "$@"
