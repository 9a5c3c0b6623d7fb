"""The driver's side of Celery (``--executor celery``): the local pool's interface over a Redis or RabbitMQ broker.

Tasks go out as JSON; one thread collects finished results (``replies.py``) and hands them to ``on_result``. A
Redis broker may restart mid-run and lose its queues: when it comes back (a new Redis run id) every task not yet
answered is sent again (tasks are idempotent); RabbitMQ keeps them. A broker that stays away longer than
``--broker-patience`` stops the run (``on_lost``): the unanswered documents are left to the next run, never
recorded as done.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from celery import Celery

from ingest.config import BrokerConfig, RunConfig
from ingest.errors import BrokerLost, ConfigError, DocumentError
from ingest.models import Task, TaskResult
from ingest.pipeline import failed
from ingest.pools.brokers import RPC, check_reachable, configure, priority, result_store, unreachable
from ingest.pools.celery_worker import TASK_NAME, app
from ingest.pools.codec import from_result_payload, task_payload
from ingest.pools.replies import replies_for
from ingest.redact import redact_url

_TICK = 0.25
log = logging.getLogger("ingest")


def connect(broker: BrokerConfig) -> tuple[Celery, str]:
    """The app on this broker, and the result store the workers answer in (a ConfigError where the combination
    cannot work or the broker is away). rpc:// replies come to the driver's own queue, not through Celery's
    backend, which the driver then does without."""
    results = result_store(broker.url, broker.results)
    configure(app, broker.url, "disabled" if results == RPC else results)
    check_reachable(app, broker.url)
    return app, results


def worker_processes(broker: BrokerConfig) -> int:
    """How many worker processes consume the queue, asked of the workers over the broker; none is an error."""
    app, shown = connect(broker)[0], redact_url(broker.url)
    queues, stats = {}, {}
    try:
        workers = [name for reply in app.control.ping(timeout=1.0) for name in reply]
        if workers:
            inspect = app.control.inspect(destination=workers, limit=len(workers), timeout=5.0)
            queues, stats = inspect.active_queues() or {}, inspect.stats() or {}
    except Exception as exc:  # noqa: BLE001 - kombu and its transports raise several types for a broker away
        raise unreachable(broker.url, exc) from None
    processes = sum(
        stats.get(name, {}).get("pool", {}).get("max-concurrency", 0)
        for name, consumed in queues.items()
        if any(q["name"] == broker.queue for q in consumed)
    )
    if not processes:
        raise ConfigError(
            f"No ingest worker consumes the queue {broker.queue!r} at {shown}: start one with "
            f"`ingest worker --broker-url {shown} --queues {broker.queue}`"
        )
    return processes


class CeleryPool:
    """``submit(task, cfg)`` enqueues ``run_task`` (and the index step) for a Celery worker; every task's result
    reaches ``on_result(task, result)`` from the pool's thread. Tasks go in the order of their ``rank`` (a long PDF's
    merge, its ranges, whole documents), as message priorities."""

    def __init__(
        self, broker: BrokerConfig, on_result: Callable[[Task, TaskResult], None], on_lost: Callable[[str], None]
    ):
        self._app, results = connect(broker)
        self._replies = replies_for(self._app, results)
        self._url, self._broker, self._patience = broker.url, redact_url(broker.url), broker.patience
        self._queue, self._on_result, self._on_lost = broker.queue, on_result, on_lost
        self._pending: dict[str, tuple[Task, RunConfig]] = {}
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._lost = False
        self._thread = threading.Thread(target=self._collect, name="ingest-celery-results", daemon=True)
        self._thread.start()

    def submit(self, task: Task, cfg: RunConfig) -> None:
        with self._lock:
            self._send(task, cfg)

    def discard(self, source_url: str) -> list[Task]:
        """Revoke the queued tasks of one document; they are never answered."""
        with self._lock:
            ids = [task_id for task_id, (task, _) in self._pending.items() if task.ref.source_url == source_url]
            dropped = [self._pending.pop(task_id)[0] for task_id in ids]
        if ids:
            self._app.control.revoke(ids)
        return dropped

    def close(self) -> None:
        self._closing.set()
        self._thread.join(5)
        with self._lock:
            unanswered = list(self._pending)
            self._pending.clear()
        try:
            if unanswered and not self._lost:  # interrupted: nobody waits for these any more
                self._app.control.revoke(unanswered)
            self._replies.close()
        except Exception:  # noqa: BLE001, S110 - the broker is gone: so are its tasks
            pass

    def __enter__(self) -> CeleryPool:
        return self

    def __exit__(self, kind, value, traceback) -> None:
        self.close()

    def _send(self, task: Task, cfg: RunConfig) -> None:
        limit = cfg.limits.doc_timeout or None
        try:  # kombu retries the publish once a second while the broker is away, for the patience's seconds
            sent = self._app.send_task(
                TASK_NAME,
                args=[task_payload(task, cfg)],
                queue=self._queue,
                time_limit=limit,
                priority=priority(self._url, task.rank),
                reply_to=self._replies.reply_to,
                retry=True,
                retry_policy={
                    "max_retries": max(1, round(self._patience)),
                    "interval_start": 1,
                    "interval_step": 0,
                    "interval_max": 1,
                },
            )
        except Exception as exc:  # noqa: BLE001 - kombu's OperationalError, or redis-py's own
            self._lost = True
            raise BrokerLost(
                f"the broker at {self._broker} did not take a task for {self._patience:g} s "
                f"({type(exc).__name__}); the documents not done are left for the next run"
            ) from None
        self._pending[sent.id] = (task, cfg)

    def _collect(self) -> None:
        away_since = None
        while not self._closing.is_set():
            try:
                if self._replies.restarted():
                    self._resend()
                for task_id, meta in self._replies.take(list(self._pending), _TICK):
                    with self._lock:
                        entry = self._pending.pop(task_id, None)
                    if entry is not None:
                        self._on_result(entry[0], _result(entry[0], entry[1], meta))
                away_since = None
            except Exception as exc:  # noqa: BLE001 - the broker is away (kombu's errors, or its transport's)
                away_since = away_since or time.monotonic()
                if time.monotonic() - away_since > self._patience:
                    self._lost = True
                    self._on_lost(
                        f"the broker at {self._broker} did not answer for {self._patience:g} s "
                        f"({type(exc).__name__}); {len(self._pending)} documents in progress are left for "
                        "the next run"
                    )
                    return
                log.debug("broker unavailable: %s", redact_url(str(exc)))
                self._closing.wait(_TICK)

    def _resend(self) -> None:
        with self._lock:
            waiting = list(self._pending.values())
            self._pending.clear()
            log.warning("the broker at %s restarted: %d unanswered tasks sent again", self._broker, len(waiting))
            for task, cfg in waiting:
                self._send(task, cfg)


def _result(task: Task, cfg: RunConfig, meta: dict) -> TaskResult:
    if meta["status"] == "SUCCESS":
        return from_result_payload(meta["result"])
    exc = meta["result"]
    if type(exc).__name__ == "TimeLimitExceeded":
        exc = DocumentError(
            f"took longer than --doc-timeout {cfg.limits.doc_timeout:g} s; its worker process was stopped",
            "partition",
            "Timeout",
        )
    return failed(task.ref, exc, "partition")
