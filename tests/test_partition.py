"""What unstructured reads badly, read well: an email with an unreadable attachment, UTF-8 text."""

from __future__ import annotations

from ingest.config import PartitionConfig
from ingest.partition import partition_file


def test_an_unreadable_attachment_costs_only_itself(corpus):
    done = partition_file(corpus / "mixed" / "mime-attach-mp3.eml", "mail.eml", PartitionConfig())

    assert [element.text for element in done.elements] == ["This is an email with an MP3 attachment."]
    assert len(done.unread) == 1 and done.unread[0].startswith("attachment 'sample-3s.mp3' not read (RuntimeError: ")


def test_readable_attachments_are_read_as_unstructured_reads_them(corpus):
    done = partition_file(corpus / "mixed" / "fake-email-attachment.eml", "mail.eml", PartitionConfig())
    assert done.unread == () and "Hey this is a fake attachment!" in [element.text for element in done.elements]


def test_utf8_text_comes_out_as_the_text_it_is(tmp_path):
    text = "Ĳsselmeer — 1997–98: £1,000,000, «naïve», 東京, Zoë."
    path = tmp_path / "notes.txt"
    path.write_text(text, encoding="utf-8")
    assert [element.text for element in partition_file(path, "notes.txt", PartitionConfig()).elements] == [text]
