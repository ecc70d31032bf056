"""Fault knobs: rate limit (with and without Retry-After), 500s, drops, slow replies, latency."""

from __future__ import annotations

import re
import threading
import time
from typing import Any

import pytest
import requests

from airflow_provider_moveworks.emulator import FaultConfig, MoveworksEmulator

from .conftest import API_KEY_2, ASSISTANT, CLIENT_ID, CLIENT_SECRET, EmulatorFactory, FakeClock


def _patch(
    session: requests.Session, emu: MoveworksEmulator, cid: str, headers: dict[str, str], **kw: Any
) -> requests.Response:
    return session.patch(
        f"{emu.base_url}/conversations/{cid}", headers=headers, json={"title": "changed"}, **kw
    )


@pytest.fixture
def cid(emulator: MoveworksEmulator) -> str:
    return str(emulator.add_conversation(title="before")["conversation_id"])


def test_rate_limit_answers_429_with_retry_after(
    session: requests.Session, emulator: MoveworksEmulator, headers: dict[str, str], cid: str
) -> None:
    emulator.configure(rate_limit=2)
    statuses = [_patch(session, emulator, cid, headers).status_code for _ in range(2)]
    response = _patch(session, emulator, cid, headers)
    assert statuses == [200, 200]
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "1"
    assert response.json() == {"error": {"code": "RATE_LIMIT_EXCEEDED", "message": "Rate limit exceeded"}}
    assert "x-moveworks-root-uuid" in response.headers


def test_rate_limit_without_retry_after_header(
    session: requests.Session, emulator: MoveworksEmulator, headers: dict[str, str], cid: str
) -> None:
    emulator.configure(rate_limit=1, retry_after=False)
    assert _patch(session, emulator, cid, headers).status_code == 200
    response = _patch(session, emulator, cid, headers)
    assert response.status_code == 429
    assert "Retry-After" not in response.headers


def test_rate_limit_is_per_credential_and_refills(
    session: requests.Session,
    emulator: MoveworksEmulator,
    headers: dict[str, str],
    cid: str,
    clock: FakeClock,
) -> None:
    emulator.configure(rate_limit=5)
    assert [_patch(session, emulator, cid, headers).status_code for _ in range(6)] == [200] * 5 + [429]
    other = {**headers, "Authorization": f"Bearer {API_KEY_2}"}
    assert _patch(session, emulator, cid, other).status_code == 200
    clock.advance(0.1)  # half a request's worth
    assert _patch(session, emulator, cid, headers).status_code == 429
    clock.advance(0.1)
    assert _patch(session, emulator, cid, headers).status_code == 200


def test_rate_limited_request_changes_nothing(
    session: requests.Session, emulator: MoveworksEmulator, headers: dict[str, str], cid: str
) -> None:
    emulator.configure(rate_limit=1)
    session.get(f"{emulator.base_url}/conversations", headers=headers)
    before = emulator.get(cid)
    assert _patch(session, emulator, cid, headers).status_code == 429
    assert emulator.get(cid) == before


def test_error_rate_one_answers_500_and_changes_nothing(
    session: requests.Session, emulator: MoveworksEmulator, headers: dict[str, str], cid: str
) -> None:
    before = emulator.get(cid)
    emulator.configure(error_rate=1.0)
    response = _patch(session, emulator, cid, headers)
    assert response.status_code == 500
    assert response.json() == {"error": {"code": "INTERNAL_ERROR", "message": "Injected internal error"}}
    assert emulator.get(cid) == before


