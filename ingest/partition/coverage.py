"""Text coverage: how much of a PDF's text layer its elements hold, page by page.

Characters are compared as multisets after Unicode NFKC normalisation (ligatures and Arabic presentation forms fold
to their letters), whitespace and control characters aside, so that neither reading order nor spacing counts, only
text that is there or missing. A page that misses only a few characters is not judged lost.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from dataclasses import dataclass

from ingest.models import Coverage

LOST_BELOW = 0.8  # a page whose elements hold less of its text layer than this is partitioned again...
MIN_LOST = 20  # ...when they miss at least this many characters (a few odd glyphs in a text layer are no loss)
_SKIPPED = {"Cc", "Cf", "Cs", "Co", "Cn", "Zs", "Zl", "Zp"}


def characters(text: str) -> Counter:
    """The text's characters as a multiset: counted at C speed, then the few distinct ones that do not count
    (whitespace, control and format characters) dropped."""
    counts = Counter(unicodedata.normalize("NFKC", text))
    for char in [char for char in counts if char.isspace() or unicodedata.category(char) in _SKIPPED]:
        del counts[char]
    return counts


@dataclass(frozen=True)
class PageCoverage:
    layer: int  # characters in the page's text layer
    kept: int  # how many of those the page's elements hold

    @property
    def lost(self) -> bool:
        return self.layer - self.kept >= MIN_LOST and self.kept < LOST_BELOW * self.layer


def measure(layer_texts: list[str], elements: list) -> list[PageCoverage]:
    """Each page's coverage (index 0 is page 1)."""
    found: list[list[str]] = [[] for _ in layer_texts]
    for element in elements:
        page = (element.metadata.page_number or 1) - 1
        if 0 <= page < len(found):
            found[page].append(element.text)
    pages = []
    for text, held in zip(layer_texts, found, strict=True):
        layer = characters(text)
        pages.append(PageCoverage(sum(layer.values()), sum((layer & characters(" ".join(held))).values())))
    return pages


def summed(pages: list[PageCoverage], recovered: tuple[int, ...] = ()) -> Coverage:
    """A document's coverage from its pages'."""
    low = tuple(number for number, page in enumerate(pages, 1) if page.lost)
    return Coverage(sum(page.layer for page in pages), sum(page.kept for page in pages), recovered, low)
