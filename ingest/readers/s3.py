"""S3 (and S3-compatible servers): check access, list a prefix page by page, download one object version.

Transient failures of a request (5xx, throttling, dropped connections, timeouts) are retried by boto3's own
``standard`` retry mode; a download cut off mid-body, which boto3 does not retry, by ingest's retry policy.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import boto3
import botocore.session
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    IncompleteReadError,
    NoCredentialsError,
    PartialCredentialsError,
    ProfileNotFound,
    ReadTimeoutError,
    ResponseStreamingError,
)
from botocore.utils import parse_timestamp

from ingest.atomic import remove_stale_temps, temp_prefix
from ingest.config import RunConfig, SourceConfig
from ingest.errors import ConfigError, DocumentError, ListingError
from ingest.models import DocumentRef
from ingest.paths import download_name
from ingest.readers.base import selected
from ingest.redact import redact_url
from ingest.retry import retrying

_UNREACHABLE = (EndpointConnectionError, ConnectTimeoutError, ReadTimeoutError)
_CUT_OFF = (ResponseStreamingError, IncompleteReadError, ReadTimeoutError, ConnectionClosedError)
_REJECTED_CREDENTIALS = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken"}


def make_client(source: SourceConfig, signed: bool = False):
    """A client for the source's endpoint; ``signed`` even when the source is read anonymously (for writing)."""
    config = Config(
        retries={"mode": "standard", "max_attempts": source.retries + 1},
        connect_timeout=10,
        read_timeout=60,
        signature_version=UNSIGNED if source.anonymous and not signed else None,
    )
    session = botocore.session.get_session()
    session.get_component("response_parser_factory").set_parser_defaults(timestamp_parser=_timestamp)
    try:
        return boto3.session.Session(botocore_session=session).client(
            "s3", endpoint_url=source.endpoint_url, config=config
        )
    except ProfileNotFound as exc:
        raise ConfigError(f"AWS profile {exc.kwargs.get('profile')!r} not found: check AWS_PROFILE") from None
    except ValueError as exc:
        raise ConfigError(f"--endpoint-url {redact_url(source.endpoint_url)}: {exc}") from None


def _timestamp(value: str) -> datetime:
    """A listing's ISO 8601 times parsed by the standard library (botocore's dateutil parser is a quarter of a
    listing's time); a header's HTTP date by botocore's own."""
    try:
        return datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return parse_timestamp(value)


def object_exists(s3, bucket: str, key: str) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=key)
        return True
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return False
        raise