def test_faults_do_not_touch_the_token_endpoint_by_default(
    session: requests.Session, emulator: MoveworksEmulator
) -> None:
    emulator.configure(error_rate=1.0)
    data = {"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
    assert session.post(emulator.token_url, data=data).status_code == 200
    emulator.configure(fault_token_endpoint=True)
    response = session.post(emulator.token_url, data=data)
    assert response.status_code == 500
    assert response.json() == {"code": "INTERNAL_ERROR", "message": "Injected internal error"}


def test_drop_rate_one_closes_without_response_and_changes_nothing(
    session: requests.Session, emulator: MoveworksEmulator, headers: dict[str, str], cid: str
) -> None:
    before = emulator.get(cid)
    emulator.configure(drop_rate=1.0)
    with pytest.raises(requests.ConnectionError):
        _patch(session, emulator, cid, headers)
    assert emulator.get(cid) == before
    assert emulator.request_count(method="PATCH", status="dropped") == 1


def test_drop_after_apply_changes_state_but_answers_nothing(
    session: requests.Session, emulator: MoveworksEmulator, headers: dict[str, str], cid: str
) -> None:
    emulator.configure(drop_rate=1.0, drop_after_apply=True)
    with pytest.raises(requests.ConnectionError):
        _patch(session, emulator, cid, headers)
    assert emulator.get(cid)["title"] == "changed"  # type: ignore[index]


def _record_sleeps(emu: MoveworksEmulator, observe: Any = None, really: bool = True) -> list[float]:
    """The emulator's injected delays, recorded (and still slept, unless ``really`` is false)."""
    slept: list[float] = []
    sleep = emu.sleep

    def recording(seconds: float) -> None:
        slept.append(seconds)
        if observe is not None:
            observe()
        if really:
            sleep(seconds)

    emu.sleep = recording  # type: ignore[method-assign]
    return slept


def test_slow_response_is_applied_and_arrives_late(
    session: requests.Session, emulator: MoveworksEmulator, headers: dict[str, str], cid: str
) -> None:
    titles_when_delayed: list[object] = []
    both_delayed = threading.Event()

    def observe() -> None:
        titles_when_delayed.append(emulator.get(cid)["title"])  # type: ignore[index]
        if len(titles_when_delayed) == 2:
            both_delayed.set()

    slept = _record_sleeps(emulator, observe)
    emulator.configure(slow_rate=1.0, slow_seconds=0.5)
    with pytest.raises(requests.Timeout):  # the reply cannot come before the 0.5 s delay
        _patch(session, emulator, cid, headers, timeout=0.15)
    started = time.perf_counter()
    assert _patch(session, emulator, cid, headers).status_code == 200
    assert time.perf_counter() - started >= 0.45
    assert both_delayed.wait(10)  # the first handler may still be on its way to its delay
    assert slept == [0.5, 0.5]
    assert titles_when_delayed == ["changed", "changed"]  # applied before the delay


def test_latency_delays_every_api_response(
    session: requests.Session, emulator: MoveworksEmulator, headers: dict[str, str], cid: str
) -> None:
    slept = _record_sleeps(emulator)
    emulator.configure(latency=0.2, jitter=0.05)
    for sent in (headers, {}):  # an authorised request and a 401 alike
        started = time.perf_counter()
        _patch(session, emulator, cid, sent)
        assert time.perf_counter() - started >= 0.2
    assert len(slept) == 2
    assert all(0.2 <= seconds <= 0.25 for seconds in slept)


def test_no_latency_on_admin_endpoints(session: requests.Session, emulator: MoveworksEmulator) -> None:
    slept = _record_sleeps(emulator, really=False)
    emulator.configure(latency=1.0, error_rate=1.0)
    assert session.get(f"{emulator.url}/_emulator/state").status_code == 200
    assert slept == []
    assert session.get(f"{emulator.base_url}/conversations").status_code == 401
    assert slept == [1.0]


def test_fault_decisions_repeat_with_the_same_seed(
    session: requests.Session, make_emulator: EmulatorFactory, headers: dict[str, str]
) -> None:
    def run() -> list[int]:
        emu = make_emulator(random_seed=7, error_rate=0.5)
        cid = emu.add_conversation(title="t")["conversation_id"]
        return [_patch(session, emu, cid, headers).status_code for _ in range(30)]

    first, second = run(), run()
    assert first == second
    assert {200, 500} == set(first)


def test_configure_rejects_bad_values(emulator: MoveworksEmulator) -> None:
    with pytest.raises(ValueError, match="error_rate"):
        emulator.configure(error_rate=1.5)
    with pytest.raises(TypeError):
        emulator.configure(no_such_knob=1)
    assert emulator.fault_config == FaultConfig()


def test_faults_can_be_configured_over_http(session: requests.Session, emulator: MoveworksEmulator) -> None:
    response = session.post(f"{emulator.url}/_emulator/faults", json={"error_rate": 0.25})
    assert response.status_code == 200
    assert response.json()["error_rate"] == 0.25
    assert emulator.fault_config.error_rate == 0.25
    bad = session.post(f"{emulator.url}/_emulator/faults", json={"error_rate": 2})
    assert bad.status_code == 400


def test_assistant_header_name_is_case_insensitive(
    session: requests.Session, emulator: MoveworksEmulator, headers: dict[str, str], cid: str
) -> None:
    lower = {"authorization": headers["Authorization"], "assistant-name": ASSISTANT}
    assert _patch(session, emulator, cid, lower).status_code == 200


@pytest.mark.parametrize("name", ["latency", "jitter", "slow_seconds"])
@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (float("inf"), "must be a finite number of seconds from 0 to 3600, got inf"),
        (float("nan"), "must be a finite number of seconds from 0 to 3600, got nan"),
        (1e308, "must be at most 3600 seconds, got 1e+308"),
        (3600.5, "must be at most 3600 seconds, got 3600.5"),
        (True, "must be a number of seconds, got bool"),
    ],
)
def test_configure_refuses_a_delay_that_is_not_finite_or_above_the_maximum(
    emulator: MoveworksEmulator, name: str, value: float, problem: str
) -> None:
    # An endless delay made every API request end in an empty reply, with nothing logged.
    expected = f"^{re.escape(f'{name} {problem}')}$"
    with pytest.raises(ValueError, match=expected):
        emulator.configure(**{name: value})
    with pytest.raises(ValueError, match=expected):
        FaultConfig(**{name: value})
    assert emulator.fault_config == FaultConfig()


