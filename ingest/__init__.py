"""Batch ingestion: documents in an S3 bucket (or a folder) to element JSON, kept in step on every run."""
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("ingest")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0+unknown"
