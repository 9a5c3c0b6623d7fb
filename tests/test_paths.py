from pathlib import PurePosixPath

import pytest

from ingest.errors import ConfigError, DocumentError, EmptyDocument, ListingError, UnsafeKey
from ingest.paths import MAX_SEGMENT_BYTES, OutputClaims, download_name, safe_relative_path
from ingest.workset import WorkSet


@pytest.mark.parametrize("key", ["a.pdf", "deep/er/a b.pdf", "ünïcode/名前.pdf", "x" * MAX_SEGMENT_BYTES])
def test_ordinary_keys_map_to_themselves(key):
    assert safe_relative_path(key) == PurePosixPath(key)


@pytest.mark.parametrize(
    "key",
    [
        "",
        "../a",
        "a/../../b",
        "/abs",
        "a//b",
        "a/",
        "./a",
        "a\\b",
        "tab\there",
        "nul\x00",
        "bidi\u202e.pdf",
        "x" * (MAX_SEGMENT_BYTES + 1),
    ],
)
def test_unsafe_keys_are_refused(key):
    with pytest.raises(UnsafeKey) as caught:
        safe_relative_path(key)
    assert caught.value.stage == "plan"


def test_unsafe_key_error_survives_pickling():
    import pickle

    error = pickle.loads(pickle.dumps(UnsafeKey("bad key")))
    assert (error.message, error.stage, error.error_type) == ("bad key", "plan", "UnsafeKey")


@pytest.mark.parametrize(
    "error",
    [
        DocumentError("the PDF is encrypted", "partition", "EncryptedPDF"),
        DocumentError("S3 did not answer", "fetch", "ReadTimeoutError", transient=True),
        EmptyDocument("no text"),
        ConfigError("no bucket"),
        ListingError("listing broke off"),
    ],
)
def test_errors_cross_process_borders_with_their_attributes(error):
    import pickle

    import dill

    for serializer in (pickle, dill):
        copy = serializer.loads(serializer.dumps(error))
        assert type(copy) is type(error) and vars(copy) == vars(error) and str(copy) == str(error)


def test_download_names_never_collide_and_keep_the_extension():
    keys = ["x", "x/y", "A.pdf", "a.pdf", "../../etc/passwd", "/abs.pdf", "d/" + "n" * 400 + ".docx", "odd.\x01"]
    names = [download_name(key) for key in keys]
    assert len(set(names)) == len(keys)
    assert all("/" not in name and len(name) <= 48 for name in names)
    assert [name.partition(".")[2] for name in names] == ["", "", "pdf", "pdf", "", "pdf", "docx", ""]


def test_output_claims_refuse_what_a_case_insensitive_file_system_would_merge():
    claims = OutputClaims(WorkSet())
    for key in ["Report.pdf", "cafe\u0301.txt", "x", "x/y", "deep/dir/a.txt"]:
        claims.claim(key, PurePosixPath(key))
    claims.claim("x", PurePosixPath("x"))  # the same key again is no collision
    for key in ["report.pdf", "REPORT.PDF", "caf\u00e9.txt", "x.json/z", "DEEP/dir/a.txt", "deep/dir/a.txt.json"]:
        if key == "deep/dir/a.txt.json":
            claims.claim(key, PurePosixPath(key))  # its outputs end .json.json: no clash
            continue
        with pytest.raises(UnsafeKey) as caught:
            claims.claim(key, PurePosixPath(key))
        assert caught.value.error_type == "KeyCollision"
