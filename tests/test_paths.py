from pathlib import PurePosixPath

import pytest

from ingest.errors import UnsafeKey
from ingest.paths import MAX_SEGMENT_BYTES, safe_relative_path


@pytest.mark.parametrize("key", ["a.pdf", "deep/er/a b.pdf", "ünïcode/名前.pdf", "x" * MAX_SEGMENT_BYTES])
def test_ordinary_keys_map_to_themselves(key):
    assert safe_relative_path(key) == PurePosixPath(key)


@pytest.mark.parametrize("key", ["", "../a", "a/../../b", "/abs", "a//b", "a/", "./a", "a\\b", "tab\there",
                                 "nul\x00", "bidi\u202e.pdf", "x" * (MAX_SEGMENT_BYTES + 1)])
def test_unsafe_keys_are_refused(key):
    with pytest.raises(UnsafeKey) as caught:
        safe_relative_path(key)
    assert caught.value.stage == "plan"


def test_unsafe_key_error_survives_pickling():
    import pickle

    error = pickle.loads(pickle.dumps(UnsafeKey("bad key")))
    assert (error.message, error.stage, error.error_type) == ("bad key", "plan", "UnsafeKey")
