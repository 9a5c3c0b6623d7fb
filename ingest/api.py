"""The library: a whole ingestion as one call, for the command line, a Python caller or a web service.

    from ingest import RunConfig, SourceConfig, run
    summary = run(RunConfig(SourceConfig("s3", bucket="my-bucket", prefix="reports/")))

Problems with the run as a whole raise ``ConfigError`` (the CLI's exit 2) before any work, or ``LockHeld`` (exit 3)
when another run holds the outputs; one document's failure is a row of the returned summary, never an exception.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import ExitStack
from functools import lru_cache
from pathlib import Path

from ingest.config import IndexConfig, RunConfig, RunOptions
from ingest.errors import ConfigError
from ingest.models import RunSummary
from ingest.redact import redact_url


def check(cfg: RunConfig, options: RunOptions | None = None) -> None:
    """Refuse, before any work, settings that cannot work together."""
    from ingest.chunking import validate

    options = options or RunOptions()
    try:
        validate(cfg.chunk)
    except ValueError as exc:
        raise ConfigError(f"Invalid value for chunking options: {exc}") from None
    if options.webhooks:
        if not options.webhooks.secret:
            raise ConfigError("--webhook-url needs --webhook-secret (or INGEST_WEBHOOK_SECRET) to sign its events")
        for url in options.webhooks.urls:
            if not url.startswith(("http://", "https://")):
                raise ConfigError(f"--webhook-url {redact_url(url)!r} is not an http(s) URL")
    if options.broker:
        _check_celery(cfg, options.broker.shared_folders)


def _check_celery(cfg: RunConfig, shared_folders: bool) -> None:
    """``--executor celery``: what cannot work when the workers are other machines."""
    if not shared_folders:
        folders = (
            ("--local-path", cfg.source.local_root if cfg.source.kind == "local" else None),
            ("--structured-output-dir", cfg.output_dir),
        )
        for flag, folder in folders:
            if folder is not None and not str(folder).startswith("s3://"):
                raise ConfigError(
                    f"--executor celery: the workers use {flag} {folder}, a folder of this machine; "
                    "give --shared-folders if every worker sees it at the same path"
                    + (", or an s3:// URL" if flag == "--structured-output-dir" else "")
                )
    if cfg.index.enabled and not cfg.index.chroma_host:
        raise ConfigError(
            "--executor celery: the workers store the vectors, and an embedded Chroma store is this "
            "machine's; give --chroma-host (a Chroma server they all reach) or --no-vectors"
        )


def run(cfg: RunConfig, options: RunOptions | None = None) -> RunSummary:
    """Ingest what ``cfg`` names: process what changed, skip what did not, remove what is gone; record it in the
    ledger, announce it to the webhooks, and return the summary."""
    from ingest import runner
    from ingest.lock import RunLock
    from ingest.partition import check_prerequisites
    from ingest.state import Ledger, ledger_path, state_dir
    from ingest.webhooks import Webhooks

    options = options or RunOptions()
    check(cfg, options)
    if options.broker:  # the workers see this run's local folders at the same absolute paths
        cfg = _absolute_folders(cfg)
    reader = _checked_reader(cfg)
    if options.broker:  # how many processes there are decides how long PDFs are split
        from ingest.pools.celery_driver import worker_processes

        cfg = dataclasses.replace(cfg, num_processes=worker_processes(options.broker))
    with ExitStack() as stack:
        lock = RunLock(state_dir(cfg.output_dir) / "lock")
        stack.callback(lock.release)
        lock.acquire(options.wait_lock, cfg.output_dir)
        ledger = Ledger(ledger_path(cfg.output_dir, options.state_path))
        stack.callback(ledger.close)
        run_id = ledger.begin_run(cfg.source.display_url, options.arguments or _arguments(cfg), options.run_id)
        webhooks = None
        if options.webhooks:
            webhooks = Webhooks(options.webhooks.urls, options.webhooks.secret, run_id, cfg.source.retries)
            stack.callback(webhooks.close)
        summary = runner.run(
            cfg, reader, lambda keys: check_prerequisites(cfg.partition, keys), ledger, run_id, webhooks, options.broker
        )
        ledger.end_run(run_id, summary)
        if webhooks:
            webhooks.run_completed(cfg.source.display_url, summary)
    return summary


def plan(cfg: RunConfig, options: RunOptions | None = None) -> Iterator[tuple[str, str, str]]:
    """What ``run`` would do, changing nothing: ``(action, key, reason)`` for every listed document (``process``,
    ``skip``, ``fail``) and every deletion (``delete``)."""
    from ingest.planning import preview
    from ingest.state import Ledger, ledger_path

    options = options or RunOptions()
    check(cfg, options)
    reader = _checked_reader(cfg)
    path = ledger_path(cfg.output_dir, options.state_path)
    ledger = Ledger(path) if path.exists() else None
    try:
        yield from preview(cfg, reader, ledger)
    finally:
        if ledger:
            ledger.close()


def status(output_dir: str, state_path: Path | None = None, failed_only: bool = False, runs: int = 5) -> dict:
    """The ledger of an output folder: its path, documents counted by status, the recent runs and the documents
    (only the failed ones with ``failed_only``)."""
    from ingest.state import Ledger, ledger_path

    path = ledger_path(output_dir, state_path)
    if not path.is_file():
        raise ConfigError(
            f"No ledger at {path}: run ingest with this --structured-output-dir first, or give --state-path"
        )
    ledger = Ledger(path)
    try:
        return {
            "ledger": str(path),
            "counts": ledger.counts(),
            "runs": ledger.runs(runs),
            "documents": [dataclasses.asdict(d) for d in ledger.documents("failed" if failed_only else None)],
        }
    finally:
        ledger.close()


def query(text: str, cfg: IndexConfig, k: int = 5, model: str | None = None) -> list[tuple[str, dict, float]]:
    """``(text, metadata, distance)`` of the ``k`` chunks nearest to ``text``, embedded as the collection's vectors
    were (model and backend), or else with ``model``."""
    from ingest.embedding import made_by
    from ingest.writers import make_index

    index = make_index(cfg)
    index.open(cfg.model, 0, create=False)
    built_with = index.metadata
    name, backend = made_by(built_with.get("embedding_model", cfg.model))
    embedder = _query_embedder(model or name, cfg.device, "torch" if model else backend)
    if built_with.get("dimension", embedder.dimension) != embedder.dimension:
        raise ConfigError(
            f"The collection {cfg.collection!r} holds {built_with['dimension']}-dimensional vectors; "
            f"{embedder.name!r} makes {embedder.dimension}-dimensional ones"
        )
    return index.query(embedder.encode([text])[0], k)


@lru_cache(maxsize=2)  # a server answers many queries with one model
def _query_embedder(name: str, device: str, backend: str):
    from ingest.embedding import make_embedder

    return make_embedder(name, device, backend)


def _checked_reader(cfg: RunConfig):
    """The source's reader, with the source and the outputs proved usable."""
    from ingest.readers import make_reader
    from ingest.writers.storage import storage_for

    reader = make_reader(cfg)
    reader.check()
    storage_for(cfg).check()
    return reader


def _absolute_folders(cfg: RunConfig) -> RunConfig:
    source = cfg.source
    if source.kind == "local":
        source = dataclasses.replace(source, local_root=str(Path(source.local_root).absolute()))
    output_dir = cfg.output_dir if str(cfg.output_dir).startswith("s3://") else str(Path(cfg.output_dir).absolute())
    return dataclasses.replace(cfg, source=source, output_dir=output_dir)


def _arguments(cfg: RunConfig) -> dict:
    """The settings of a run asked for from Python, as the ledger records them: no URL keeps a password."""
    settings = dataclasses.asdict(cfg)
    settings["source"]["endpoint_url"] = redact_url(cfg.source.endpoint_url)
    return settings
