"""The broker's codec: tasks, settings and results as plain JSON, the only form they take there (never pickle)."""

from __future__ import annotations

import dataclasses
import types
import typing
from functools import cache
from pathlib import Path

from ingest.config import RunConfig
from ingest.models import DocumentResult, Embedded, Part, Split, Task, TaskResult

_RESULTS = {cls.__name__: cls for cls in (DocumentResult, Split, Part, Embedded)}


def encode(record) -> dict:
    """A dataclass as a JSON-ready dict: paths become strings, tuples lists."""
    return _plain(dataclasses.asdict(record))


def decode(cls: type, data: dict):
    """The dataclass ``cls`` back from ``encode``'s dict: nested records, tuples and paths restored."""
    hints = _hints(cls)
    return cls(
        **{
            field.name: _restore(hints[field.name], data[field.name])
            for field in dataclasses.fields(cls)
            if field.name in data
        }
    )


def task_payload(task: Task, cfg: RunConfig) -> dict:
    return {"task": encode(task), "config": encode(cfg)}


def from_payload(payload: dict) -> tuple[Task, RunConfig]:
    return decode(Task, payload["task"]), decode(RunConfig, payload["config"])


def result_payload(result: TaskResult) -> dict:
    """A worker's answer, tagged with its type; chunk records and pickled parts never travel this way."""
    if isinstance(result, DocumentResult):
        result = dataclasses.replace(result, records=None)
    elif isinstance(result, Part):
        result = dataclasses.replace(result, pickled=None)
    return {"type": type(result).__name__, "result": encode(result)}


def from_result_payload(payload: dict) -> TaskResult:
    return decode(_RESULTS[payload["type"]], payload["result"])


def _plain(value):
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return str(value) if isinstance(value, Path) else value


def _restore(hint, value):
    if value is None:
        return None
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        hint = next(arg for arg in typing.get_args(hint) if arg is not type(None))
    if dataclasses.is_dataclass(hint):
        return decode(hint, value)
    if hint is Path:
        return Path(value)
    if typing.get_origin(hint) is tuple:
        args = typing.get_args(hint)
        inner = args[0] if len(args) == 2 and args[1] is Ellipsis else None
        if inner is not None:
            return tuple(_restore(inner, item) for item in value)
        return tuple(_restore(arg, item) for arg, item in zip(args, value, strict=False))
    return value


@cache
def _hints(cls: type) -> dict:
    return typing.get_type_hints(cls)
