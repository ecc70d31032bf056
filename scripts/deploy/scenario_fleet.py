"""The fleet scenario: two DAGs on one Moveworks account at once, paced by today's static split and
by the rate budget shared through Redis, side by side; then the shared budget losing its Redis.

The sharded-archive example splits 8,000 rows into 4 shards of 55/15/15/15% (the conversations
are picked by the DAG's own shard rule), while the deploy-only retitle DAG updates 1,000 other
conversations on the same connection:

1. static: each shard at limit / pool slots (50/s), the retitle job at 50/s of its own. The small
   shards end early and leave their share unused; while all run, the account is asked for 250/s.
2. shared: every task takes its requests from one budget of the account's 200/s. It must reach
   at least 190 updates/s with at most 0.5% of PATCHes answered 429.
3. Redis lost: a shared run of a quarter of those rows, during which the budget's Redis is
   SIGKILLed once a quarter of them are updated and started again, empty, 3 s later. No task may
   fail or retry, every row must be updated exactly once, and shard 0 (which runs through it all)
   must log that it paced itself alone and then rejoined the budget.

Every run checks what the equal-shards run that the static run replaced did: both DAG runs
succeed with no task retried, the shards ran on both workers, the emulator ends exactly as asked,
every row is reported once, and the emulator answered exactly one successful PATCH per row (and
nothing but 200 and 429). Throughput is the successful PATCHes of both DAGs over the time from the
first PATCH to the last (the emulator's clock).
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis
from deployment import (
    ACCOUNT_LIMIT,
    DAG_ID,
    RETITLE_DAG_IDS,
    SHARDS,
    WORKERS,
    Deployment,
)
from stack import DeployError, wait_for

from airflow_provider_moveworks.bulk.shared_budget import KEY_PREFIX

SKEW = (0.55, 0.15, 0.15, 0.15)  # each shard's share of the example's rows
EXAMPLE_ROWS, RETITLE_ROWS = 8000, 1000
STATIC_MAX_THROTTLED = 0.05  # the share of 429s the static split may see (as this test always allowed)
SHARED_MIN_RATE = 190.0  # updates/s the shared budget must reach (95% of the account's limit)
SHARED_MAX_THROTTLED = 0.005  # the share of PATCHes it may see answered 429
LOST_REDIS_PART = 4  # the Redis-lost run updates this fraction (1/4) of the rows
KILL_AFTER = 0.25  # the Redis-lost run kills Redis once this share of its rows is updated
REDIS_DOWN_SECONDS = 3.0
# The operator's log lines: joining the shared budget, leaving it, and joining it again.
PACING_LINE = "Pacing by the rate budget"
FELL_BACK_LINE = "Redis did not answer"
REJOINED_LINE = "Redis answers again"


def shard_of(conversation_id: str) -> int:
    """The example DAG's rule (``shard_of`` there): crc32 of the id, modulo the shard count."""
    return zlib.crc32(conversation_id.encode()) % SHARDS


@dataclass
class Measured:
    rows: int
    throttled: int
    window: float  # seconds from the first PATCH to the last
    seconds: float  # the whole scenario: export, runs, checks

    @property
    def rate(self) -> float:
        return self.rows / self.window

    @property
    def throttled_share(self) -> float:
        return self.throttled / (self.rows + self.throttled)

    def __str__(self) -> str:
        return (
            f"{self.rate:.0f} updates/s ({self.rows} over {self.window:.1f} s), "
            f"429s {self.throttled} of {self.rows + self.throttled} PATCHes ({self.throttled_share:.2%}); "
            f"scenario {self.seconds:.0f} s"
        )


