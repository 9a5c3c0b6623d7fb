"""Signed webhooks: a POST with a JSON body when each document finishes and when the run ends.

Every request carries ``X-Ingest-Event``, ``X-Ingest-Delivery`` (a fresh id), ``X-Ingest-Timestamp`` (Unix seconds)
and ``X-Ingest-Signature: sha256=<hex>``, the HMAC-SHA256 of ``<timestamp>.<body>`` under the shared secret (the
timestamp is signed so that a captured request cannot be replayed later). Deliveries run on one background thread,
in order: a slow or dead receiver never blocks or fails ingestion. A delivery is retried with backoff on 5xx, 429,
timeouts and refused connections; when the run ends, the sender waits at most ``FLUSH_SECONDS`` for what is left
and then drops it with a warning. Bodies carry URLs, keys, counts and (redacted) error messages, never credentials.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import queue
import threading
import time
import uuid
from datetime import UTC, datetime

import httpx

from ingest.models import DocumentResult, RunSummary
from ingest.redact import redact_url
from ingest.retry import retrying

log = logging.getLogger("ingest")
FLUSH_SECONDS = 10.0  # the most a run's end waits for undelivered events
_TIMEOUT = 5.0  # per request
_STOP = None


def sign(secret: str, timestamp: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, httpx.HTTPStatusError):
        return exc.response.status_code >= 500 or exc.response.status_code == 429
    return isinstance(exc, httpx.TransportError)


class Webhooks:
    def __init__(self, urls: tuple[str, ...], secret: str, run_id: int | None, retries: int = 5):
        self.urls, self.secret, self.run_id, self.retries = urls, secret, run_id, retries
        self._queue: queue.Queue = queue.Queue(maxsize=100_000)
        self._stopping = threading.Event()
        self._undelivered = 0  # events queued or being delivered
        self._client = httpx.Client(timeout=_TIMEOUT)
        self._thread = threading.Thread(target=self._deliver_all, name="ingest-webhooks", daemon=True)
        self._thread.start()

    def document(self, result: DocumentResult) -> None:
        """``document.done``, ``document.empty`` or ``document.failed``; skipped and deleted documents send
        nothing."""
        if result.status not in ("processed", "empty", "failed"):
            return
        ref = result.ref
        body = {
            "document": {
                "source_url": ref.source_url,
                "key": ref.key,
                "version": ref.version,
                "size": ref.size,
                "last_modified": ref.last_modified,
            }
        }
        if result.status == "processed":
            body.update(
                pages=result.pages,
                elements=result.elements,
                chunks=result.chunks,
                output=result.output_path,
                seconds=round(result.seconds, 3),
            )
            if result.coverage:
                body.update(coverage=result.coverage.to_dict())
            if result.message:
                body.update(unread=result.message)
            self._send("document.done", body)
        elif result.status == "empty":
            body.update(reason=result.message, pages=result.pages)
            self._send("document.empty", body)
        else:
            body.update(
                stage=result.stage, error_type=result.error_type, message=result.message, transient=result.transient
            )
            self._send("document.failed", body)

    def run_completed(self, source: str, summary: RunSummary) -> None:
        self._send("run.completed", {"source": source, "summary": summary.to_dict()})

    def close(self) -> None:
        """Deliver what is queued, waiting at most FLUSH_SECONDS; then drop the rest, with a warning."""
        self._queue.put(_STOP)
        self._thread.join(FLUSH_SECONDS)
        if self._thread.is_alive():
            self._stopping.set()
            self._thread.join(_TIMEOUT + 1)
        if self._undelivered:
            log.warning(
                "webhooks: %d events not delivered within %g s of the run's end; dropped",
                self._undelivered,
                FLUSH_SECONDS,
            )
        self._client.close()

    def _send(self, event: str, body: dict) -> None:
        payload = {
            "event": event,
            "run_id": self.run_id,
            "sent_at": datetime.now(UTC).isoformat(timespec="seconds"),
            **body,
        }
        try:
            self._queue.put_nowait((event, json.dumps(payload, sort_keys=True).encode()))
            self._undelivered += 1
        except queue.Full:
            log.warning("webhooks: %s dropped, %d events already waiting", event, self._queue.qsize())

    def _deliver_all(self) -> None:
        while (item := self._queue.get()) is not _STOP and not self._stopping.is_set():
            for url in self.urls:
                self._deliver(url, *item)
            self._undelivered -= 1

    def _deliver(self, url: str, event: str, body: bytes) -> None:
        try:
            retrying(self.retries, _retryable, cancel=self._stopping)(self._post, url, event, body)
        except Exception as exc:  # noqa: BLE001 - a webhook never fails the run
            log.warning("webhooks: %s to %s not delivered: %s", event, redact_url(url), type(exc).__name__)

    def _post(self, url: str, event: str, body: bytes) -> None:
        timestamp = str(int(time.time()))
        self._client.post(
            url,
            content=body,
            headers={
                "Content-Type": "application/json",
                "User-Agent": "ingest-webhooks",
                "X-Ingest-Event": event,
                "X-Ingest-Delivery": str(uuid.uuid4()),
                "X-Ingest-Timestamp": timestamp,
                "X-Ingest-Signature": sign(self.secret, timestamp, body),
            },
        ).raise_for_status()
