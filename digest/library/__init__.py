"""A reader's own library (BibTeX, RIS or CSL-JSON export) read into entries: the papers they
already read, which teach the ranker their taste and are never recommended back."""

from digest.library.formats import MAX_ENTRIES, Skipped
from digest.library.reading import (
    FORMATS,
    MAX_BYTES,
    LibraryRead,
    first_of_each,
    read_library,
)
from digest.library.writing import csl_json

__all__ = [
    "FORMATS",
    "MAX_BYTES",
    "MAX_ENTRIES",
    "LibraryRead",
    "Skipped",
    "csl_json",
    "first_of_each",
    "read_library",
]
