"""The per-attempt deadline: a socket in use when time is up is shut down, which ends a blocked
read at once; a finished attempt is left alone; a forked process gets a watchdog of its own."""

from __future__ import annotations

import os
import socket

from airflow_provider_moveworks.client.deadline import AttemptDeadline, current_deadline


def blocked_read_ends(seconds: float) -> tuple[bytes, bool]:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        ours.settimeout(10)  # far beyond the deadline: only the watchdog can end the read early
        with AttemptDeadline(seconds) as deadline:
            deadline.use(ours)
            data = ours.recv(1)
        return data, deadline.expired


def test_a_blocked_read_ends_when_the_attempt_is_out_of_time() -> None:
    assert blocked_read_ends(0.2) == (b"", True)


def test_a_finished_attempt_is_not_touched() -> None:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        with AttemptDeadline(0.05) as deadline:
            deadline.use(ours)
        deadline.expire()  # as the watchdog would, late
        theirs.sendall(b"x")
        assert ours.recv(1) == b"x"
        assert not deadline.expired


def test_deadlines_nest_and_restore_the_outer_one() -> None:
    with AttemptDeadline(30) as outer:
        with AttemptDeadline(30) as inner:
            assert current_deadline() is inner
        assert current_deadline() is outer
    assert current_deadline() is None


def test_a_forked_process_has_a_watchdog_of_its_own() -> None:
    assert blocked_read_ends(0.1)[1]  # the parent's watchdog thread is running
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        os._exit(0 if blocked_read_ends(0.2) == (b"", True) else 1)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
