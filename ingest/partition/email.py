"""An email read part by part, for when unstructured fails on the whole message because of one attachment (an audio
file wants a speech-to-text model, say): the body and the readable attachments are kept, each unread attachment is
named with its reason. unstructured's own reading is used whenever it succeeds."""

from __future__ import annotations

import io
from email import policy
from email.message import Message
from email.parser import BytesParser
from pathlib import Path


def is_email(path: Path) -> bool:
    from unstructured.file_utils.filetype import detect_filetype
    from unstructured.file_utils.model import FileType

    try:
        return detect_filetype(file_path=str(path)) == FileType.EML
    except Exception:  # noqa: BLE001 - not a type unstructured can tell: not an email
        return False


def partition_by_part(path: Path, filename: str, options: dict) -> tuple[list, tuple[str, ...]]:
    """The message's body and each attachment partitioned apart; ``(elements, why each unread part is unread)``."""
    from unstructured.partition.auto import partition
    from unstructured.partition.common.metadata import mark_as_attachment_element

    elements = partition(filename=str(path), metadata_filename=filename, process_attachments=False, **options)
    unread = []
    message = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
    for attachment in message.iter_attachments():
        name = attachment.get_filename() or attachment.get_content_type()
        try:
            parts = partition(file=io.BytesIO(_bytes(attachment)), metadata_filename=name, **options)
        except Exception as exc:  # noqa: BLE001 - this part is lost, and said to be; the rest is kept
            detail = (str(exc).strip().splitlines() or [""])[0][:200]
            unread.append(f"attachment {name!r} not read ({type(exc).__name__}: {detail})")
            continue
        for element in parts:
            element.metadata.attached_to_filename = filename
            mark_as_attachment_element(element)
        elements += parts
    return elements, tuple(unread)


def _bytes(attachment: Message) -> bytes:
    content = attachment.get_content()
    if isinstance(content, str):
        return content.encode("utf-8")
    if isinstance(content, Message):
        return content.as_bytes()
    return content
