"""Fixtures for the emulator tests: a running emulator, a plain requests session, valid headers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from airflow_provider_moveworks.emulator import MoveworksEmulator

API_KEY = "test-api-key"
API_KEY_2 = "test-api-key-2"
ASSISTANT = "test-assistant"
CLIENT_ID = "test-client"
CLIENT_SECRET = "test-secret"
UUID_RE = r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"

EmulatorFactory = Callable[..., MoveworksEmulator]


@pytest.fixture
def make_emulator() -> Iterator[EmulatorFactory]:
    """Start emulators with the test credentials plus any overrides; all stop at teardown."""
    started: list[MoveworksEmulator] = []

    def factory(**kwargs: Any) -> MoveworksEmulator:
        options: dict[str, Any] = {
            "api_keys": (API_KEY, API_KEY_2),
            "clients": {CLIENT_ID: CLIENT_SECRET},
            "assistant_name": ASSISTANT,
            "random_seed": 0,
        }
        options.update(kwargs)
        emu = MoveworksEmulator(**options).start()
        started.append(emu)
        return emu

    yield factory
    for emu in started:
        emu.stop()


class FakeClock:
    """Monotonic seconds that move only when a test moves them."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    """The emulator's clock for rate limits and token expiry: stopped until the test moves it."""
    return FakeClock()


@pytest.fixture
def emulator(make_emulator: EmulatorFactory, clock: FakeClock) -> MoveworksEmulator:
    """A running emulator with no conversations and no faults, on the test's clock."""
    return make_emulator(clock=clock)


@pytest.fixture
def session() -> Iterator[requests.Session]:
    """A keep-alive session that ignores proxy settings from the environment."""
    with requests.Session() as s:
        s.trust_env = False
        yield s


@pytest.fixture
def headers() -> dict[str, str]:
    """Valid Authorization and Assistant-Name headers."""
    return {"Authorization": f"Bearer {API_KEY}", "Assistant-Name": ASSISTANT}


@pytest.fixture
def conversation(emulator: MoveworksEmulator) -> dict[str, Any]:
    """One conversation created an hour ago."""
    return dict(
        emulator.add_conversation(
            title="Original title", created_at="2025-01-01T10:00:00Z", updated_at="2025-01-01T11:00:00Z"
        )
    )