@pytest.mark.parametrize("name", ["latency", "jitter", "slow_seconds"])
def test_a_delay_of_exactly_the_maximum_is_accepted(emulator: MoveworksEmulator, name: str) -> None:
    from airflow_provider_moveworks.emulator.faults import MAX_DELAY_SECONDS

    assert MAX_DELAY_SECONDS == 3600
    assert getattr(emulator.configure(**{name: 3600}), name) == 3600


def test_a_rate_limit_that_is_not_a_finite_number_is_refused(emulator: MoveworksEmulator) -> None:
    for value in (float("nan"), float("inf")):
        with pytest.raises(ValueError, match=r"^rate_limit must be a finite number of requests per second"):
            emulator.configure(rate_limit=value)
    assert emulator.fault_config.rate_limit is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"latency": 1e308}', "latency must be at most 3600 seconds, got 1e+308"),
        (b'{"jitter": 1e999}', "jitter must be a finite number of seconds from 0 to 3600, got inf"),
        (b'{"slow_seconds": Infinity}', "slow_seconds must be a finite number of seconds from 0 to 3600"),
        (b'{"latency": NaN}', "latency must be a finite number of seconds from 0 to 3600, got nan"),
    ],
)
def test_the_faults_endpoint_answers_400_to_an_endless_delay(
    session: requests.Session, emulator: MoveworksEmulator, body: bytes, message: str
) -> None:
    response = session.post(
        f"{emulator.url}/_emulator/faults", data=body, headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "INVALID_INPUT"
    assert response.json()["error"]["message"].startswith(message)
    assert emulator.fault_config == FaultConfig()
