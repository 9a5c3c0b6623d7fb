"""Readers: where documents come from. One module per source, one entry in READERS."""
from __future__ import annotations

from connectors.base import Reader
from connectors.local import LocalReader
from connectors.s3 import S3Reader
from ingest.config import RunConfig

READERS: dict[str, type[Reader]] = {"s3": S3Reader, "local": LocalReader}


def make_reader(cfg: RunConfig) -> Reader:
    return READERS[cfg.source.kind](cfg)
