"""Validation worker processes that are replaced every N documents.

Saxon runs inside a GraalVM isolate whose heap size saxonche does not let us set: it grows
with the documents a process has seen and is never given back (measured: a worker's RSS rose
from 331 MB after 100 documents to 466 MB after 5,000, with peaks at 640 MB). Replacing the
workers bounds that memory, as gunicorn's ``max_requests`` or Celery's
``max_tasks_per_child`` do. ``ProcessPoolExecutor(max_tasks_per_child=…)`` would be the
library way, but on Python 3.11 it can deadlock when a worker retires while work is queued
(seen here: a 48-document run never finished), so the documents go in batches of
``workers × per_worker``, each batch to a fresh executor. A batch whose pool breaks (a
native crash) loses only its own documents; the next batch starts a new pool.

Written by hand: no library offers a process pool with per-worker recycling that works on
3.11 and keeps ``concurrent.futures`` futures for the callers.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import threading
from typing import Any, Callable

from harness.rulepacks import RulePack

from . import engine
from .engine import Options, Source


def _relay(placeholder: cf.Future, done: cf.Future) -> None:
    """Copy the outcome of a worker's future onto the future the callers hold."""
    if done.cancelled():
        placeholder.cancel()
    elif done.exception() is not None:
        placeholder.set_exception(done.exception())
    else:
        placeholder.set_result(done.result())


class RecyclingPool:
    """``workers`` processes validating documents, replaced after every ``workers × per_worker`` documents
    (``per_worker`` each on average: a process that starts faster than the others takes more)."""

    def __init__(self, pack: RulePack, options: Options, workers: int, per_worker: int,
                 task: Callable[[Source], Any] = engine.run_one) -> None:
        self.pack, self.options = pack, options
        self.workers, self.per_worker, self.task = workers, max(1, per_worker), task
        self._executor: cf.ProcessPoolExecutor | None = None
        self._closing = threading.Event()
        self._lock = threading.Lock()
        self._driver: threading.Thread | None = None

    def _new_executor(self) -> cf.ProcessPoolExecutor:
        return cf.ProcessPoolExecutor(max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"),
                                      initializer=engine.init_worker, initargs=(self.pack, self.options))

    def warm_up(self) -> list[cf.Future]:
        """Start the first processes now (the stylesheets load while the caller goes on)."""
        with self._lock:
            if self._executor is None:
                self._executor = self._new_executor()
            return [self._executor.submit(engine.warm_up) for _ in range(self.workers)]

    def submit_all(self, sources: list[Source]) -> list[cf.Future]:
        """One future per source, in order, resolved as the batches go through the pools."""
        futures = [cf.Future() for _ in sources]
        batch = self.workers * self.per_worker
        batches = [list(zip(sources[i:i + batch], futures[i:i + batch])) for i in range(0, len(sources), batch)]
        self._driver = threading.Thread(target=self._drive, args=(batches,), name="dmp-pool", daemon=True)
        self._driver.start()
        return futures

    def _drive(self, batches: list[list[tuple[Source, cf.Future]]]) -> None:
        for index, batch in enumerate(batches):
            with self._lock:
                if self._closing.is_set():
                    break
                if self._executor is None or index > 0:
                    previous, self._executor = self._executor, self._new_executor()
                else:
                    previous = None
                executor = self._executor
            if previous is not None:
                previous.shutdown(wait=True)
            try:
                for source, placeholder in batch:
                    executor.submit(self.task, source).add_done_callback(
                        lambda done, placeholder=placeholder: _relay(placeholder, done))
            except (RuntimeError, cf.process.BrokenProcessPool) as exc:  # closed, or broken while submitting
                for _source, placeholder in batch:
                    if not placeholder.done():
                        placeholder.set_exception(exc)
            cf.wait([placeholder for _source, placeholder in batch])
        for placeholder in [p for batch in batches for _s, p in batch if not p.done()]:
            placeholder.cancel()

    def close(self) -> None:
        self._closing.set()
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)
        if self._driver is not None:
            self._driver.join(timeout=30)
