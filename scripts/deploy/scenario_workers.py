"""The killed-worker scenario: a run of the sharded example over 2,000 conversations (static
split), during which ``worker-a`` is SIGKILLed while it runs a shard: the scheduler must find the
task lost (heartbeat timeout), the retry must run on ``worker-b`` and resume from the progress the
killed try kept in the task state store (in PostgreSQL): only about a second's worth of rows, plus
those in flight, may be sent twice. The emulator must again end exactly as asked, every row
reported once. (The run on both workers is the fleet scenario's, scenario_fleet.py.)
"""

from __future__ import annotations

import time
from typing import Any

from deployment import (
    ACCOUNT_LIMIT,
    DAG_ID,
    MAX_CONCURRENCY,
    POOL_SLOTS,
    WORKERS,
    Deployment,
)
from stack import wait_for


def survive_a_killed_worker(deployment: Deployment, conversations: list[dict[str, Any]]) -> dict[str, Any]:
    """A static-split run over ``conversations`` during which ``worker-a`` is SIGKILLed."""
    began = time.monotonic()
    rows = len(conversations)
    before = deployment.emulator_get("/state")["conversations"]
    export, asked = deployment.write_export("second", conversations)
    deployment.reset_counters()
    run_id = "deploy_kill"
    deployment.trigger(run_id, export, shared=False)  # the re-sent bound below is per static shard
    victim, survivor = WORKERS

    def victim_is_busy() -> bool:
        running = [s for s in deployment.shards(run_id) if s[1] == "running" and s[2] == victim]
        # Killed once its shards have sent a good share of their rows, well before the end.
        return bool(running) and deployment.counts().get(200, 0) >= rows // 4

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
    deployment.check_state(before, asked)
    summary = deployment.check_reports(run_id, asked)
    counts = deployment.counts()
    resent = counts.get(200, 0) - rows
    # The retry resumes from the progress the killed try saved in the task state store (in
    # PostgreSQL, saved every second): only the rows of its last second, and those in flight,
    # are sent again. Bounded with a second of slack for a loaded machine.
    shard_rate = ACCOUNT_LIMIT / POOL_SLOTS
    bound = len(killed) * (2 * shard_rate + MAX_CONCURRENCY)
    assert 0 <= resent <= bound, f"{resent} rows re-sent, more than {bound:.0f}"
    resumed = summary["resumed"]
    assert resumed > 0, "no row was resumed from the killed try's progress"
    return {
        "worker killed": f"{victim} SIGKILLed running shards {killed}, after {sent_before_kill} rows updated",
        "worker killed recovery": (
            f"retries started {detected:.0f} s after the kill, on {survivor}; "
            f"run done {recovered:.0f} s after it"
        ),
        "worker killed re-sent rows": (
            f"{resent} (PATCHes answered 200 beyond the {rows} rows; one second of the "
            f"killed shards is {len(killed) * shard_rate:.0f} rows, in flight up to "
            f"{len(killed) * MAX_CONCURRENCY}); {resumed} rows resumed from the task state store"
        ),
        "worker killed time": f"{time.monotonic() - began:.0f} s",
    }
