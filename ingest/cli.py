"""The `ingest` command: flags become a RunConfig and RunOptions for the library (``ingest.api``); its errors become
one-line messages and exit codes.

Exit codes: 0 every listed document processed or skipped; 1 some documents failed (the others are done);
2 bad usage or configuration, found before any work; 3 another run holds the output folder; 130 interrupted.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import sys
from pathlib import Path

import click

# Before unstructured or chromadb are imported: no telemetry calls from a batch job unless the user asks for them.
for _name, _value in {
    "DO_NOT_TRACK": "true",
    "UNSTRUCTURED_DISABLE_NOTICE": "1",
    "ANONYMIZED_TELEMETRY": "False",
}.items():
    os.environ.setdefault(_name, _value)

from ingest import __version__, api  # noqa: E402
from ingest.atomic import atomic_write  # noqa: E402
from ingest.config import (  # noqa: E402
    DEFAULT_EMBEDDING_MODEL,
    DEFAULT_QUEUE,
    BrokerConfig,
    ChunkConfig,
    IndexConfig,
    Limits,
    PartitionConfig,
    RunConfig,
    RunOptions,
    ServeConfig,
    SourceConfig,
    WebhookConfig,
)
from ingest.errors import ConfigError  # noqa: E402
from ingest.lock import LockHeld  # noqa: E402
from ingest.options import (  # noqa: E402
    broker_options,
    embedding_device_option,
    index_options,
    option,
    report_options,
    run_settings_options,
    serve_options,
    state_options,
    verbose_option,
    worker_options,
)
from ingest.redact import RedactingFormatter, redact, redact_url  # noqa: E402

EXIT_CONFIG = 2
EXIT_LOCKED = 3
EXIT_INTERRUPTED = 130


def _configure_logging(verbose: int) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter("%(message)s" if verbose < 2 else "%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.DEBUG if verbose >= 2 else logging.ERROR, handlers=[handler], force=True)
    level = logging.DEBUG if verbose >= 2 else logging.INFO if verbose else logging.WARNING
    logging.getLogger("ingest").setLevel(level)
    if verbose == 1:
        logging.getLogger().setLevel(logging.WARNING)
    if verbose < 2:  # its errors about one document become that document's result (or a "partly read" line)
        logging.getLogger("unstructured").setLevel(logging.CRITICAL)


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


@cli.command(context_settings={"help_option_names": ["-h", "--help"]})
@run_settings_options
@report_options
@click.option(
    "--dry-run", is_flag=True, help="List what would be processed, skipped and deleted, and why; change nothing."
)
@verbose_option
@click.version_option(__version__, "--version", prog_name="ingest")
def run(dry_run: bool, verbose: int, summary_json: Path | None, **flags):
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
    cfg, options = _run_settings(flags)
    try:
        if dry_run:
            _print_preview(api.plan(cfg, options))
            return
        summary = api.run(cfg, options)
    except LockHeld as exc:
        click.echo(f"ingest: {exc.message}", err=True)
        sys.exit(EXIT_LOCKED)
    except ConfigError as exc:
        raise config_error(exc) from None
    except KeyboardInterrupt:
        click.echo("ingest: interrupted; finished documents are written, the rest are redone next run", err=True)
        sys.exit(EXIT_INTERRUPTED)
    click.echo(f"ingest: {summary.line()}; outputs in {cfg.output_dir}")
    if summary_json:
        atomic_write(summary_json, json.dumps(summary.to_dict(), indent=2) + "\n")
    sys.exit(summary.exit_code)


def _run_settings(flags: dict, source_required: bool = True) -> tuple[RunConfig, RunOptions]:
    """The flags of ``ingest run`` as the library's settings; usage errors say which flag is wrong."""
    if flags["s3_url"] and flags["local_path"] or source_required and not (flags["s3_url"] or flags["local_path"]):
        raise click.UsageError("give exactly one source: --s3-url or --local-path")
    if (flags["extract_images"] or flags["inline_images"]) and flags["strategy"] in ("fast", "ocr_only", "text"):
        raise click.UsageError(
            f"--extract-images needs the layout model, which --strategy {flags['strategy']} does not run: "
            "use --strategy auto or hi_res"
        )
    if flags["executor"] == "celery" and not flags["broker_url"]:
        raise click.UsageError("--executor celery needs --broker-url (or INGEST_BROKER_URL)")
    common = {
        "endpoint_url": flags["endpoint_url"],
        "retries": flags["retries"],
        "include": flags["include"],
        "exclude": flags["exclude"],
    }
    if flags["s3_url"]:
        bucket, prefix = flags["s3_url"]
        source = SourceConfig("s3", bucket=bucket, prefix=prefix, anonymous=flags["anonymous"], **common)
    else:  # without a source (ingest serve), each request names one
        source = SourceConfig("local", local_root=str(flags["local_path"] or ""), **common)
    cfg = RunConfig(
        source=source,
        partition=PartitionConfig(
            flags["strategy"],
            flags["hi_res_model"],
            tuple(lang for lang in flags["languages"].split(",") if lang),
            "inline" if flags["inline_images"] else "files" if flags["extract_images"] else "",
            flags["device"],
        ),
        output_dir=flags["structured_output_dir"],
        download_dir=flags["download_dir"],
        re_download=flags["re_download"],
        preserve_downloads=flags["preserve_downloads"],
        num_processes=flags["num_processes"],
        reprocess=flags["reprocess"],
        chunk=ChunkConfig(flags["chunking"], flags["max_characters"], flags["overlap"], flags["combine_text_under"]),
        index=IndexConfig(
            not flags["no_vectors"],
            flags["embedding_model"],
            flags["embedding_device"],
            flags["embedding_batch_size"],
            flags["chroma_path"],
            flags["chroma_host"],
            flags["chroma_port"],
            flags["collection"],
            flags["retries"],
            backend=flags["embedding_backend"],
            slice_chunks=flags["embedding_slice"],
        ),
        sync_deletes=flags["sync_deletes"],
        max_attempts=flags["max_attempts"],
        retry_failed=flags["retry_failed"],
        limits=Limits(flags["doc_timeout"], flags["max_memory"], flags["max_tasks_per_worker"], flags["max_file_size"]),
        split_pages=flags["split_pages"],
    )
    broker = None
    if flags["executor"] == "celery":
        broker = BrokerConfig(
            flags["broker_url"],
            flags["queue"],
            flags["broker_patience"],
            flags["shared_folders"],
            flags["result_backend"],
        )
    webhooks = WebhookConfig(flags["webhook_url"], flags["webhook_secret"] or "") if flags["webhook_url"] else None
    return cfg, RunOptions(broker, webhooks, flags["state_path"], flags.get("wait_lock", False), _arguments(flags))


