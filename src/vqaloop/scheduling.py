"""One pending re-planning timer in Snakemake's scheduler (README "Time").

Snakemake 9's ``JobScheduler.schedule`` ends every scheduling pass with ``_schedule_reevalutation(timespan)``: a new
``threading.Timer`` that wakes the scheduler again once the ``--max-jobs-per-timespan`` window has passed. A pass
woken by a timer starts another timer, so every pass that a finishing job triggers starts one more chain that never
ends: after n finished jobs, n timers wake the scheduler every timespan, and each pass reads the size of every input
of every ready job. In the demo (267 jobs, ``1000/10s``) the Snakemake process spent 7.6 CPU minutes of a 40-minute
run there (py-spy: ``JobScheduler.job_selector``, ``update_input_sizes``), a core's fifth, taken from the jobs; and its
non-daemon timers keep the process alive up to one timespan after the last job.

``one_replanning_timer`` makes the method start a timer only when none is pending, as a daemon thread: the
scheduler still re-plans once per timespan while jobs wait for the rate limit (the method's purpose), and is
otherwise woken by the jobs themselves. The Snakefile applies it when it is parsed (the scheduler runs in that
process); on a Snakemake without the method it does nothing.
"""

from __future__ import annotations

import threading


def one_replanning_timer(scheduler_class=None) -> bool:
    """Replace ``scheduler_class._schedule_reevalutation`` (Snakemake's JobScheduler by default) by one that keeps
    at most one pending daemon timer per scheduler. True when patched (idempotent), False when the method is absent."""
    if scheduler_class is None:
        try:
            from snakemake.scheduling.job_scheduler import JobScheduler as scheduler_class
        except ImportError:
            return False
    original = getattr(scheduler_class, "_schedule_reevalutation", None)
    if original is None:
        return False
    if getattr(original, "one_pending_timer", False):
        return True

    def schedule_reevaluation(self, delay) -> None:
        pending = getattr(self, "_vqaloop_replanning_timer", None)
        if pending is not None and pending.is_alive():
            return
        timer = threading.Timer(delay, self._open_jobs.release)
        timer.daemon = True
        self._vqaloop_replanning_timer = timer
        timer.start()

    schedule_reevaluation.one_pending_timer = True
    schedule_reevaluation.original = original
    scheduler_class._schedule_reevalutation = schedule_reevaluation
    return True
