"""What crosses the broker is plain JSON and comes back as the same records."""

from __future__ import annotations

import json
from pathlib import Path

from ingest.config import BrokerConfig, ChunkConfig, IndexConfig, PartitionConfig, RunConfig, SourceConfig
from ingest.models import DocumentRef, DocumentResult, Part, Split, Task
from ingest.pools.codec import from_payload, from_result_payload, result_payload, task_payload

REF = DocumentRef("s3://b/a.pdf", "a.pdf", "a.pdf", "etag", 123, "2026-01-01T00:00:00+00:00")
CFG = RunConfig(
    SourceConfig("s3", bucket="b", include=("*.pdf",)),
    PartitionConfig("fast", languages=("eng", "deu")),
    "s3://b/out/",
    Path("/dl"),
    chunk=ChunkConfig(max_characters=300),
    index=IndexConfig(chroma_host="db"),
)


def through_json(payload: dict) -> dict:
    return json.loads(json.dumps(payload))


def test_a_task_and_its_settings_come_back_equal():
    task = Task(REF, "merge", ranges=((0, 50), (50, 99)))
    assert from_payload(through_json(task_payload(task, CFG))) == (task, CFG)


def test_every_kind_of_answer_comes_back_as_its_own_type_without_what_stays_local():
    answers = [
        Split(REF, ((0, 50), (50, 99)), "fast", 0.5),
        Part(REF, (0, 50), 12, 1.5, pickled=b"local only"),
        DocumentResult(REF, "processed", pages=99, chunks=7, records=[{"id": "x"}]),
        DocumentResult(REF, "failed", "partition", "CorruptPDF", "damaged", transient=True),
    ]
    back = [from_result_payload(through_json(result_payload(answer))) for answer in answers]
    assert back[0] == answers[0]
    assert back[1] == Part(REF, (0, 50), 12, 1.5) and back[1].pickled is None
    assert back[2].records is None and (back[2].pages, back[2].chunks) == (99, 7)
    assert back[3] == answers[3]


def test_broker_and_webhook_secrets_are_not_in_the_records_reprs():
    assert "s3cret" not in repr(BrokerConfig("redis://:s3cret@host/0"))
