"""vqaloop.scheduling: at most one pending re-planning timer in Snakemake's scheduler, a daemon."""

from __future__ import annotations

import threading
import time

from snakemake.scheduling.job_scheduler import JobScheduler

from vqaloop.scheduling import one_replanning_timer


class Scheduler:
    """The two attributes the method touches, on a class of its own (the real JobScheduler stays as it is)."""

    # Snakemake's own method (the original, should a workflow parsed in this process have patched the class)
    _schedule_reevalutation = getattr(JobScheduler._schedule_reevalutation, "original",
                                      JobScheduler._schedule_reevalutation)  # fmt: skip

    def __init__(self):
        self._open_jobs = threading.Semaphore(0)


def wakeups(scheduler, calls: int, delay: float = 0.2) -> tuple[int, int]:
    """(timers started, semaphore releases) after ``calls`` passes ask for a re-evaluation."""
    before = threading.active_count()
    for _ in range(calls):
        scheduler._schedule_reevalutation(delay)
    started = threading.active_count() - before
    time.sleep(delay + 0.3)
    released = 0
    while scheduler._open_jobs.acquire(blocking=False):
        released += 1
    return started, released


def test_snakemakes_own_method_starts_a_timer_per_pass():
    """The control: the unpatched method multiplies timers (so the test below can fail)."""
    assert wakeups(Scheduler(), 20) == (20, 20)


def test_patched_method_keeps_one_pending_daemon_timer():
    class Patched(Scheduler):
        pass

    assert one_replanning_timer(Patched) and one_replanning_timer(Patched)  # idempotent
    scheduler = Patched()
    assert wakeups(scheduler, 20) == (1, 1)
    assert scheduler._vqaloop_replanning_timer.daemon
    assert wakeups(scheduler, 3) == (1, 1)  # a timer that fired leaves room for the next one


def test_a_class_without_the_method_is_left_alone():
    assert one_replanning_timer(type("Other", (), {})) is False
