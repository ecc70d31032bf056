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


@pytest.fixture
def emulator(make_emulator: EmulatorFactory) -> MoveworksEmulator:
    """A running emulator with no conversations and no faults."""
    return make_emulator()


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
