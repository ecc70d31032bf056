"""Schemathesis conformance of every operation against conversations-api.openapi.yaml (faults off)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from airflow_provider_moveworks.emulator import MoveworksEmulator

from .conftest import API_KEY, ASSISTANT, EmulatorFactory

# The published description, kept in the repository so that a clone runs this test.
SPEC = Path(__file__).resolve().parent / "spec" / "conversations-api.openapi.yaml"


def _for_id(operation: Any) -> Callable[[str], Any]:
    """A strategy factory that fixes the path id to an existing conversation."""

    def strategy(cid: str) -> Any:
        return operation.as_strategy(
            headers={"Assistant-Name": ASSISTANT}, path_parameters={"conversation_id": cid}
        )

    return strategy


@pytest.mark.integration
def test_every_operation_conforms_to_the_spec(make_emulator: EmulatorFactory) -> None:
    schemathesis = pytest.importorskip("schemathesis", reason="pip install schemathesis")
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
    from schemathesis.checks import (
        content_type_conformance,
        not_a_server_error,
        response_headers_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    emu: MoveworksEmulator = make_emulator(seed_conversations=30)
    known = list(emu.conversations())
    schema = schemathesis.openapi.from_path(str(SPEC))
    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
        response_headers_conformance,
    ]
    auth = {"Authorization": f"Bearer {API_KEY}", "Assistant-Name": ASSISTANT}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 4
    with requests.Session() as session:
        session.trust_env = False
        for operation in operations:
            strategies = [operation.as_strategy(headers={"Assistant-Name": ASSISTANT})]
            if "{conversation_id}" in operation.path:
                # Half the cases hit real conversations, so 200 bodies are validated too.
                strategies.append(st.sampled_from(known).flatmap(_for_id(operation)))

            @given(case=st.one_of(strategies))
            @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
            def check(case: object) -> None:
                response = case.call(base_url=emu.base_url, session=session, headers=auth)  # type: ignore[attr-defined]
                assert response.status_code < 500
                case.validate_response(response, checks=checks, headers=auth)  # type: ignore[attr-defined]

            check()
    assert emu.request_count(status=200) > 0
