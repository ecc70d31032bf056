"""The scenarios on the Celery workers themselves.

1. ``run_on_both_workers``: a run over 5,000 conversations: the shards must run on both workers,
   the emulator must end exactly as the export asks, every row must be reported once, and the
   shards together must stay within the account's limit with at most 5% 429s.
2. ``survive_a_killed_worker``: a run over 2,000 more, during which ``worker-a`` is SIGKILLed
   while it runs a shard: the scheduler must find the task lost (heartbeat timeout), the retry
   must run on ``worker-b`` and resume from the progress the killed try kept in the task state
   store (in PostgreSQL): only about a second's worth of rows, plus those in flight, may be sent
   twice. The emulator must again end exactly as asked, every row reported once.
"""

from __future__ import annotations

import time
from typing import Any

from deployment import (
    ACCOUNT_LIMIT,
    DAG_ID,
    FIRST_ROWS,
    MAX_CONCURRENCY,
    POOL_SLOTS,
    SECOND_ROWS,
    SHARDS,
    WORKERS,
    Deployment,
)
from stack import wait_for


def run_on_both_workers(deployment: Deployment) -> dict[str, Any]:
    state = deployment.emulator_get("/state")["conversations"]
    ordered = sorted(state.values(), key=lambda c: c["conversation_id"])
    deployment.second_batch = ordered[FIRST_ROWS:]
    export, asked = deployment.write_export("first", ordered[:FIRST_ROWS])
    deployment.reset_counters()
    run_id = "deploy_first"
    deployment.trigger(run_id, export)
    deployment.wait_for_run(run_id, timeout=150)

    shards = deployment.shards(run_id)
    hosts = sorted({host for _, _, host, _, _, _ in shards})
    assert hosts == sorted(WORKERS), f"shards ran on {hosts}, not on both workers"
    deployment.check_state(state, asked)
    deployment.check_reports(run_id, asked)
    counts = deployment.counts()
    ok, throttled = counts.get(200, 0), counts.get(429, 0)
    assert ok == FIRST_ROWS, f"{ok} successful PATCHes for {FIRST_ROWS} rows"
    window = (max(end for *_, end in shards) - min(start for *_, start, _ in shards)).total_seconds()
    rate = ok / window
    share = throttled / (ok + throttled)
    assert rate <= ACCOUNT_LIMIT * 1.05, f"{rate:.0f} updates/s over a limit of {ACCOUNT_LIMIT:.0f}"
    assert share <= 0.05, f"{share:.1%} of PATCHes answered 429"
    per_host = {host: sorted(m for m, _, h, *_ in shards if h == host) for host in hosts}
    deployment.before_second = deployment.emulator_get("/state")["conversations"]
    return {
        "run 1": f"{FIRST_ROWS} rows in {SHARDS} shards, shards by worker {per_host}",
        "run 1 rate": f"{rate:.0f} updates/s over {window:.1f} s (limit {ACCOUNT_LIMIT:.0f}/s)",
        "run 1 429s": f"{throttled} of {ok + throttled} PATCHes ({share:.2%})",
    }


def survive_a_killed_worker(deployment: Deployment) -> dict[str, Any]:
    export, asked = deployment.write_export("second", deployment.second_batch)
    deployment.reset_counters()
    run_id = "deploy_kill"
    deployment.trigger(run_id, export)
    victim, survivor = WORKERS

    def victim_is_busy() -> bool:
        running = [s for s in deployment.shards(run_id) if s[1] == "running" and s[2] == victim]
        # Killed once its shards have sent a good share of their rows, well before the end.
        return bool(running) and deployment.counts().get(200, 0) >= SECOND_ROWS // 4

    wait_for(f"a shard running on {victim}", victim_is_busy, 90, deployment.stack, interval=0.2)
    killed = [m for m, state, host, *_ in deployment.shards(run_id) if state == "running" and host == victim]
    sent_before_kill = deployment.counts().get(200, 0)
    deployment.stack.kill(victim)
    killed_at = time.monotonic()
    print(f"SIGKILLed {victim} while it ran shards {killed} ({sent_before_kill} rows updated so far)")

    def retried() -> bool:
        return all(t >= 2 for m, _, _, t, *_ in deployment.shards(run_id) if m in killed)

    detected = wait_for("the scheduler to retry the lost shards", retried, 90, deployment.stack, interval=0.5)
    deployment.wait_for_run(run_id, timeout=120)
    recovered = time.monotonic() - killed_at

    shards = {m: (state, host, tries) for m, state, host, tries, *_ in deployment.shards(run_id)}
    for index in killed:
        state, host, tries = shards[index]
        assert (state, host) == ("success", survivor), f"shard {index}: {state} on {host} (try {tries})"
    history = deployment.sql(
        "SELECT map_index, try_number, state, hostname FROM task_instance_history "
        "WHERE dag_id = %s AND run_id = %s AND task_id = 'archive_shard' ORDER BY map_index, try_number",
        DAG_ID,
        run_id,
    )
    lost = {(m, host) for m, _, state, host in history if m in killed}
    assert lost == {(m, victim) for m in killed}, f"history of the killed shards: {history}"
    deployment.check_state(deployment.before_second, asked)
    summary = deployment.check_reports(run_id, asked)
    counts = deployment.counts()
    resent = counts.get(200, 0) - SECOND_ROWS
    # The retry resumes from the progress the killed try saved in the task state store (in
    # PostgreSQL, saved every second): only the rows of its last second, and those in flight,
    # are sent again. Bounded with a second of slack for a loaded machine.
    shard_rate = ACCOUNT_LIMIT / POOL_SLOTS
    bound = len(killed) * (2 * shard_rate + MAX_CONCURRENCY)
    assert 0 <= resent <= bound, f"{resent} rows re-sent, more than {bound:.0f}"
    resumed = summary["resumed"]
    assert resumed > 0, "no row was resumed from the killed try's progress"
    return {
        "run 2": f"{victim} SIGKILLed running shards {killed}, after {sent_before_kill} rows updated",
        "run 2 recovery": (
            f"retries started {detected:.0f} s after the kill, on {survivor}; "
            f"run done {recovered:.0f} s after it"
        ),
        "run 2 re-sent rows": (
            f"{resent} (PATCHes answered 200 beyond the {SECOND_ROWS} rows; one second of the "
            f"killed shards is {len(killed) * shard_rate:.0f} rows, in flight up to "
            f"{len(killed) * MAX_CONCURRENCY}); {resumed} rows resumed from the task state store"
        ),
    }
