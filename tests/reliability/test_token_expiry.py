"""OAuth token expiry during a ~30 s bulk run: tokens living 5 s are refreshed about once per
lifetime by the whole run (not once per request or per worker thread), and no request is ever
sent with an expired token.

The hook refreshes a token once less than min(60 s, half its lifetime) is left, i.e. 2.5 s
after it was asked for when the lifetime is 5 s: a run of D seconds asks for about D / 2.5 + 1
tokens. Since every refresh happens 2.5 s before the emulator would refuse the token, and the
emulator checks the token when the request arrives (milliseconds after the hook attached it), no
request can meet an expired token: zero 401s is asserted, not tolerated.
"""

from __future__ import annotations

import json
import time
from collections import Counter

import pytest

from airflow_provider_moveworks.emulator import MoveworksEmulator
from tests.conftest import ASSISTANT, CLIENT_ID, CLIENT_SECRET
from tests.reliability.conftest import bulk_operator, define_connection, read_report, settle

pytestmark = [pytest.mark.soak, pytest.mark.integration, pytest.mark.timeout(300)]

TOKEN_TTL = 5.0
REFRESH_EVERY = TOKEN_TTL / 2  # min(60, ttl / 2) before expiry
RATE = 100.0  # max_requests_per_second: the run lasts ROWS / RATE seconds
ROWS = 3_000
MAX_CONCURRENCY = 8
LATENCY = 0.02  # per API response, so that several requests are in flight at a time


def test_tokens_are_refreshed_once_per_lifetime_during_a_long_bulk_run(tmp_path, monkeypatch, capsys):
    with MoveworksEmulator(
        api_keys=(),
        clients={CLIENT_ID: CLIENT_SECRET},
        assistant_name=ASSISTANT,
        token_ttl=TOKEN_TTL,
        latency=LATENCY,
        random_seed=5,
    ) as emu:
        ids = [emu.add_conversation(title=f"Old {n}")["conversation_id"] for n in range(ROWS)]
        # Odd rows get a new title, even rows are archived.
        updates = [
            {"conversation_id": cid, **({"title": f"New {n}"} if n % 2 else {"archived": True})}
            for n, cid in enumerate(ids)
        ]
        define_connection(
            monkeypatch,
            host=emu.base_url,
            login=CLIENT_ID,
            password=CLIENT_SECRET,
            extra={"assistant_name": ASSISTANT, "token_url": emu.token_url},
        )
        report = tmp_path / "report.jsonl"
        sleeps: list[float] = []
        operator = bulk_operator(
            sleeps,
            updates=updates,
            max_concurrency=MAX_CONCURRENCY,
            max_requests_per_second=RATE,
            report_file=str(report),
        )

        started = time.monotonic()
        summary = operator.execute({})
        duration = time.monotonic() - started

        settle(emu, summary["requests"], timeout=2)
        counters = emu.counters()
        token_requests = emu.token_requests
        tokens_issued = emu.tokens_issued
        patches = emu.request_count(method="PATCH")
        unauthorized = emu.request_count(status=401)
        state = {cid: (conv["title"], conv["archived"]) for cid, conv in emu.conversations().items()}

    figures = {
        "rows": ROWS,
        "requests": summary["requests"],
        "patches": patches,
        "token_requests": token_requests,
        "expected_tokens": round(duration / REFRESH_EVERY + 1, 1),
        "401s": unauthorized,
        "retries": summary["retries"],
        "wall_s": round(duration, 1),
    }
    print("\ntoken expiry:", json.dumps(figures))
    with capsys.disabled():
        print("\nSOAK token_expiry " + " ".join(f"{key}={value}" for key, value in figures.items()))

    # No failed row: every row updated, once.
    assert summary["updated"] == summary["total"] == ROWS
    assert summary["failures"] == []
    assert sorted(line["row"] for line in read_report(report)) == list(range(1, ROWS + 1))
    assert state == {cid: (f"New {n}", False) if n % 2 else (f"Old {n}", True) for n, cid in enumerate(ids)}

    # The run really spanned several token lifetimes.
    assert duration >= 5 * TOKEN_TTL

    # No request met an expired token, nothing was retried, and every request succeeded.
    assert unauthorized == 0
    assert summary["retries"] == 0
    assert patches == ROWS
    by_route = Counter()
    for (method, route, status, credential), count in counters.items():
        assert status == 200
        assert credential == f"client:{CLIENT_ID}"
        by_route[method, route] += count
    assert by_route == {("PATCH", "/conversations/{id}"): ROWS, ("POST", "/oauth/v1/token"): token_requests}

    # One token per lifetime for the whole run, not one per request or per thread.
    assert token_requests == tokens_issued
    assert duration / (2 * REFRESH_EVERY) <= token_requests <= duration / REFRESH_EVERY + 3
    assert token_requests * 50 < patches

    # The hook counts its token requests as requests too: the emulator saw exactly as many.
    assert summary["requests"] == patches + token_requests