def _arguments(flags: dict) -> dict:
    """The flags as the ledger records them: no secret, no URL with a password."""
    arguments = {name: str(value) if isinstance(value, Path) else value for name, value in flags.items()}
    arguments.update(
        endpoint_url=redact_url(flags["endpoint_url"]),
        webhook_url=[redact_url(url) for url in flags["webhook_url"]],
        webhook_secret="***" if flags["webhook_secret"] else None,
        broker_url=redact_url(flags["broker_url"]),
        result_backend=redact_url(flags["result_backend"]),
    )
    return arguments


_unfinished = {"running": "still running", "queued": "queued", "failed": "did not finish", "done": "?"}


def _print_preview(rows) -> None:
    counts: dict[str, int] = {}
    for action, key, reason in rows:
        counts[action] = counts.get(action, 0) + 1
        click.echo(f"{action:<8} {key}  ({reason})")
    click.echo(
        f"ingest (dry run): {counts.get('process', 0)} to process, {counts.get('skip', 0)} unchanged, "
        f"{counts.get('delete', 0)} to delete, {counts.get('fail', 0)} refused; nothing was changed"
    )


@cli.command()
@click.argument("text")
@click.option("-k", "--k", "k", type=click.IntRange(min=1), default=5, show_default=True, help="How many chunks.")
@index_options
@option("--embedding-model", help="Defaults to the model the collection was built with.")
def query(text, k, chroma_path, chroma_host, chroma_port, collection, embedding_device, embedding_model):
    """Print the chunks nearest to TEXT, with their source and page, to check the index from the shell.

    \b
    Example:
        ingest query "bottles of water" --k 3
    """
    cfg = IndexConfig(
        True,
        DEFAULT_EMBEDDING_MODEL,
        embedding_device,
        IndexConfig.batch_size,
        chroma_path,
        chroma_host,
        chroma_port,
        collection,
    )
    try:
        hits = api.query(text, cfg, k, embedding_model)
    except ConfigError as exc:
        raise config_error(exc) from None
    if not hits:
        click.echo(f"The collection {collection!r} is empty.")
    for rank, (chunk_text, metadata, distance) in enumerate(hits, 1):
        page = f"  page {metadata['page_number']}" if "page_number" in metadata else ""
        click.echo(f"{rank}. {1 - distance:.3f}  {metadata.get('source')}{page}")
        click.echo("   " + " ".join(chunk_text.split())[:300])
        if "image_path" in metadata:  # a figure or a table cropped out: its file, under the output folder
            click.echo(f"   image: {metadata['image_path']}")
        if "text_as_html" in metadata:
            click.echo(f"   table: {len(metadata['text_as_html'])} characters of HTML in the chunk's text_as_html")


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
    try:
        report = api.status(structured_output_dir, state_path, failed_only, runs)
    except ConfigError as exc:
        raise config_error(exc) from None
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    counts = report["counts"]
    empty = f", {counts['empty']} empty" if counts.get("empty") else ""
    click.echo(
        f"documents: {counts.get('done', 0)} done, {counts.get('failed', 0)} failed{empty}   "
        f"(ledger: {report['ledger']})"
    )
    for row in report["runs"]:
        empty = f", {row['empty']} empty" if row.get("empty") else ""
        ended = row["ended_at"] or _unfinished[row["status"]]
        click.echo(
            f"run {row['id']}: {row['started_at']} -> {ended}  {row['source']}  "
            f"{row['processed']} processed, {row['skipped']} skipped, {row['failed']} failed, "
            f"{row['deleted']} deleted{empty}, exit {row['exit_code']}"
        )
    for doc in report["documents"]:
        if doc["status"] == "failed":
            click.echo(
                f"failed  {doc['key']}  [{doc['stage']}] {doc['error_type']}: {doc['error']}  "
                f"({doc['attempts']} attempts, last {doc['updated_at']})"
            )
        elif doc["status"] == "empty":
            click.echo(f"empty   {doc['key']}  ({doc['error']})")
        else:
            coverage = f", text coverage {doc['coverage']:.3f}" if doc.get("coverage") is not None else ""
            click.echo(f"done    {doc['key']}  (last done {doc['done_at'] or 'before this ledger'}{coverage})")


