"""Celery's side of ingest (``ingest worker``): the app, its one task, and what each worker process loads once.

A task is the same ``run_task`` the local pool runs, then the same ``store_vectors`` the local index writer runs:
embed the chunks, store them in the Chroma server and commit the element JSON. So a task is whole and idempotent
(same files, same chunk ids): running it twice changes nothing. Payloads are JSON (a Task and the run's settings,
no credentials: workers use their own boto3 credential chain). A task is acknowledged only once done, and one whose
worker process dies goes back to the queue, marked redelivered by the broker (Redis or RabbitMQ); a redelivered
task is sent on as a new try that counts the deaths, so a document that kills its worker every time fails after
``MAX_DELIVERIES`` tries instead of going round for ever.
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from celery import Celery, signals

from ingest.config import DEFAULT_QUEUE, IndexConfig, Limits, PartitionConfig, RunConfig
from ingest.embedding import use_threads
from ingest.errors import DocumentError
from ingest.models import DocumentResult, Task, TaskResult
from ingest.partition import check_prerequisites
from ingest.pipeline import failed, run_task
from ingest.pools.brokers import check_reachable, configure, result_store
from ingest.pools.codec import from_payload, result_payload
from ingest.pools.forking import freeze_before_fork
from ingest.pools.replies import RESULT_EXPIRES
from ingest.redact import RedactingFormatter
from ingest.writers.vectors import (
    delete_vectors,
    embed_slice,
    embedder_for,
    index_error,
    store_from_file,
    store_vectors,
)

TASK_NAME = "ingest.document"
MAX_DELIVERIES = 2  # runs of one task that may end with its worker dead
TRANSIENT_RETRIES = 3  # re-queued tries of a task that failed for a reason worth another try

log = logging.getLogger("ingest")

_PATIENT = {"max_retries": 60, "interval_start": 1, "interval_step": 0, "interval_max": 1}

app = Celery("ingest", set_as_current=False)
app.conf.update(
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    result_accept_content=["json"],
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,  # a worker process holds one task: the others wait for any free process
    result_expires=RESULT_EXPIRES,
    task_default_queue=DEFAULT_QUEUE,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
    # a result sent (rpc://) or a task re-queued while the broker restarts waits for it, a second at a time, up to a
    # minute: kombu's defaults give up within about 4 s, and a document done meanwhile was reported failed
    broker_transport_options=_PATIENT | {"connect_retries_timeout": 60},
    task_publish_retry_policy=_PATIENT,
)


@dataclass(frozen=True)
class WorkerSettings:
    """What ``ingest worker`` decides for itself, not the driver: where downloads go, which model to preload."""

    download_dir: Path
    embedding_model: str
    embedding_device: str = "auto"
    concurrency: int = 1


settings: WorkerSettings | None = None


@signals.worker_process_init.connect
def _load(**_) -> None:
    """Each worker process loads the embedding model once, before its first task (unstructured and its spaCy
    model are loaded by ``ingest worker`` before the processes fork, as for the local pool; the collection is
    opened by the first task, whose settings name it)."""
    use_threads((os.cpu_count() or 1) // settings.concurrency)
    embedder_for(settings.embedding_model, settings.embedding_device, IndexConfig.backend, IndexConfig.batch_size)


@signals.after_setup_logger.connect
@signals.after_setup_task_logger.connect
def _redact_logs(logger, format, **_) -> None:  # noqa: A002 - the signal's argument name
    for handler in logger.handlers:
        handler.setFormatter(RedactingFormatter(format))


@app.task(name=TASK_NAME, bind=True, max_retries=None)
def process(self, payload: dict, deaths: int = 0) -> dict:
    task, cfg = from_payload(payload)
    cfg = dataclasses.replace(cfg, download_dir=settings.download_dir)
    queue = self.request.delivery_info["routing_key"]
    if self.request.delivery_info.get("redelivered"):  # the worker of this try died (or lost the broker)
        deaths += 1
        if deaths >= MAX_DELIVERIES:
            error = DocumentError(
                f"its worker process died each of the {MAX_DELIVERIES} times it was tried (killed, or out of memory)",
                "partition",
                "WorkerDied",
            )
            return result_payload(failed(task.ref, error, "partition"))
        raise self.retry(args=[payload], kwargs={"deaths": deaths}, countdown=0, queue=queue)
    if task.kind in ("embed", "vectors"):
        result = _vectors(task, cfg)
    else:
        result = run_task(task, cfg)
    if isinstance(result, DocumentResult) and result.records is not None:
        if len(result.records) > cfg.index.slice_chunks:  # the driver sends its slices to every worker
            result = dataclasses.replace(result, records=None, vectors_pending=True)
        else:
            error = store_vectors(cfg, [(result.ref, result.records)])[0]
            result = failed(result.ref, error, "index") if error else dataclasses.replace(result, records=None)
    elif isinstance(result, DocumentResult) and result.status == "empty" and cfg.index.enabled:
        error = delete_vectors(cfg.index, result.ref.source_url)  # an earlier version's vectors go
        result = failed(result.ref, error, "delete") if error else result
    failing = isinstance(result, DocumentResult) and result.status == "failed"
    tries = self.request.retries - deaths
    if failing and result.transient and tries < TRANSIENT_RETRIES:
        raise self.retry(args=[payload], kwargs={"deaths": deaths}, countdown=2 ** (tries + 1), queue=queue)
    return result_payload(result)


def _vectors(task: Task, cfg: RunConfig) -> TaskResult:
    """A slice of a document's chunks embedded (``embed``), or all its vectors stored and its output committed."""
    if task.kind == "vectors":
        error = store_from_file(cfg, task.ref)
        return failed(task.ref, error, "index") if error else DocumentResult(task.ref, "processed")
    try:
        return embed_slice(cfg, task.ref, task.chunks)
    except Exception as exc:  # noqa: BLE001 - the document fails once its other slices are back
        return failed(task.ref, index_error(exc, cfg.index, "index"), "index")


def node_name() -> str:
    """A name of its own for each worker, so that several on one host answer the driver apart."""
    return f"ingest-{os.getpid()}@{socket.gethostname()}"


def start_worker(
    broker_url: str,
    results: str | None,
    worker: WorkerSettings,
    queues: tuple[str, ...],
    limits: Limits,
    loglevel: str,
    hostname: str | None = None,
) -> None:
    """Check and load what partitioning needs, and import the embedder's libraries, in this process (inherited by
    every forked worker process), then run the Celery worker until it is stopped."""
    global settings
    settings = worker
    configure(app, broker_url, result_store(broker_url, results))
    check_reachable(app, broker_url)
    check_prerequisites(PartitionConfig())
    importlib.import_module("sentence_transformers")  # with torch: its import is paid here, once
    freeze_before_fork()
    argv = [
        "worker",
        f"--hostname={hostname or node_name()}",
        f"--concurrency={worker.concurrency}",
        f"--queues={','.join(queues)}",
        f"--loglevel={loglevel}",
        "--without-gossip",
        "--without-mingle",
    ]
    if limits.max_tasks_per_worker:
        argv.append(f"--max-tasks-per-child={limits.max_tasks_per_worker}")
    if limits.max_memory_mb:
        argv.append(f"--max-memory-per-child={limits.max_memory_mb * 1024}")
    app.worker_main(argv)
