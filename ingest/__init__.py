"""Batch ingestion: documents in an S3 bucket (or a folder) to element JSON and a vector index, kept in step with
the source on every run. ``ingest.run(cfg)`` runs one ingestion; see ``ingest.api``."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("ingest")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0+unknown"

_API = {"run", "plan", "status", "query", "check"}
_CONFIG = {
    "RunConfig",
    "RunOptions",
    "SourceConfig",
    "PartitionConfig",
    "ChunkConfig",
    "IndexConfig",
    "Limits",
    "BrokerConfig",
    "WebhookConfig",
}
__all__ = sorted(_API | _CONFIG | {"RunSummary", "IngestError", "ConfigError", "__version__"})


def __getattr__(name: str):
    """The library's names, imported on first use: ``import ingest`` alone stays cheap."""
    if name in _API:
        from ingest import api

        return getattr(api, name)
    if name in _CONFIG:
        from ingest import config

        return getattr(config, name)
    if name == "RunSummary":
        from ingest.models import RunSummary

        return RunSummary
    if name in ("IngestError", "ConfigError"):
        from ingest import errors

        return getattr(errors, name)
    raise AttributeError(f"module 'ingest' has no attribute {name!r}")
