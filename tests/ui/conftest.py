"""A real Airflow 3.3 API server (with its React UI) on loopback and a headless Chromium.

Run by ``make test-ui`` (scripts/test_ui.sh installs Chromium, chromedriver and Selenium); the
plain suite skips these tests. Everything started here is stopped at the end, on failure too.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.conftest import REPO_ROOT

SCREENSHOTS = REPO_ROOT / "ui-screenshots"
CHROMIUM = os.environ.get("MOVEWORKS_UI_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("MOVEWORKS_UI_CHROMEDRIVER", "/usr/bin/chromedriver")
STARTUP_SECONDS = 90


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("MOVEWORKS_UI_TESTS") == "1":
        return
    skip = pytest.mark.skip(reason="browser test: run it with make test-ui")
    for item in items:
        if item.path.is_relative_to(Path(__file__).parent):
            item.add_marker(skip)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server's process group (uvicorn has workers), SIGKILL what is left."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


@pytest.fixture(scope="session")
def airflow_ui() -> Iterator[str]:
    """The UI's root URL; a throwaway AIRFLOW_HOME, SimpleAuthManager with everyone an admin."""
    home = Path(tempfile.mkdtemp(prefix="moveworks-ui-home-"))
    port = _free_port()
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
        "AIRFLOW__CORE__AUTH_MANAGER": "airflow.api_fastapi.auth.managers.simple.simple_auth_manager."
        "SimpleAuthManager",
        # Every visitor is an admin without logging in: the browser needs no credentials.
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__API__WORKERS": "1",
    }
    airflow = [sys.executable, "-m", "airflow"]
    subprocess.run([*airflow, "db", "migrate"], env=env, check=True, capture_output=True, timeout=120)
    log = (home / "api-server.log").open("wb")
    proc = subprocess.Popen(
        [*airflow, "api-server", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    atexit.register(_stop, proc)  # also when the run is interrupted
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if proc.poll() is not None:
                pytest.fail(
                    f"api-server exited {proc.returncode}: {(home / 'api-server.log').read_text()[-3000:]}"
                )
            try:
                if requests.get(f"{url}/api/v2/monitor/health", timeout=2).status_code == 200:
                    break
            except requests.RequestException:  # not listening yet, or still starting up
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"api-server not up within {STARTUP_SECONDS} s")
            time.sleep(0.25)  # polling a port that has no event to wait on
        yield url
    finally:
        _stop(proc)
        atexit.unregister(_stop)
        log.close()
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="moveworks-ui-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1400,1800",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    atexit.register(driver.quit)  # also when the run is interrupted; a second quit is harmless
    try:
        yield driver
    finally:
        driver.quit()  # stops chromedriver and Chromium
        atexit.unregister(driver.quit)
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(exist_ok=True)
    for old in SCREENSHOTS.glob("*.png"):
        old.unlink()
    return SCREENSHOTS
