"""The command line: serve with --port 0, the banner, state/counters/configure, SIGTERM exit 0."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

REPO = Path(__file__).resolve().parents[2]
MODULE = "airflow_provider_moveworks.emulator"


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", MODULE, *args], capture_output=True, text=True, env=_env(), timeout=20
    )


@pytest.fixture
def served() -> Iterator[tuple[subprocess.Popen[str], dict[str, str]]]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            MODULE,
            "--port",
            "0",
            "--seed-conversations",
            "3",
            "--random-seed",
            "1",
            "--api-key",
            "cli-key",
            "--assistant-name",
            "cli-bot",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    banner: dict[str, str] = {}
    assert proc.stdout is not None
    while "AIRFLOW_CONN_MOVEWORKS_DEFAULT" not in banner:
        line = proc.stdout.readline()
        assert line, "emulator exited before printing its banner"
        key, _, value = line.strip().partition("=")
        banner[key.removeprefix("export ")] = value
    yield proc, banner
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()


def test_cli_prints_banner_and_serves(served: tuple[subprocess.Popen[str], dict[str, str]]) -> None:
    _, banner = served
    assert (
        banner["MOVEWORKS_BASE_URL"] == f"http://127.0.0.1:{banner['MOVEWORKS_EMULATOR_PORT']}/rest/v1beta1"
    )
    assert banner["MOVEWORKS_TOKEN_URL"] == banner["MOVEWORKS_EMULATOR_URL"] + "/oauth/v1/token"
    assert banner["MOVEWORKS_API_KEY"] == "cli-key"
    assert banner["MOVEWORKS_ASSISTANT_NAME"] == "cli-bot"
    assert (banner["MOVEWORKS_CLIENT_ID"], banner["MOVEWORKS_CLIENT_SECRET"]) == (
        "emulator-client",
        "emulator-secret",
    )
    response = requests.get(
        banner["MOVEWORKS_BASE_URL"] + "/conversations",
        headers={"Authorization": "Bearer cli-key", "Assistant-Name": "cli-bot"},
    )
    assert response.status_code == 200
    assert len(response.json()["conversations"]) <= 3


def test_cli_state_counters_and_configure(served: tuple[subprocess.Popen[str], dict[str, str]]) -> None:
    _, banner = served
    requests.get(banner["MOVEWORKS_BASE_URL"] + "/conversations", headers={"Authorization": "Bearer cli-key"})
    state = _run("state", "--url", banner["MOVEWORKS_EMULATOR_URL"])
    assert state.returncode == 0, state.stderr
    assert len(json.loads(state.stdout)["conversations"]) == 3
    counters = _run("counters", "--url", banner["MOVEWORKS_BASE_URL"])
    body = json.loads(counters.stdout)
    row = body["counters"][0]
    assert isinstance(row["first"], float)
    assert row["first"] == row["last"]  # one request
    assert body == {
        "counters": [
            {
                **{"count": 1, "credential": "api_key:1", "method": "GET", "route": "/conversations"},
                **{"status": 403, "first": row["first"], "last": row["last"]},
            }
        ],
        "total": 1,
    }
    configured = _run("configure", "--url", banner["MOVEWORKS_EMULATOR_URL"], "--error-rate", "1")
    assert json.loads(configured.stdout)["error_rate"] == 1.0
    response = requests.get(
        banner["MOVEWORKS_BASE_URL"] + "/conversations",
        headers={"Authorization": "Bearer cli-key", "Assistant-Name": "cli-bot"},
    )
    assert response.status_code == 500


def test_cli_sigterm_exits_zero_quietly(served: tuple[subprocess.Popen[str], dict[str, str]]) -> None:
    proc, _ = served
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=5)
    assert proc.returncode == 0
    assert err == ""


def test_cli_query_reports_unreachable_emulator() -> None:
    result = _run("state", "--url", "http://127.0.0.1:9")
    assert result.returncode == 1
    assert "emulator state:" in result.stderr


def test_cli_banner_ends_with_a_connection_ready_to_paste(
    served: tuple[subprocess.Popen[str], dict[str, str]], tmp_path: Path
) -> None:
    _, banner = served
    # What a user pastes into a shell: the quoted value must survive the shell's parsing.
    script = tmp_path / "banner.sh"
    script.write_text(
        f"export AIRFLOW_CONN_MOVEWORKS_DEFAULT={banner['AIRFLOW_CONN_MOVEWORKS_DEFAULT']}\n"
        f"{sys.executable} -c 'import os; print(os.environ[\"AIRFLOW_CONN_MOVEWORKS_DEFAULT\"])'\n"
    )
    value = subprocess.run(["sh", str(script)], capture_output=True, text=True, check=True).stdout
    assert json.loads(value) == {
        "conn_type": "moveworks",
        "host": banner["MOVEWORKS_BASE_URL"],
        "password": "cli-key",
        "extra": {"assistant_name": "cli-bot"},
    }


def test_cli_query_reads_the_url_from_the_environment(
    served: tuple[subprocess.Popen[str], dict[str, str]],
) -> None:
    _, banner = served
    result = subprocess.run(
        [sys.executable, "-m", MODULE, "state"],
        capture_output=True,
        text=True,
        env={**_env(), "MOVEWORKS_EMULATOR_URL": banner["MOVEWORKS_EMULATOR_URL"]},
        timeout=20,
    )
    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)["conversations"]) == 3


def test_cli_port_in_use_is_one_clear_line() -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = _run("--port", str(port))
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == (
        f"emulator: 127.0.0.1:{port} is already in use (Airflow's API server takes 8080); "
        "choose another --port, or --port 0 for any free one\n"
    )


def test_cli_help_shows_defaults_and_every_command() -> None:
    result = _run("--help")
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    for shown in (
        "(default: 127.0.0.1)",
        "(default: /rest/v1beta1)",
        "(default: 0.2)",
        "state, counters, configure, reset-counters",
        "seconds added to each API response, at most 3600",
        "up to this many extra seconds, at most 3600",
        "delay of a late response, at most 3600 seconds",
    ):
        assert shown in text, shown
    query_help = " ".join(_run("state", "--help").stdout.split())
    assert "$MOVEWORKS_EMULATOR_URL (as the banner prints it) when set" in query_help
    assert "None" not in text


@pytest.mark.parametrize(
    ("port", "message"),
    [
        ("99999", "invalid port 99999: must be 0 to 65535"),
        ("-1", "invalid port -1"),
        ("http", "not a number"),
    ],
)
def test_cli_invalid_port_is_a_usage_error(port: str, message: str) -> None:
    result = _run("--port", port)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_host_it_cannot_listen_on_is_one_line() -> None:
    result = _run("--host", "no-such-host.invalid", "--port", "0")
    assert result.returncode == 1
    assert result.stderr.startswith("emulator: cannot listen on no-such-host.invalid:0: ")
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr


def test_cli_query_with_a_malformed_url_is_a_usage_error() -> None:
    result = _run("state", "--url", "http://[::1")
    assert result.returncode == 2
    assert "is not a usable URL" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_configure_shows_why_the_emulator_refused(
    served: tuple[subprocess.Popen[str], dict[str, str]],
) -> None:
    _, banner = served
    result = _run("configure", "--url", banner["MOVEWORKS_EMULATOR_URL"], "--error-rate", "2")
    assert result.returncode == 1
    assert result.stderr == "emulator configure: 400 Bad Request: error_rate must be between 0 and 1\n"


def test_cli_configure_can_turn_every_fault_off_again(
    served: tuple[subprocess.Popen[str], dict[str, str]],
) -> None:
    _, banner = served
    url = banner["MOVEWORKS_EMULATOR_URL"]
    on = _run(
        "configure",
        "--url",
        url,
        "--no-retry-after",
        "--drop-after-apply",
        "--fault-token-endpoint",
        "--rate-limit",
        "5",
    )
    assert on.returncode == 0, on.stderr
    faults = json.loads(on.stdout)
    assert (faults["retry_after"], faults["drop_after_apply"], faults["fault_token_endpoint"]) == (
        False,
        True,
        True,
    )
    off = _run(
        "configure",
        "--url",
        url,
        "--retry-after",
        "--no-drop-after-apply",
        "--no-fault-token-endpoint",
        "--rate-limit",
        "0",
    )
    assert off.returncode == 0, off.stderr
    faults = json.loads(off.stdout)
    assert (faults["retry_after"], faults["drop_after_apply"], faults["fault_token_endpoint"]) == (
        True,
        False,
        False,
    )
    assert not faults["rate_limit"]


@pytest.mark.parametrize(("host", "loopback"), [("0.0.0.0", "127.0.0.1"), ("::", "[::1]")])
def test_cli_banner_on_every_address_names_a_loopback_url_that_works(host: str, loopback: str) -> None:
    """``--host 0.0.0.0`` listens everywhere; the URLs it prints must still be ones to connect to,
    and the pasted connection must pass the hook's plain-http-to-loopback-only rule."""
    proc = subprocess.Popen(
        [sys.executable, "-m", MODULE, "--host", host, "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(10)]
        url = lines[0].strip().partition("=")[2]
        assert url.startswith(f"http://{loopback}:"), lines
        connection = json.loads(shlex.split(lines[-1].partition("=")[2])[0])
        assert connection["host"] == url + "/rest/v1beta1"
        from airflow_provider_moveworks.validation import validate_service_url

        assert validate_service_url(connection["host"], "host") == connection["host"]
        assert requests.get(url + "/_emulator/health", timeout=5).json() == {"status": "ok"}
    finally:
        proc.terminate()
        proc.communicate(timeout=5)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--error-rate", "5"], "error_rate must be between 0 and 1"),
        (["--latency", "-1"], "latency must not be negative"),
        (["--latency", "inf"], "latency must be a finite number of seconds from 0 to 3600, got inf"),
        (["--latency", "nan"], "latency must be a finite number of seconds from 0 to 3600, got nan"),
        (["--jitter", "1e308"], "jitter must be at most 3600 seconds, got 1e+308"),
        (["--slow-seconds", "3601"], "slow_seconds must be at most 3600 seconds, got 3601"),
        (["--latency", "soon"], "invalid seconds 'soon': not a number"),
        (["--seed-conversations", "-5"], "invalid count -5"),
        (["--archived-share", "2"], "invalid share 2"),
        (["--token-ttl", "0"], "invalid seconds '0'"),
        (["--api-key", ""], "invalid value ''"),
        (["--assistant-name", " bot"], "invalid value ' bot'"),
    ],
)
def test_cli_out_of_range_option_is_a_usage_error(args: list[str], message: str) -> None:
    result = _run("--port", "0", *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_cli_configure_refuses_an_endless_delay_before_sending_it(
    served: tuple[subprocess.Popen[str], dict[str, str]],
) -> None:
    _, banner = served
    url = banner["MOVEWORKS_EMULATOR_URL"]

    result = _run("configure", "--url", url, "--latency", "inf")

    assert result.returncode == 2
    assert "latency must be a finite number of seconds from 0 to 3600, got inf" in result.stderr
    assert "Traceback" not in result.stderr
    assert json.loads(_run("configure", "--url", url).stdout)["latency"] == 0.0


def test_base_path_without_a_leading_slash_still_makes_urls() -> None:
    from airflow_provider_moveworks.emulator import MoveworksEmulator

    with MoveworksEmulator(base_path="rest/v1beta1/") as emu:
        assert emu.base_url == f"http://127.0.0.1:{emu.port}/rest/v1beta1"
        response = requests.get(
            emu.base_url + "/conversations",
            headers={"Authorization": f"Bearer {emu.api_keys[0]}", "Assistant-Name": emu.assistant_name},
            timeout=5,
        )
        assert response.status_code == 200


@pytest.mark.parametrize(
    ("address", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.1", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("10.0.0.5", False),
        ("192.168.1.20", False),
        ("::ffff:10.0.0.5", False),
        ("fe80::1%eth0", False),
    ],
)
def test_admin_endpoints_know_a_loopback_client(address: str, loopback: bool) -> None:
    from airflow_provider_moveworks.emulator.handler import is_loopback

    assert is_loopback(address) is loopback


def test_admin_endpoints_refuse_a_client_that_is_not_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    """Listening on 0.0.0.0 exposes the API (which checks credentials), never the credential-free
    admin endpoints: state, counters and faults stay with this machine."""
    from airflow_provider_moveworks.emulator import MoveworksEmulator, handler

    with MoveworksEmulator(seed_conversations=2) as emu:
        monkeypatch.setattr(handler, "is_loopback", lambda address: False)
        for method, path in [("GET", "/state"), ("GET", "/counters"), ("POST", "/faults")]:
            response = requests.request(
                method, emu.url + "/_emulator" + path, json={"error_rate": 1}, timeout=5
            )
            assert response.status_code == 403, path
        assert emu.fault_config.error_rate == 0.0
        response = requests.get(
            emu.base_url + "/conversations",
            headers={"Authorization": f"Bearer {emu.api_keys[0]}", "Assistant-Name": emu.assistant_name},
            timeout=5,
        )
        assert response.status_code == 200