class S3Reader:
    downloads = True

    def __init__(self, cfg: RunConfig):
        self.source = cfg.source
        self.download_dir = cfg.download_dir
        self.re_download = cfg.re_download
        self._swept: set[Path] = set()  # download folders cleared of dead writers' leftovers in this process
        self.single_key: str | None = None
        self._client, self._client_pid = None, 0

    @property
    def client(self):
        """This process's client: one made before a fork is not safe to use after it."""
        if self._client is None or self._client_pid != os.getpid():
            self._client, self._client_pid = make_client(self.source), os.getpid()
        return self._client

    def check(self) -> None:
        """Decide between one object and a prefix, and prove the listing works, before any work starts."""
        s3, bucket, prefix = self.client, self.source.bucket, self.source.prefix
        try:
            if prefix and not prefix.endswith("/") and object_exists(s3, bucket, prefix):
                self.single_key = prefix
                return
            s3.list_objects_v2(Bucket=bucket, Prefix=self._list_prefix(), MaxKeys=1)
        except (ClientError, BotoCoreError) as exc:
            raise self._config_error(exc) from None

    def scope(self) -> str | None:
        """The URL prefix this listing covers completely, or None (one object, or filtered by globs)."""
        if self.single_key is not None or self.source.include or self.source.exclude:
            return None
        return f"s3://{self.source.bucket}/{self._list_prefix()}"

    def list(self) -> Iterator[DocumentRef]:
        s3, bucket = self.client, self.source.bucket
        if self.single_key is not None:
            head = s3.head_object(Bucket=bucket, Key=self.single_key)
            yield self._ref(
                self.single_key,
                self.single_key.rsplit("/", 1)[-1],
                head["ETag"],
                head["ContentLength"],
                head["LastModified"],
            )
            return
        prefix = self._list_prefix()
        pages = iter(s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix))
        while True:
            try:
                page = next(pages)
            except StopIteration:
                return
            except (ClientError, BotoCoreError) as exc:
                raise ListingError(
                    f"listing {self.source.display_url} failed part-way, after {self.source.retries} retries: {exc}"
                ) from None
            for obj in page.get("Contents", ()):
                key = obj["Key"]
                rel_path = key[len(prefix) :]
                if key.endswith("/") or not selected(rel_path, self.source.include, self.source.exclude):
                    continue  # folder markers are not documents
                yield self._ref(key, rel_path, obj["ETag"], obj["Size"], obj["LastModified"])

    def fetch(self, ref: DocumentRef, reuse: bool = False) -> Path:
        """Download ``ref``'s version, or reuse an earlier download of the same size and last-modified time (with
        ``--re-download`` only when ``reuse`` says this run made it: a prefetch, or a long PDF's earlier task)."""
        path = self.download_dir / self.source.bucket / download_name(ref.key)
        mtime = datetime.fromisoformat(ref.last_modified).timestamp()
        if (reuse or not self.re_download) and path.is_file():
            stat = path.stat()
            if stat.st_size == ref.size and stat.st_mtime == mtime:
                return path
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.parent not in self._swept:
            remove_stale_temps(path.parent)
            self._swept.add(path.parent)
        tmp = path.with_name(f"{temp_prefix(path)}part")
        try:
            retrying(self.source.retries, lambda exc: isinstance(exc, _CUT_OFF))(self._download, ref, tmp)
            os.utime(tmp, (mtime, mtime))
            os.replace(tmp, path)
        except ClientError as exc:
            raise self._fetch_error(exc) from None
        except BotoCoreError as exc:  # what boto3 (and the retry policy, for a cut-off download) retried in vain
            raise DocumentError(
                f"S3 did not answer after {self.source.retries} retries ({exc}); the next run tries again",
                "fetch",
                type(exc).__name__,
                transient=True,
            ) from None
        finally:
            tmp.unlink(missing_ok=True)
        return path

    def _download(self, ref: DocumentRef, tmp: Path) -> None:
        response = self.client.get_object(Bucket=self.source.bucket, Key=ref.key, IfMatch=f'"{ref.version}"')
        with tmp.open("wb") as handle:
            shutil.copyfileobj(response["Body"], handle, 1 << 20)

    def _list_prefix(self) -> str:
        prefix = self.source.prefix
        return prefix if not prefix or prefix.endswith("/") else prefix + "/"

    def _ref(self, key: str, rel_path: str, etag: str, size: int, last_modified: datetime) -> DocumentRef:
        return DocumentRef(
            source_url=f"s3://{self.source.bucket}/{key}",
            key=key,
            rel_path=rel_path,
            version=etag.strip('"'),
            size=size,
            last_modified=last_modified.isoformat(),
        )

    def _config_error(self, exc: Exception) -> ConfigError:
        url = self.source.display_url
        if isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
            return ConfigError(
                f"No AWS credentials found for {url}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
                "(or AWS_PROFILE), or pass --anonymous for a public bucket"
            )
        if isinstance(exc, _UNREACHABLE):
            endpoint = redact_url(self.source.endpoint_url) or "the AWS S3 endpoint"
            return ConfigError(f"Cannot reach {endpoint} to list {url}: check --endpoint-url and the network")
        if isinstance(exc, ClientError):
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("NoSuchBucket",) or (code == "404" and not self.single_key):
                return ConfigError(
                    f"Bucket {self.source.bucket!r} does not exist ({url}): check the bucket name and --endpoint-url"
                )
            if code in _REJECTED_CREDENTIALS:
                return ConfigError(
                    f"The AWS credentials were rejected by S3 ({code}) listing {url}: check "
                    "AWS_ACCESS_KEY_ID / AWS_PROFILE"
                )
            if code in ("AccessDenied", "403", "AllAccessDisabled"):
                return ConfigError(
                    f"Access denied listing {url}: the credentials in use need s3:ListBucket "
                    "and s3:GetObject on it (or pass --anonymous for a public bucket)"
                )
            return ConfigError(
                f"S3 refused to list {url}: {code or 'error'}: "
                f"{exc.response.get('Error', {}).get('Message', '')}".rstrip(": ")
            )
        return ConfigError(f"Cannot list {url}: {exc}")

    @staticmethod
    def _fetch_error(exc: ClientError) -> DocumentError:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in ("PreconditionFailed", "412"):
            return DocumentError(
                "the object changed after it was listed; the next run picks up the new version",
                "fetch",
                "ObjectChanged",
                transient=True,
            )
        if code in ("NoSuchKey", "404"):
            return DocumentError("the object was deleted after it was listed", "fetch", "NoSuchKey")
        transient = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) >= 500
        return DocumentError(
            f"S3 {code}: {exc.response.get('Error', {}).get('Message', '')}",
            "fetch",
            "ClientError",
            transient=transient,
        )
