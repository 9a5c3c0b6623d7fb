"""The exceptions of ingest: configuration problems stop a run, document problems become results.

Every exception keeps its data in attributes and pickles by them, so it crosses process (and Celery) borders intact.
"""

from __future__ import annotations


class IngestError(Exception):
    """Base class; ``str()`` is a one-line message for the user."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def __reduce__(self):
        return (self.__class__, (self.message,))


class ConfigError(IngestError):
    """The run as a whole cannot start: bad URL, missing bucket, no credentials, missing prerequisite (exit 2)."""


class ListingError(IngestError):
    """The listing broke off part-way (after boto3's retries): what was listed is done, nothing is deleted, and
    the run exits 1 so that the next one finishes the job."""


class BrokerLost(IngestError):
    """The Celery broker went away for good mid-run: the run stops, what is not done is left for the next run."""


class DocumentError(IngestError):
    """One document failed at one stage; the run goes on."""

    def __init__(self, message: str, stage: str, error_type: str | None = None, transient: bool = False):
        super().__init__(message)
        self.stage = stage
        self.error_type = error_type or self.__class__.__name__
        self.transient = transient

    def __reduce__(self):
        return (self.__class__, (self.message, self.stage, self.error_type, self.transient))


class UnsafeKey(DocumentError):
    """An object key that cannot be mapped to a path inside the output folder."""

    def __init__(self, message: str, stage: str = "plan", error_type: str | None = None, transient: bool = False):
        super().__init__(message, stage, error_type, transient)


class EmptyDocument(DocumentError):
    """Partitioning returned no elements: never written as a success."""

    def __init__(self, message: str, stage: str = "partition", error_type: str | None = None, transient: bool = False):
        super().__init__(message, stage, error_type, transient)
