"""Where outputs are stored: a local folder, or an S3 prefix (``--structured-output-dir s3://bucket/prefix/``)
that workers on other machines reach too. Both hold text files by key (a relative path) and write each one whole:
a local file by write-then-rename, an S3 object by one PUT (or COPY), so a reader never sees half a file.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError

from ingest.atomic import atomic_write, gone, temp_writer
from ingest.config import RunConfig
from ingest.errors import ConfigError
from ingest.readers.s3 import make_client, object_exists
from ingest.redact import redact_url
from ingest.writers.base import Storage

STATE_FOLDER = ".ingest"  # the ledger, the lock and a long PDF's parts: bookkeeping, never an output


class LocalStorage:
    def __init__(self, root: Path):
        self.root = root

    def check(self) -> None:
        """The folder, or the nearest folder above it that exists, must be a writable folder (created by the first
        output, so that a dry run changes nothing)."""
        folder = self.root.absolute()
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent
        if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
            raise ConfigError(f"Cannot write to --structured-output-dir {self.root}: {folder} is not a writable folder")

    def location(self, key: str) -> str:
        return str(self.root / key)

    def write(self, key: str, data: str | bytes) -> str:
        atomic_write(self.root / key, data)
        return _identity((self.root / key).stat())

    def read(self, key: str) -> bytes | None:
        try:
            return (self.root / key).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None

    def exists(self, key: str) -> bool:
        return (self.root / key).is_file()

    def delete(self, key: str) -> None:
        (self.root / key).unlink(missing_ok=True)

    def move(self, key: str, to: str) -> None:
        os.replace(self.root / key, self.root / to)

    def remove_tree(self, folder: str, keep: set[str] = frozenset()) -> None:
        if not keep:
            shutil.rmtree(self.root / folder, ignore_errors=True)
            return
        for key, _ in list(_scan(str(self.root / folder), folder.rstrip("/") + "/")):
            if key not in keep:
                self.delete(key)

    def listing(self, sweep: bool = False) -> Iterator[tuple[str, str]]:
        if self.root.is_dir():
            yield from _scan(str(self.root), "", top=True, sweep=sweep)


def _scan(folder: str, prefix: str, top: bool = False, sweep: bool = False) -> Iterator[tuple[str, str]]:
    """Keys and identities under ``folder`` in key order, by ``os.scandir`` (its entries carry their stat); the temp
    files of writes in progress left out, and with ``sweep`` those of writers that died removed."""
    try:
        entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
    except FileNotFoundError:  # removed since its parent was read
        return
    for entry in entries:
        key = prefix + entry.name
        if entry.is_dir(follow_symlinks=False):
            if not (top and entry.name == STATE_FOLDER):
                yield from _scan(entry.path, key + "/", sweep=sweep)
        elif (writer := temp_writer(entry.name)) is not None:
            if sweep and gone(writer):
                Path(entry.path).unlink(missing_ok=True)
        elif entry.is_file():
            try:
                yield key, _identity(entry.stat())
            except FileNotFoundError:
                continue


class S3Storage:
    """Objects under ``s3://bucket/prefix/``; the client is this process's own (one made before a fork is not
    safe after it). Requests are retried by boto3's standard mode, like the reader's."""

    def __init__(self, cfg: RunConfig, bucket: str, prefix: str):
        self.bucket, self.prefix, self.cfg = bucket, prefix, cfg
        self._client, self._client_pid = None, 0

    @property
    def client(self):
        if self._client is None or self._client_pid != os.getpid():
            self._client, self._client_pid = make_client(self.cfg.source, signed=True), os.getpid()
        return self._client

    def check(self) -> None:
        """Prove before any work that the prefix can be listed (writing is proved by the first output)."""
        try:
            self.client.list_objects_v2(Bucket=self.bucket, Prefix=self.prefix, MaxKeys=1)
        except (ClientError, BotoCoreError) as exc:
            raise ConfigError(
                f"Cannot use --structured-output-dir s3://{self.bucket}/{self.prefix}: {redact_url(str(exc))}"
            ) from None

    def location(self, key: str) -> str:
        return f"s3://{self.bucket}/{self.prefix}{key}"

    def write(self, key: str, data: str | bytes) -> str:
        """One PUT. Its ETag is also the copy's that ``move`` makes (S3 keeps the ETag of an object copied whole,
        unless the bucket's encryption makes ETags differ: then the next run reads the output once)."""
        body = data.encode("utf-8") if isinstance(data, str) else data
        put = self.client.put_object(
            Bucket=self.bucket, Key=self.prefix + key, Body=body, ContentType=_content_type(key)
        )
        return f"{len(body)}:{put['ETag']}"

    def read(self, key: str) -> bytes | None:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self.prefix + key)["Body"].read()
        except self.client.exceptions.NoSuchKey:
            return None

    def exists(self, key: str) -> bool:
        return object_exists(self.client, self.bucket, self.prefix + key)

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self.prefix + key)

    def move(self, key: str, to: str) -> None:
        self.client.copy_object(
            Bucket=self.bucket, Key=self.prefix + to, CopySource={"Bucket": self.bucket, "Key": self.prefix + key}
        )
        self.delete(key)

    def remove_tree(self, folder: str, keep: set[str] = frozenset()) -> None:
        for key in list(self._keys(folder.rstrip("/") + "/")):
            if key not in keep:
                self.delete(key)

    def listing(self, sweep: bool = False) -> Iterator[tuple[str, str]]:
        """(``sweep``: nothing to sweep, a PUT leaves no temp file.)"""
        for key, obj in self._objects(""):
            if not key.startswith(STATE_FOLDER + "/"):
                yield key, f"{obj['Size']}:{obj['ETag']}"

    def _keys(self, under: str) -> Iterator[str]:
        return (key for key, _ in self._objects(under))

    def _objects(self, under: str) -> Iterator[tuple[str, dict]]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix + under)
        for page in pages:
            for obj in page.get("Contents", ()):
                yield obj["Key"][len(self.prefix) :], obj


def _content_type(key: str) -> str:
    return "image/jpeg" if key.endswith(".jpg") else "application/json"


def _identity(stat: os.stat_result) -> str:
    return f"{stat.st_size}:{stat.st_mtime_ns}"


def is_s3(output_dir: str) -> bool:
    return str(output_dir).startswith("s3://")


@lru_cache(maxsize=4)
def storage_for(cfg: RunConfig) -> Storage:
    """The run's output storage (one per settings, per process)."""
    target = str(cfg.output_dir)
    if is_s3(target):
        bucket, _, prefix = target[len("s3://") :].partition("/")
        return S3Storage(cfg, bucket, prefix if not prefix or prefix.endswith("/") else prefix + "/")
    return LocalStorage(Path(target))
