"""A small thread pool whose tasks can time out without stopping the run.

Hand-written because ``concurrent.futures`` cannot give up on a hung task: its
workers are joined at exit, so one check stuck in an endless loop would hang
the whole audit. Here each worker is a daemon thread; when a task overruns its
time box the main thread records a timeout, abandons that worker (it exits when
its task ever returns) and starts a fresh one, so the other tasks run on.
"""

from __future__ import annotations

import queue
import threading
import time
import traceback
from dataclasses import dataclass
from typing import Any, Callable, Sequence


@dataclass
class CallOutcome:
    """What happened to one task: a value, an exception (with traceback) or a timeout."""

    value: Any = None
    error: BaseException | None = None
    traceback: str | None = None
    timed_out: bool = False
    duration_s: float = 0.0


class _Worker:
    def __init__(self, pool: "_Pool", wid: int) -> None:
        self.wid = wid
        self.pool = pool
        self.current: tuple[int, float] | None = None
        self.abandoned = False
        self.thread = threading.Thread(target=self.loop, name=f"harness-worker-{wid}", daemon=True)
        self.thread.start()

    def loop(self) -> None:
        pool = self.pool
        while True:
            index = pool.tasks.get()
            if index is None:
                return
            start = time.perf_counter()
            self.current = (index, start)
            try:
                outcome = CallOutcome(value=pool.fns[index]())
            except BaseException as exc:  # noqa: BLE001 - any failure becomes an outcome
                outcome = CallOutcome(error=exc, traceback=traceback.format_exc())
            outcome.duration_s = time.perf_counter() - start
            self.current = None
            pool.results.put((index, outcome))
            if self.abandoned:
                return


class _Pool:
    def __init__(self, fns: Sequence[Callable[[], Any]]) -> None:
        self.fns = fns
        self.tasks: queue.SimpleQueue[int | None] = queue.SimpleQueue()
        self.results: queue.SimpleQueue[tuple[int, CallOutcome]] = queue.SimpleQueue()


def run_calls(
    fns: Sequence[Callable[[], Any]],
    *,
    jobs: int = 1,
    timeout: float | None = None,
    on_done: Callable[[int, CallOutcome], None] | None = None,
) -> list[CallOutcome]:
    """Run every callable on ``jobs`` worker threads, each time-boxed to ``timeout`` seconds.

    ``on_done(index, outcome)`` is called on the calling thread as each task
    ends. Returns the outcomes in the order of ``fns``.
    """
    n = len(fns)
    outcomes: list[CallOutcome | None] = [None] * n
    if n == 0:
        return []
    pool = _Pool(fns)
    for index in range(n):
        pool.tasks.put(index)
    workers = [_Worker(pool, wid) for wid in range(max(1, min(jobs, n)))]
    next_wid = len(workers)
    done = 0
    poll = 0.05 if timeout is None else min(0.05, timeout / 4)
    while done < n:
        try:
            index, outcome = pool.results.get(timeout=poll)
        except queue.Empty:
            index = -1
        if index >= 0 and outcomes[index] is None:
            outcomes[index] = outcome
            done += 1
            if on_done:
                on_done(index, outcome)
        if timeout is None:
            continue
        now = time.perf_counter()
        for worker in list(workers):
            current = worker.current
            if current is None or worker.abandoned:
                continue
            index, start = current
            if now - start > timeout and outcomes[index] is None:
                worker.abandoned = True
                workers.remove(worker)
                outcome = CallOutcome(timed_out=True, duration_s=now - start)
                outcomes[index] = outcome
                done += 1
                if on_done:
                    on_done(index, outcome)
                if done < n:
                    workers.append(_Worker(pool, next_wid))
                    next_wid += 1
    for _ in workers:
        pool.tasks.put(None)
    return [o for o in outcomes if o is not None]
