"""Chunk records: deterministic ids, and metadata that vector stores take (scalars only) named as LangChain names it."""

from __future__ import annotations

from unstructured.documents.elements import ElementMetadata, NarrativeText, Title

from ingest.chunking import chunk, chunk_id, chunk_records
from ingest.config import ChunkConfig
from ingest.models import DocumentRef

REF = DocumentRef("s3://b/docs/a.pdf", "docs/a.pdf", "a.pdf", "etag1", 10, "2026-01-01T00:00:00+00:00")


def elements():
    page = [ElementMetadata(page_number=n, filetype="application/pdf") for n in (1, 1, 2, 2)]
    return [
        Title("Harbour dues", metadata=page[0]),
        NarrativeText("Grain and timber pay by the tonne. " * 12, metadata=page[1]),
        Title("Berths", metadata=page[2]),
        NarrativeText("Berth four takes coal; berth five takes grain.", metadata=page[3]),
    ]


def test_records_carry_scalar_metadata_pages_and_positions():
    records = chunk_records(chunk(elements(), ChunkConfig(max_characters=300)), REF, "cfg123")

    assert [r["id"] for r in records] == [chunk_id(REF.source_url, i) for i in range(len(records))]
    assert len(records) >= 2 and records[0]["text"].startswith("Harbour dues")
    for index, record in enumerate(records):
        metadata = record["metadata"]
        assert all(isinstance(value, str | int | float | bool) for value in metadata.values()), metadata
        assert (metadata["chunk_index"], metadata["chunk_count"]) == (index, len(records))
        assert (metadata["source"], metadata["filename"], metadata["version"], metadata["ingest_config"]) == (
            REF.source_url,
            "a.pdf",
            "etag1",
            "cfg123",
        )
    assert records[0]["metadata"]["page_number"] == 1 and records[-1]["metadata"]["page_numbers"] == "2"
    assert "Title" in records[0]["metadata"]["element_types"]


def test_ids_depend_on_the_document_and_the_position_only():
    assert chunk_id("s3://b/x", 3) == chunk_id("s3://b/x", 3) != chunk_id("s3://b/y", 3)
    assert chunk_id("s3://b/x", 3).endswith("-00003")


def test_chunking_none_keeps_every_element_with_text():
    kept = chunk([*elements(), NarrativeText("   ")], ChunkConfig(strategy="none"))
    assert [element.text[:5] for element in kept] == ["Harbo", "Grain", "Berth", "Berth"]
