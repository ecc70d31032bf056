"""The per-attempt deadline: once the request is out, a socket in use when time is up is shut
down, which ends a blocked read at once; a request is never cut in half; a finished attempt is
left alone; a forked process gets a watchdog of its own."""

from __future__ import annotations

import os
import socket
import time

from airflow_provider_moveworks.client.deadline import AttemptDeadline, current_deadline


def blocked_read_ends(seconds: float) -> tuple[bytes, bool]:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        ours.settimeout(10)  # far beyond the deadline: only the watchdog can end the read early
        with AttemptDeadline(seconds) as deadline:
            deadline.start()
            deadline.use(ours)
            deadline.request_sent()
            data = ours.recv(1)
        return data, deadline.expired


def test_a_blocked_read_ends_when_the_attempt_is_out_of_time() -> None:
    assert blocked_read_ends(0.2) == (b"", True)


def test_a_finished_attempt_is_not_touched() -> None:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        with AttemptDeadline(0.05) as deadline:
            deadline.start()
            deadline.use(ours)
            deadline.request_sent()
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


def test_the_clock_starts_with_the_first_network_step() -> None:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        ours.settimeout(10)
        with AttemptDeadline(0.3) as deadline:
            time.sleep(0.5)  # a thread waiting for its turn before it touches the network
            deadline.start()
            deadline.use(ours)
            theirs.sendall(b"x")
            assert ours.recv(1) == b"x"
        assert not deadline.expired


def test_a_request_is_never_cut_in_half_and_is_ended_once_out() -> None:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        with AttemptDeadline(30) as deadline:
            deadline.use(ours)
            deadline.expire()  # time is up while the request is still being written
            ours.sendall(b"PATCH /x HTTP/1.1\r\n\r\n")  # so the rest still goes out
            deadline.request_sent()  # and then the attempt ends
            assert ours.recv(1) == b""
        assert theirs.recv(100) == b"PATCH /x HTTP/1.1\r\n\r\n"
        assert deadline.expired
