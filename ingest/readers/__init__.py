"""Readers: where documents come from (an S3 prefix or object, a local folder or file). One module per source, one
entry in READERS."""

from __future__ import annotations

from ingest.config import RunConfig
from ingest.readers.base import Reader
from ingest.readers.local import LocalReader
from ingest.readers.s3 import S3Reader

READERS: dict[str, type[Reader]] = {"s3": S3Reader, "local": LocalReader}


def make_reader(cfg: RunConfig) -> Reader:
    return READERS[cfg.source.kind](cfg)