class Fleet:
    def __init__(self, deployment: Deployment) -> None:
        self.deployment = deployment
        state = deployment.emulator_get("/state")["conversations"]
        by_shard: list[list[dict[str, Any]]] = [[] for _ in range(SHARDS)]
        for cid in sorted(state):
            by_shard[shard_of(cid)].append(state[cid])
        self.sizes = [round(EXAMPLE_ROWS * share) for share in SKEW]
        for shard, (have, want) in enumerate(zip(by_shard, self.sizes, strict=True)):
            if len(have) < want:
                raise DeployError(f"shard {shard} has {len(have)} seeded conversations, {want} wanted")
        self.example = [c for have, want in zip(by_shard, self.sizes, strict=True) for c in have[:want]]
        # The rest in id order, so that any slice spreads evenly over the shards.
        rest = sorted(
            (c for have, want in zip(by_shard, self.sizes, strict=True) for c in have[want:]),
            key=lambda c: c["conversation_id"],
        )
        self.retitle, self.spare = rest[:RETITLE_ROWS], rest[RETITLE_ROWS:]
        self.measured: dict[str, Measured] = {}

    def run_static(self) -> dict[str, str]:
        measured = self._run("static", shared=False)
        # The split overbooks the account by the retitle job's rate while all run; each task's own
        # limiter backs off on a 429, so few are answered so.
        assert measured.throttled_share <= STATIC_MAX_THROTTLED, (
            f"static split: {measured.throttled_share:.2%} of PATCHes answered 429 ({measured})"
        )
        return self._figures("static", measured)

    def run_shared(self) -> dict[str, str]:
        measured = self._run("shared", shared=True)
        assert measured.rate >= SHARED_MIN_RATE, (
            f"shared budget: {measured.rate:.0f} updates/s, under {SHARED_MIN_RATE:.0f} ({measured})"
        )
        assert measured.throttled_share <= SHARED_MAX_THROTTLED, (
            f"shared budget: {measured.throttled_share:.2%} of PATCHes answered 429, over "
            f"{SHARED_MAX_THROTTLED:.1%} ({measured})"
        )
        return self._figures("shared", measured)

    def side_by_side(self) -> dict[str, str]:
        static, shared = self.measured["static"], self.measured["shared"]
        return {
            "fleet static vs shared": (
                f"{static.rate:.0f} vs {shared.rate:.0f} updates/s, "
                f"429s {static.throttled_share:.2%} vs {shared.throttled_share:.2%} "
                f"(account limit {ACCOUNT_LIMIT:.0f}/s)"
            )
        }

    def survive_lost_redis(self) -> dict[str, str]:
        """A shared run of a quarter of the rows; the budget's Redis is killed mid-run, then restarted."""
        part = [c for n in range(SHARDS) for c in self._of_shard(n)[: self.sizes[n] // LOST_REDIS_PART]]
        retitle = self.retitle[: RETITLE_ROWS // LOST_REDIS_PART]
        lost: dict[str, Any] = {}

        def kill_redis(total: int) -> None:
            deployment = self.deployment
            updated = lambda: deployment.counts().get(200, 0) >= total * KILL_AFTER  # noqa: E731
            wait_for("a quarter of the rows to be updated", updated, 120, deployment.stack, interval=0.2)
            lost["updated"] = deployment.counts().get(200, 0)
            deployment.stack.kill("redis-rate-limit")
            print(f"SIGKILLed the rate budget's Redis after {lost['updated']} of {total} rows")
            time.sleep(REDIS_DOWN_SECONDS)
            deployment.restart_rate_limit_redis()
            budget = redis.Redis(host="127.0.0.1", port=deployment.rate_limit_port)
            rejoined = lambda: bool(budget.keys(KEY_PREFIX + "*"))  # noqa: E731
            lost["rejoined"] = wait_for("a task to rejoin the budget", rejoined, 30, deployment.stack, 0.2)

        measured = self._run("redis_lost", True, part, retitle, kill_redis)
        logs = self._logs("redis_lost", shared=True)
        fell_back = sorted(name for name, text in logs.items() if FELL_BACK_LINE in text)
        rejoined = sorted(name for name, text in logs.items() if REJOINED_LINE in text)
        # Shard 0 holds 55% of the rows: it runs from before the kill (at 25%) to after the restart.
        assert "shard 0" in fell_back, f"shard 0 did not log {FELL_BACK_LINE!r} (these did: {fell_back})"
        assert "shard 0" in rejoined, f"shard 0 did not log {REJOINED_LINE!r} (these did: {rejoined})"
        return {
            "fleet Redis lost": (
                f"{len(part)} + {len(retitle)} rows; Redis SIGKILLed after {lost['updated']} updated, "
                f"back {REDIS_DOWN_SECONDS:.0f} s later, a task in the budget again "
                f"{lost['rejoined']:.1f} s after that; fell back: {fell_back}; rejoined: {rejoined}; "
                f"no task failed, every row updated once; {measured}"
            )
        }

    # -- one run of both DAGs ------------------------------------------------------------------------

    def _of_shard(self, shard: int) -> list[dict[str, Any]]:
        return [c for c in self.example if shard_of(c["conversation_id"]) == shard]

    def _run(
        self,
        name: str,
        shared: bool,
        example: list[dict[str, Any]] | None = None,
        retitle: list[dict[str, Any]] | None = None,
        during: Callable[[int], None] | None = None,
    ) -> Measured:
        began = time.monotonic()
        deployment = self.deployment
        example = self.example if example is None else example
        retitle = self.retitle if retitle is None else retitle
        before = deployment.emulator_get("/state")["conversations"]
        export, asked = deployment.write_export(name, example)
        updates, retitle_asked = deployment.write_retitle(name, retitle)
        deployment.reset_counters()
        run_id = f"deploy_{name}"
        deployment.trigger(run_id, export, shared)

        # The retitle job starts once every shard has started, so that the two DAGs overlap.
        def shards_started() -> bool:
            return len([s for s in deployment.shards(run_id) if s[4] is not None]) == SHARDS

        wait_for(f"the shards of {run_id} to start", shards_started, 120, deployment.stack, interval=0.5)
        deployment.trigger_retitle(run_id, updates, shared)
        if during is not None:
            during(len(example) + len(retitle))
        deployment.wait_for_run(run_id, timeout=240)
        deployment.wait_for_run(run_id, timeout=120, dag_id=RETITLE_DAG_IDS[shared])

        for dag_id in (DAG_ID, RETITLE_DAG_IDS[shared]):
            unclean = [t for t in deployment.tasks(dag_id, run_id) if t[2:4] != ("success", 1)]
            assert not unclean, f"{dag_id} {run_id}: tasks failed or retried: {unclean}"
        hosts = sorted({host for _, _, host, *_ in deployment.shards(run_id)})
        assert hosts == sorted(WORKERS), f"{run_id}: shards ran on {hosts}, not on both workers"
        split = deployment.task_log(DAG_ID, run_id, "split_export")
        sizes = [len([c for c in example if shard_of(c["conversation_id"]) == n]) for n in range(SHARDS)]
        assert f"into {SHARDS} shards: {sizes}" in split, f"{run_id}: the split was not {sizes}"
        self._check_pacing(name, shared)
        deployment.check_state(before, {**asked, **retitle_asked})
        deployment.check_reports(run_id, asked)
        deployment.check_retitle_report(run_id, retitle_asked)
        counts = deployment.counts()
        rows = len(asked) + len(retitle_asked)
        assert counts.get(200, 0) == rows, (
            f"{run_id}: {counts.get(200, 0)} successful PATCHes for {rows} rows"
        )
        assert set(counts) <= {200, 429}, f"{run_id}: PATCHes answered {counts}"
        measured = Measured(rows, counts.get(429, 0), deployment.patch_window(), time.monotonic() - began)
        self.measured[name] = measured
        return measured

    def _logs(self, name: str, shared: bool) -> dict[str, str]:
        """Each bulk task's log in a run: the shards and the retitle task."""
        deployment, run_id = self.deployment, f"deploy_{name}"
        logs = {f"shard {n}": deployment.task_log(DAG_ID, run_id, "archive_shard", n) for n in range(SHARDS)}
        logs["retitle"] = deployment.task_log(RETITLE_DAG_IDS[shared], run_id, "retitle")
        return logs

    def _check_pacing(self, name: str, shared: bool) -> None:
        """Every bulk task of a shared run paced itself by the budget; none of a static run did."""
        joined = {task: PACING_LINE in text for task, text in self._logs(name, shared).items()}
        wrong = sorted(task for task, did in joined.items() if did != shared)
        how = "lack" if shared else "have"
        assert not wrong, f"{name}: {wrong} {how} the line {PACING_LINE!r} (shared budget: {shared})"

    def _figures(self, name: str, measured: Measured) -> dict[str, str]:
        shards = self.deployment.shards(f"deploy_{name}")
        per_host = {host: sorted(m for m, _, h, *_ in shards if h == host) for host in WORKERS}
        return {
            f"fleet {name}": (
                f"{len(self.example)} rows in shards of {self.sizes} + {len(self.retitle)} retitled; "
                f"shards by worker {per_host}; {measured}"
            )
        }
