"""How the driver gets its tasks' results back from the workers: read from a Redis result store, or received as
messages on a queue of its own on RabbitMQ (Celery's rpc:// backend, pointed at a durable queue so that a
broker restart loses none)."""

from __future__ import annotations

import time
import uuid
from typing import Protocol

from celery import Celery, states
from kombu import Consumer, Exchange, Queue

from ingest.pools.brokers import RPC

_MGET_BATCH = 500
RESULT_EXPIRES = 24 * 3600  # seconds a result (or a driver's reply queue) is kept when no driver collects it


class Replies(Protocol):
    reply_to: str | None  # the queue a worker sends the result to (rpc://), or None

    def restarted(self) -> bool:
        """Whether the store lost the results it held since the last call (unanswered tasks must go again)."""

    def take(self, task_ids: list[str], wait: float) -> list[tuple[str, dict]]:
        """The finished tasks among ``task_ids`` as (task id, Celery's result meta), within ``wait`` seconds."""

    def close(self) -> None: ...


class RedisReplies:
    """Results kept in Redis under Celery's keys: one MGET per batch of unanswered tasks, deleted once read."""

    reply_to = None

    def __init__(self, app: Celery):
        self._backend = app.backend
        self._server_run = self._run_id()

    def restarted(self) -> bool:
        run_id = self._run_id()
        restarted, self._server_run = run_id != self._server_run, run_id
        return restarted

    def take(self, task_ids: list[str], wait: float) -> list[tuple[str, dict]]:
        backend, finished = self._backend, []
        for start in range(0, len(task_ids), _MGET_BATCH):
            batch = task_ids[start : start + _MGET_BATCH]
            values = backend.mget([backend.get_key_for_task(task_id) for task_id in batch])
            for task_id, value in zip(batch, values, strict=False):
                if value is not None and (meta := backend.decode_result(value))["status"] in states.READY_STATES:
                    finished.append((task_id, meta))
                    backend.forget(task_id)
        if not finished:
            time.sleep(wait)
        return finished

    def close(self) -> None:
        pass

    def _run_id(self) -> str:
        return self._backend.client.info("server")["run_id"]


class QueueReplies:
    """Results sent by the workers' rpc:// backend to a durable queue named for this driver (persistent messages,
    so a RabbitMQ restart keeps them), deleted when the driver closes and expired by RabbitMQ a day after a
    driver that died."""

    def __init__(self, app: Celery):
        self.reply_to = f"ingest.replies.{uuid.uuid4().hex}"
        self._queue = Queue(
            self.reply_to, Exchange(""), self.reply_to, durable=True, auto_delete=False, expires=RESULT_EXPIRES
        )
        self._app, self._connection, self._received = app, None, []
        self._connect()  # declared before the first task goes out

    def restarted(self) -> bool:
        return False

    def take(self, task_ids: list[str], wait: float) -> list[tuple[str, dict]]:
        if self._connection is None:
            self._connect()
        deadline = time.monotonic() + wait
        try:
            while (left := deadline - time.monotonic()) > 0:
                self._connection.drain_events(timeout=left)
        except TimeoutError:
            pass
        except Exception:
            self._disconnect()
            raise
        received, self._received = self._received, []
        backend = self._app.backend
        return [(task_id, backend.meta_from_decoded(meta)) for task_id, meta in received]

    def close(self) -> None:
        if self._connection is not None:
            try:
                self._queue.bind(self._connection.default_channel).delete()
            finally:
                self._disconnect()

    def _connect(self) -> None:
        connection = self._app.connection_for_read()
        try:
            connection.ensure_connection(max_retries=1, timeout=10)
            Consumer(connection.channel(), [self._queue], callbacks=[self._receive], accept=["json"]).consume()
        except Exception:
            connection.release()
            raise
        self._connection = connection

    def _disconnect(self) -> None:
        connection, self._connection = self._connection, None
        try:
            connection.release()
        except Exception:  # noqa: BLE001, S110 - a connection the broker already dropped
            pass

    def _receive(self, meta: dict, message) -> None:
        if meta.get("status") in states.READY_STATES:
            self._received.append((meta["task_id"], meta))
        message.ack()


def replies_for(app: Celery, results: str) -> Replies:
    """The driver's side of this result store (``results`` as ``brokers.result_store`` gives it)."""
    return QueueReplies(app) if results == RPC else RedisReplies(app)
