"""The local pool: forked workers that the driver watches, so that no document can hang or sink a run.

A worker that dies (segfault, OOM kill, ``os._exit``), runs past ``--doc-timeout`` or grows past ``--max-memory``
costs only the document it was working on: it is killed if need be, that document is reported failed, and a fresh
worker takes its place. Workers are also replaced after ``--max-tasks-per-worker`` documents, so that leaks in
parsing libraries stay bounded. Every worker is forked from the driver after it has imported unstructured and
loaded its models, so a new one costs milliseconds.
"""

from __future__ import annotations

import collections
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import multiprocess
import psutil
from multiprocess.connection import wait

from ingest.config import Limits
from ingest.errors import DocumentError
from ingest.models import RANKS, Task, TaskResult
from ingest.pipeline import failed
from ingest.pools.forking import freeze_before_fork, init_worker

_TICK = 0.2  # seconds between looks at the clock
_MEMORY_TICK = 1.0  # seconds between looks at the workers' memory (a scan of /proc: not free)
_MB = 1 << 20


def _serve(conn, function: Callable, max_tasks: int, driver: int) -> None:
    """A worker's life: take a task, report each stage as it starts, send the result; leave after max_tasks."""
    init_worker(driver)
    done = 0
    while not max_tasks or done < max_tasks:
        task = conn.recv()
        if task is None:
            return
        conn.send(("result", function(*task, on_stage=lambda stage: conn.send(("stage", stage)))))
        done += 1


@dataclass
class _Worker:
    process: multiprocess.Process
    conn: object
    task: tuple | None = None
    stage: str = ""
    started: float = 0.0
    done: int = 0