@cli.command()
@broker_options
@option(
    "--concurrency",
    type=click.IntRange(min=1),
    default=lambda: os.cpu_count() or 1,
    show_default="the number of CPUs",
    help="Worker processes; each loads unstructured and the embedding model once and takes one document at a time.",
)
@option(
    "--queues",
    default=DEFAULT_QUEUE,
    show_default=True,
    help="Comma-separated queues to take tasks from (the driver's --queue).",
)
@click.option(
    "-n",
    "--hostname",
    metavar="NAME@HOST",
    help="The worker's node name, as Celery's own -n. Default: ingest-<pid>@<this host>, so several workers on "
    "one host answer apart.",
)
@worker_options
@embedding_device_option
@verbose_option
def worker(
    broker_url,
    result_backend,
    concurrency,
    queues,
    hostname,
    download_dir,
    max_memory,
    max_tasks_per_worker,
    embedding_model,
    embedding_device,
    verbose,
):
    """Take documents from a Redis or RabbitMQ broker and process them (partition, chunk, embed, write) for
    drivers started with --executor celery, on this machine or others. Stop it with Ctrl-C or SIGTERM: the
    document in hand is finished first; a worker killed outright leaves its document to another worker. (The
    per-document time limit is the driver's --doc-timeout.)

    \b
    Example:
        ingest worker --broker-url redis://queue-host:6379/0 --concurrency 4
        ingest worker --broker-url amqp://ingest:PASSWORD@queue-host:5672// --concurrency 4
    """
    from ingest.pools.celery_worker import WorkerSettings, start_worker

    _configure_logging(verbose)
    if not broker_url:
        raise click.UsageError("give --broker-url (or INGEST_BROKER_URL): the driver's Redis or RabbitMQ broker")
    settings = WorkerSettings(download_dir.absolute(), embedding_model, embedding_device, concurrency)
    limits = Limits(max_memory_mb=max_memory, max_tasks_per_worker=max_tasks_per_worker)
    loglevel = "DEBUG" if verbose >= 2 else "INFO" if verbose else "WARNING"
    try:
        queue_names = tuple(q for q in queues.split(",") if q)
        start_worker(broker_url, result_backend, settings, queue_names, limits, loglevel, hostname)
    except ConfigError as exc:
        raise config_error(exc) from None


