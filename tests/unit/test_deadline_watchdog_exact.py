"""client/deadline.py's watchdog exactly: one daemon thread for every deadline of the process,
whatever the number of attempts watched."""

from __future__ import annotations

import threading
import time

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