class WorkerPool:
    """``submit(task, cfg)`` runs ``function(task, cfg, on_stage=...)`` in a worker; every task's result, or its
    failure, reaches ``on_result(task, result)`` (called from the pool's own thread)."""

    def __init__(
        self, processes: int, limits: Limits, function: Callable, on_result: Callable[[Task, TaskResult], None]
    ):
        self._context = multiprocess.get_context("fork")
        self._function, self._limits, self._on_result = function, limits, on_result
        self._queued = tuple(collections.deque() for _ in RANKS)  # by Task.rank
        self._lock = threading.Lock()
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_read, False)
        self._closing = False
        self._broken: str | None = None
        freeze_before_fork()
        self._workers = [self._start_worker() for _ in range(processes)]
        self._thread = threading.Thread(target=self._supervise, name="ingest-pool", daemon=True)
        self._thread.start()

    def submit(self, task: Task, cfg) -> None:
        """Queue a task, behind those of its ``rank``."""
        with self._lock:
            self._queued[task.rank].append((task, cfg))
        if self._broken:
            self._fail_queued()
        else:
            os.write(self._wake_write, b".")

    def discard(self, source_url: str) -> list[Task]:
        """Drop the queued tasks of one document (its other ranges, once one has failed); return them."""
        dropped = []
        with self._lock:
            for queued in self._queued:
                dropped += [task for task, _ in queued if task.ref.source_url == source_url]
                kept = [entry for entry in queued if entry[0].ref.source_url != source_url]
                queued.clear()
                queued.extend(kept)
        return dropped

    def close(self) -> None:
        """Let idle workers leave, then kill any that are left (called once every result is in)."""
        self._stop_supervising()
        for worker in self._workers:
            try:
                worker.conn.send(None)
            except OSError:
                pass
        for worker in self._workers:
            worker.process.join(5)
            self._kill(worker)

    def terminate(self) -> None:
        self._stop_supervising()
        for worker in self._workers:
            self._kill(worker)

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, kind, value, traceback) -> None:
        self.terminate() if kind else self.close()

    def _stop_supervising(self) -> None:
        self._closing = True
        os.write(self._wake_write, b".")
        self._thread.join()
        os.close(self._wake_read)
        os.close(self._wake_write)

    def _start_worker(self) -> _Worker:
        ours, theirs = self._context.Pipe()
        process = self._context.Process(
            target=_serve, args=(theirs, self._function, self._limits.max_tasks_per_worker, os.getpid()), daemon=True
        )
        process.start()
        theirs.close()
        return _Worker(process, ours)

    def _supervise(self) -> None:
        try:
            self._watch()
        except Exception as exc:  # noqa: BLE001 - never leave the driver waiting for results that cannot come
            self._broken = f"the worker pool stopped: {type(exc).__name__}: {exc}"
            for worker in self._workers:
                if worker.task is not None:
                    self._abandon(worker, "PoolError", self._broken)
            self._fail_queued()

    def _fail_queued(self) -> None:
        with self._lock:
            tasks = [entry for queued in self._queued for entry in queued]
            for queued in self._queued:
                queued.clear()
        for task, _ in tasks:
            self._on_result(task, failed(task.ref, DocumentError(self._broken, "worker", "PoolError"), "worker"))

    def _watch(self) -> None:
        last_sample = 0.0
        while not self._closing:
            self._assign()
            watched = [self._wake_read]
            for worker in self._workers:
                watched += [worker.conn, worker.process.sentinel]
            ready = wait(watched, _TICK)
            if self._wake_read in ready:
                os.read(self._wake_read, 4096)
            sample = self._limits.max_memory_mb and time.monotonic() - last_sample >= _MEMORY_TICK
            last_sample = time.monotonic() if sample else last_sample
            for worker in list(self._workers):
                if not self._closing:
                    self._check(worker, sample)

    def _assign(self) -> None:
        retiring = self._limits.max_tasks_per_worker
        for worker in self._workers:
            if worker.task is None and not (retiring and worker.done >= retiring):  # one about to leave gets none
                with self._lock:
                    queued = next((queued for queued in self._queued if queued), None)
                    if queued is None:
                        return
                    task = queued.popleft()
                worker.task, worker.stage, worker.started = task, "fetch", time.monotonic()
                worker.conn.send(task)

    def _check(self, worker: _Worker, sample_memory: bool) -> None:
        try:
            while worker.conn.poll():
                kind, payload = worker.conn.recv()
                if kind == "stage":
                    worker.stage = payload
                else:
                    (task, _), worker.task, worker.done = worker.task, None, worker.done + 1
                    self._on_result(task, payload)
        except (EOFError, OSError):
            pass  # it died mid-message: its exit code says how
        if not worker.process.is_alive():
            worker.process.join()
            code = worker.process.exitcode
            if worker.task is not None:
                how = f"was killed by {signal.Signals(-code).name}" if code < 0 else f"exited with code {code}"
                hint = " (the kernel's out-of-memory killer?)" if code == -signal.SIGKILL else ""
                self._abandon(worker, "WorkerDied", f"the worker process {how}{hint} while on this document")
            self._replace(worker)
            return
        if worker.task is None:
            return
        elapsed = time.monotonic() - worker.started
        if self._limits.doc_timeout and elapsed > self._limits.doc_timeout:
            self._kill(worker)
            self._abandon(
                worker,
                "Timeout",
                f"took longer than --doc-timeout {self._limits.doc_timeout:g} s; the worker was stopped",
            )
            self._replace(worker)
        elif sample_memory and (used := _resident(worker.process.pid)) > self._limits.max_memory_mb * _MB:
            self._kill(worker)
            self._abandon(
                worker,
                "MemoryLimit",
                f"used {used // _MB} MB, over --max-memory {self._limits.max_memory_mb} MB; the worker was stopped",
            )
            self._replace(worker)

    def _abandon(self, worker: _Worker, error_type: str, message: str) -> None:
        (task, _), worker.task = worker.task, None
        seconds = time.monotonic() - worker.started
        error = DocumentError(message, worker.stage, error_type)
        self._on_result(task, failed(task.ref, error, worker.stage, seconds))

    def _replace(self, worker: _Worker) -> None:
        worker.conn.close()
        self._workers.remove(worker)
        if not self._closing:
            self._workers.append(self._start_worker())

    @staticmethod
    def _kill(worker: _Worker) -> None:
        """The worker and whatever it started (tesseract, say)."""
        if not worker.process.is_alive():
            return
        try:
            children = psutil.Process(worker.process.pid).children(recursive=True)
        except psutil.Error:
            children = []
        for process in children:
            try:
                process.kill()
            except psutil.Error:
                pass
        worker.process.kill()
        worker.process.join()


def _resident(pid: int) -> int:
    """Resident memory of a process and its children, in bytes, as ``top`` shows it."""
    try:
        process = psutil.Process(pid)
        return sum(p.memory_info().rss for p in (process, *process.children(recursive=True)))
    except psutil.Error:
        return 0
