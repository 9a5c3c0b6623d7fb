"""What a caller may ask of ``ingest serve``: a run of a source with a few options, checked as the command line
checks its flags, and uploads stored in the inbox under names checked as object keys are."""

from __future__ import annotations

import dataclasses
import mimetypes
from pathlib import Path
from urllib.parse import urlsplit

import click

from ingest.atomic import atomic_write
from ingest.config import STRATEGIES, RunConfig, RunOptions, ServeConfig, SourceConfig, WebhookConfig
from ingest.errors import UnsafeKey
from ingest.options import S3Url
from ingest.paths import safe_relative_path
from ingest.runner import printable

FIELDS = ("source", "strategy", "reprocess", "include", "exclude", "callback_url")


class BadRequest(Exception):
    """A request that cannot be done as asked; ``message`` says why and what to send instead."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.message, self.status = message, status


def requested_run(body: object, config: ServeConfig) -> tuple[RunConfig, RunOptions]:
    """The settings of the run ``body`` asks for: the server's, with the source and options it names."""
    if not isinstance(body, dict):
        raise BadRequest('the body must be a JSON object, e.g. {"source": "s3://bucket/prefix/"}')
    unknown = sorted(set(body) - set(FIELDS))
    if unknown:
        raise BadRequest(f"unknown field {unknown[0]!r}; a run takes {', '.join(FIELDS)}")
    strategy = body.get("strategy", config.run.partition.strategy)
    if strategy not in STRATEGIES:
        raise BadRequest(f"strategy {printable(str(strategy))!r} is not one of {', '.join(STRATEGIES)}")
    reprocess = body.get("reprocess", False)
    if not isinstance(reprocess, bool):
        raise BadRequest("reprocess must be true or false")
    source = dataclasses.replace(
        _source(body.get("source"), config),
        include=_globs(body, "include", config.run.source.include),
        exclude=_globs(body, "exclude", config.run.source.exclude),
    )
    cfg = dataclasses.replace(
        config.run,
        source=source,
        partition=dataclasses.replace(config.run.partition, strategy=strategy),
        reprocess=reprocess or config.run.reprocess,
    )
    webhooks = config.options.webhooks
    if body.get("callback_url") is not None:
        webhooks = _with_callback(body["callback_url"], webhooks)
    elif webhooks is not None and not webhooks.urls:  # a secret for callbacks, and none asked for
        webhooks = None
    options = dataclasses.replace(config.options, webhooks=webhooks, wait_lock=True, arguments={"request": body})
    return cfg, options


def _source(value: object, config: ServeConfig) -> SourceConfig:
    base = config.run.source
    if value is None:
        if not config.default_source:
            raise BadRequest("give a source: an s3:// URL or a folder this server may read")
        return base
    if not isinstance(value, str) or not value:
        raise BadRequest("source must be an s3:// URL or a folder's path, as a string")
    common = {"endpoint_url": base.endpoint_url, "retries": base.retries}
    if value.startswith("s3://"):
        try:
            bucket, prefix = S3Url().convert(value, None, None)
        except click.BadParameter as exc:
            raise BadRequest(f"source: {exc.message}") from None
        return SourceConfig("s3", bucket=bucket, prefix=prefix, anonymous=base.anonymous, **common)
    folder = Path(value).resolve()
    if not any(folder.is_relative_to(Path(allowed).resolve()) for allowed in config.allowed_folders):
        raise BadRequest(
            f"source {printable(value)!r} is not under a folder this server may read; start ingest serve with "
            "--allow-folder for it, or send an s3:// URL",
            status=403,
        )
    if not folder.exists():
        raise BadRequest(f"source {printable(value)!r} does not exist")
    return SourceConfig("local", local_root=str(folder), **common)


def _globs(body: dict, name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(glob, str) and glob for glob in value):
        raise BadRequest(f"{name} must be a glob or a list of globs")
    return tuple(value)


def _with_callback(url: object, webhooks: WebhookConfig | None) -> WebhookConfig:
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadRequest("callback_url must be an http(s) URL")
    if parts.username or parts.password:
        raise BadRequest("callback_url must not hold credentials: the callbacks are signed instead")
    if webhooks is None or not webhooks.secret:
        raise BadRequest(
            "this server has no webhook secret to sign callbacks with; start it with --webhook-secret "
            "(or INGEST_WEBHOOK_SECRET)",
            status=409,
        )
    return dataclasses.replace(webhooks, urls=(*webhooks.urls, url))


def store_uploads(files: list[tuple[str, bytes]], config: ServeConfig) -> list[str]:
    """Write uploaded files into the inbox (``config.inbox``, which the caller has checked is set), each under its
    checked name; all names are checked before any is written."""
    from ingest.readers.s3 import make_client

    if not files:
        raise BadRequest("no files: send them as multipart/form-data fields named 'files'")
    if len(files) > config.max_upload_files:
        raise BadRequest(f"{len(files)} files; this server takes at most {config.max_upload_files} at once", 413)
    names = []
    for name, _ in files:
        try:
            names.append(str(safe_relative_path(name)))
        except UnsafeKey as exc:
            raise BadRequest(f"upload {printable(name)!r}: {exc.message}") from None
    if len(set(names)) < len(names):
        raise BadRequest("two uploads have the same name")
    if config.inbox.startswith("s3://"):
        bucket, prefix = S3Url().convert(config.inbox, None, None)
        client = make_client(config.run.source, signed=True)
        for name, (_, data) in zip(names, files, strict=True):
            kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
            client.put_object(Bucket=bucket, Key=prefix + name, Body=data, ContentType=kind)
    else:
        for name, (_, data) in zip(names, files, strict=True):
            atomic_write(Path(config.inbox) / name, data)
    return names
