"""Fault soak: 20,000 updates through the bulk operator against an emulator that fails 10% of
requests with 500, drops 2% of connections, answers 1% after the client's timeout (having
applied the change), and rate-limits per credential.

About 429s: the emulator has no "share of 429s" knob, only a per-credential token bucket
(``rate_limit``), so 429s are produced the way a real server produces them: by going over the
limit. Whether a machine outruns that limit depends on its speed, so the test also makes the
server throttle on its own schedule: every ``THROTTLE_EVERY``-th request the emulator sees is
answered 429 with ``Retry-After: 1`` whatever the rate (a few episodes per run, on any machine).
The operator's adaptive limiter backs off on the first 429 of an episode and waits out
``Retry-After``, so only a handful of 429s per run reach it (about 0.1% of the requests, not 5%).
Forcing a flat 5% of 429s regardless of the rate is not a useful soak: the limiter reads every
429 as "too fast" and cuts its rate by 15% per episode, so the run collapses to a few requests
per second (measured: ~2-8 rows/s instead of ~800) and cannot finish in minutes.

Afterwards every figure is checked exactly against the emulator's own counters:

* every row updated once, each in the report exactly once, and the emulator's state is the
  requested one for every conversation;
* the hook counted every attempt the emulator saw (dropped connections and late answers
  included): ``requests == emulator total``;
* every attempt beyond the first of a row is a retry: ``requests == rows + retries``;
* every 429 the emulator sent reached the hook: ``throttled == emulator 429s``;
* the emulator answered 200 once per row, plus once per attempt the client timed out on after
  the emulator had applied it (each slow reply is one such; CPU stalls may add a few).
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections import Counter

import pytest

from airflow_provider_moveworks.emulator import MoveworksEmulator
from airflow_provider_moveworks.emulator.faults import Decision
from tests.conftest import API_KEY, ASSISTANT
from tests.reliability.conftest import bulk_operator, define_connection, read_report, settle

pytestmark = [pytest.mark.soak, pytest.mark.integration, pytest.mark.timeout(600)]

ROWS = 20_000
MAX_CONCURRENCY = 24
TIMEOUT = 0.5  # the connection's per-request timeout
SLOW_SECONDS = 1.0  # longer than TIMEOUT: every slow reply is a client timeout
RATE_LIMIT = 400  # requests/second per credential; bounds the run to about a minute
THROTTLE_EVERY = 5_000  # the server's own throttling episodes: requests 5,000, 10,000...
FAULTS = {
    "error_rate": 0.10,
    "drop_rate": 0.02,
    "slow_rate": 0.01,
    "slow_seconds": SLOW_SECONDS,
    "rate_limit": RATE_LIMIT,
    "retry_after": True,
}
ITEM = "/conversations/{id}"


def _requested(n: int, cid: str) -> dict[str, object]:
    """Row ``n``: a new title, a new archived flag, or both (a third each)."""
    if n % 3 == 0:
        return {"conversation_id": cid, "title": f"Soaked {n}"}
    if n % 3 == 1:
        return {"conversation_id": cid, "archived": n % 2 == 1}
    return {"conversation_id": cid, "title": f"Soaked {n} \u2713", "archived": n % 4 == 2}


def test_bulk_update_survives_a_fault_soak_with_exact_accounting(tmp_path, monkeypatch, capsys):
    with MoveworksEmulator(api_keys=(API_KEY,), assistant_name=ASSISTANT, random_seed=20_000) as emu:
        # Conversations are created straight in the store: no HTTP, not counted.
        created = [emu.add_conversation(title=f"Old {n}", archived=n % 5 == 0) for n in range(ROWS)]
        ids = [conversation["conversation_id"] for conversation in created]
        expected = {}
        updates_file = tmp_path / "updates.jsonl"
        with updates_file.open("w", encoding="utf-8") as stream:
            for n, cid in enumerate(ids):
                row = _requested(n, cid)
                stream.write(json.dumps(row) + "\n")
                expected[cid] = (row.get("title", f"Old {n}"), row.get("archived", n % 5 == 0))

        # Count the replies the emulator will send late (slow and neither dropped nor failed):
        # the client times out on each after the change was applied. And throttle on the
        # test's schedule, so that 429s do not depend on the machine outrunning RATE_LIMIT.
        late = Counter()
        decide = emu.fault_injector.decide
        decisions = itertools.count(1)
        lock = threading.Lock()

        def observed(label: str) -> Decision:
            with lock:
                number = next(decisions)
            if number % THROTTLE_EVERY == 0:
                with lock:
                    late["forced_429s"] += 1
                return Decision(retry_after=1)
            decision = decide(label)
            if decision.slow and not (decision.drop or decision.error or decision.rate_limited):
                with lock:
                    late["replies"] += 1
            return decision

        monkeypatch.setattr(emu.fault_injector, "decide", observed)
        emu.configure(**FAULTS)
        define_connection(
            monkeypatch,
            host=emu.base_url,
            password=API_KEY,
            extra={"assistant_name": ASSISTANT, "timeout": TIMEOUT, "max_retries": 5},
        )
        report = tmp_path / "report.jsonl"
        sleeps: list[float] = []
        operator = bulk_operator(
            sleeps,
            updates_file=str(updates_file),
            max_concurrency=MAX_CONCURRENCY,
            retry_passes=2,
            report_file=str(report),
        )

        started = time.monotonic()
        summary = operator.execute({})
        wall = time.monotonic() - started

        seen = settle(emu, summary["requests"], timeout=SLOW_SECONDS + 5)
        counters = emu.counters()
        state = {cid: (conv["title"], conv["archived"]) for cid, conv in emu.conversations().items()}
        by_status = Counter()
        for (method, route, status, credential), count in counters.items():
            assert (method, route, credential) == ("PATCH", ITEM, "api_key:1")
            by_status[status] += count

    ok, errors, throttled, dropped = (by_status[s] for s in (200, 500, 429, "dropped"))
    timed_out_after_apply = ok - ROWS
    figures = {
        "rows": ROWS,
        "requests": summary["requests"],
        "retries": summary["retries"],
        "throttled": summary["throttled"],
        "500s": errors,
        "dropped": dropped,
        "slow": late["replies"],
        "forced_429s": late["forced_429s"],
        "other_timeouts": timed_out_after_apply - late["replies"],
        "hook_waits_skipped": len(sleeps),
        "wall_s": round(wall, 1),
        "rows_per_s": round(ROWS / wall),
    }
    print("\nfault soak:", json.dumps(figures))
    with capsys.disabled():
        print("\nSOAK fault_soak " + " ".join(f"{key}={value}" for key, value in figures.items()))

    # Every row updated, once.
    assert {key: summary[key] for key in ("total", "updated", "not_found", "failed", "invalid")} == {
        "total": ROWS,
        "updated": ROWS,
        "not_found": 0,
        "failed": 0,
        "invalid": 0,
    }
    assert summary["duplicates"] == 0
    assert summary["failures"] == []
    lines = read_report(report)
    assert len(lines) == ROWS
    assert sorted(line["row"] for line in lines) == list(range(1, ROWS + 1))
    assert {line["outcome"] for line in lines} == {"updated"}
    assert all(line["conversation_id"] == ids[line["row"] - 1] for line in lines)

    # The emulator holds exactly the requested state, and nothing else.
    assert state == expected

    # The summary's counters against the emulator's, exactly.
    assert set(by_status) <= {200, 500, 429, "dropped"}
    assert seen == summary["requests"] == sum(by_status.values())
    assert summary["requests"] == ROWS + summary["retries"]
    assert summary["throttled"] == throttled
    assert errors > 0
    assert dropped > 0
    assert late["forced_429s"] >= ROWS // THROTTLE_EVERY
    assert throttled >= late["forced_429s"]
    # Each slow reply was a timeout the client retried after the emulator had applied it.
    assert late["replies"] > 0
    assert timed_out_after_apply >= late["replies"]
    # Failed attempts seen by the client = failed attempts seen by the emulator.
    assert summary["retries"] == errors + throttled + dropped + timed_out_after_apply
