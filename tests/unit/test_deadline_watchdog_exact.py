"""client/deadline.py's watchdog exactly: one daemon thread for every deadline of the process,
whatever the number of attempts watched."""

from __future__ import annotations

import os
import socket
import threading
import time

import pytest

from airflow_provider_moveworks.client.deadline import AttemptDeadline


def watchdog_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == "moveworks-deadlines"]


def test_one_daemon_watchdog_thread_watches_every_deadline() -> None:
    attempts = [AttemptDeadline(0.05) for _ in range(3)]
    for attempt in attempts:
        with attempt:
            attempt.start()
    fresh = AttemptDeadline(0.05)
    fresh.start()  # not finished: the watchdog expires it
    end = time.monotonic() + 5
    while not fresh.expired and time.monotonic() < end:
        time.sleep(0.01)
    assert fresh.expired
    threads = watchdog_threads()
    assert len(threads) == 1
    assert threads[0].daemon  # never keeps a finished task's process alive


def _cpu_ticks(thread: threading.Thread) -> int:
    with open(f"/proc/self/task/{thread.native_id}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime, in clock ticks


@pytest.mark.skipif(not os.path.exists("/proc/self/task"), reason="reads a thread's CPU time from /proc")
def test_the_watchdog_sleeps_while_nothing_is_due_and_until_the_next_deadline() -> None:
    """It waits on its condition: idle, or with a deadline a second away, it spends no CPU."""
    AttemptDeadline(0.01).start()  # the thread exists
    time.sleep(0.05)
    (thread,) = watchdog_threads()
    before = _cpu_ticks(thread)
    time.sleep(0.5)  # nothing due
    later = AttemptDeadline(5.0)
    later.start()  # due in 5 s: the thread waits for it
    time.sleep(0.5)
    with later:
        pass  # finished: never expired
    assert _cpu_ticks(thread) - before <= 5  # 50 ms of CPU at most in 1 s


def test_a_watchdog_starts_its_thread_once_at_its_first_deadline() -> None:
    from airflow_provider_moveworks.client.deadline import _Watchdog

    before = len(watchdog_threads())
    dog = _Watchdog()  # a fresh one: its first watch() starts its thread (the module's started long ago)
    assert len(watchdog_threads()) == before
    attempts = [AttemptDeadline(5.0) for _ in range(3)]
    for attempt in attempts:
        dog.watch(attempt, time.monotonic() + 0.05)
    end = time.monotonic() + 5
    while not all(attempt.expired for attempt in attempts) and time.monotonic() < end:
        time.sleep(0.01)
    assert all(attempt.expired for attempt in attempts)
    started = [thread for thread in watchdog_threads()][before:]
    assert len(watchdog_threads()) == before + 1
    assert all(thread.daemon for thread in started)


def _is_shut(peer: socket.socket, wait: float = 1.0) -> bool:
    """Whether the other end of ``peer`` was shut down (its reads end at once)."""
    peer.settimeout(wait)
    try:
        return peer.recv(1) == b""
    except TimeoutError:
        return False


def test_a_socket_used_after_the_attempt_was_aborted_is_shut_at_once() -> None:
    ours, peer = socket.socketpair()
    with ours, peer, AttemptDeadline(5.0) as attempt:
        attempt.abort()
        attempt.use(ours)
        assert _is_shut(peer)


def test_a_socket_used_after_expiry_is_shut_once_the_request_is_out_and_not_before() -> None:
    ours, peer = socket.socketpair()
    with ours, peer, AttemptDeadline(5.0) as attempt:
        attempt.expire()  # nothing sent yet: not cut
        attempt.use(ours)
        assert not _is_shut(peer, wait=0.2)
        attempt.request_sent()
        assert _is_shut(peer)
    ours, peer = socket.socketpair()
    with ours, peer, AttemptDeadline(5.0) as attempt:
        attempt.request_sent()
        attempt.expire()
        attempt.use(ours)  # used after both: shut at once
        assert _is_shut(peer)


def test_an_expired_attempt_entering_its_connect_phase_is_shut_at_once() -> None:
    ours, peer = socket.socketpair()
    with ours, peer, AttemptDeadline(5.0) as attempt:
        attempt.use(ours)
        attempt.expire()
        assert not _is_shut(peer, wait=0.2)
        attempt.connect_phase(True)
        assert _is_shut(peer)
