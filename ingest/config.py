"""Frozen settings for a run, built once by the CLI and handed explicitly to every stage and worker."""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from ingest import layout

STRATEGIES = ("auto", "fast", "hi_res", "ocr_only")


@dataclass(frozen=True)
class SourceConfig:
    """Where the documents are: an S3 bucket and prefix (or one object), or a local folder."""

    kind: str  # "s3" | "local"
    bucket: str = ""
    prefix: str = ""  # S3 key prefix, or the object key when the URL names one object
    local_root: str = ""
    endpoint_url: str | None = None
    anonymous: bool = False
    retries: int = 5
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    @property
    def display_url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.kind == "s3" else self.local_root


@dataclass(frozen=True)
class PartitionConfig:
    """The settings that change what a document's element JSON contains."""

    strategy: str = "auto"
    hi_res_model: str = layout.MODEL_NAME
    languages: tuple[str, ...] = ("eng",)

    def fingerprint(self) -> str:
        """A short hash stored in every output, so a change of settings redoes the documents."""
        text = json.dumps(asdict(self), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class RunConfig:
    source: SourceConfig
    partition: PartitionConfig
    output_dir: Path
    download_dir: Path
    re_download: bool = False
    preserve_downloads: bool = False
    num_processes: int = 2
    reprocess: bool = False