@cli.command()
@serve_options
@run_settings_options
@verbose_option
def serve(host, port, token, allow_folder, inbox, watch, max_upload_mb, max_upload_files, verbose, **flags):
    """Serve a JSON API and web pages over the output folder's ledger (and --watch folders'): submit runs (and
    uploads) over HTTP, watch every run (one from cron too) move, read results and failures, search the index.
    The run options set up the runs it is sent; a request names its source (an s3:// URL, or a folder under
    --local-path or --allow-folder) and may set strategy, reprocess, include, exclude and callback_url. Runs go
    one at a time, each in a process of its own. Stop it with Ctrl-C.

    \b
    Example:
        INGEST_SERVE_TOKEN=... ingest serve --s3-url s3://my-bucket/reports/ --port 8080
        curl -X POST -H "Authorization: Bearer $INGEST_SERVE_TOKEN" localhost:8080/api/runs -d '{}'
    """
    from ingest.service import serve as serve_forever
    from ingest.service import token_for

    _configure_logging(verbose)
    cfg, options = _run_settings(flags, source_required=False)
    if options.webhooks is None and flags["webhook_secret"]:  # the secret that signs requests' callbacks
        options = dataclasses.replace(options, webhooks=WebhookConfig((), flags["webhook_secret"]))
    options = dataclasses.replace(options, arguments=None)
    folders = [str(folder) for folder in allow_folder]
    if flags["local_path"]:
        folders.append(str(flags["local_path"]))
    if inbox and not inbox.startswith("s3://"):
        Path(inbox).mkdir(parents=True, exist_ok=True)
        folders.append(inbox)
    config = ServeConfig(
        cfg,
        options,
        default_source=bool(flags["s3_url"] or flags["local_path"]),
        host=host,
        port=port,
        token=token or "",
        allowed_folders=tuple(folders),
        inbox=inbox,
        watched=tuple(watch),
        max_upload_mb=max_upload_mb,
        max_upload_files=max_upload_files,
    )
    try:
        api.check(cfg, options)
        token, written = token_for(config)
    except ConfigError as exc:
        raise config_error(exc) from None
    config = dataclasses.replace(config, token=token)
    where = f"; the token for writes is in {written}" if written else ""
    try:
        serve_forever(
            config,
            lambda: click.echo(
                f"ingest serve: http://{host}:{port}/ over {cfg.output_dir}{where} (Ctrl-C stops)", err=True
            ),
        )
    except OSError as exc:
        raise config_error(ConfigError(f"Cannot listen on {host}:{port}: {exc.strerror or exc}")) from None
    except KeyboardInterrupt:  # one outside waitress's loop (which ends on one by itself)
        pass
    click.echo("ingest serve: stopped", err=True)


main = cli
