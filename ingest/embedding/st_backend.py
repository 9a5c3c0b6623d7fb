"""sentence-transformers on torch: fp32, or bf16 under ``torch.autocast`` (fast only where the CPU has bf16 in
hardware)."""

from __future__ import annotations

import contextlib

from ingest.embedding import load_error, model_location


def sentence_transformer(name: str, device: str):
    """The model, loaded quietly; ConfigError when it cannot be."""
    import transformers
    from sentence_transformers import SentenceTransformer

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    try:
        return SentenceTransformer(model_location(name), device=device)
    except Exception as exc:  # noqa: BLE001 - any failure to load is a configuration problem
        raise load_error(name, exc) from None


class SentenceEmbedder:
    def __init__(self, name: str, device: str, backend: str = "torch", batch_size: int = 64):
        self.model = sentence_transformer(name, device)
        self.name, self.device, self.backend, self.batch_size = name, device, backend, batch_size
        self.dimension = self.model.get_embedding_dimension()
        self.encoded = 0

    def encode(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        import torch

        self.encoded += len(texts)
        arithmetic = (
            torch.autocast(self.device, dtype=torch.bfloat16) if self.backend == "bf16" else contextlib.nullcontext()
        )
        with arithmetic, torch.inference_mode():
            vectors = self.model.encode(texts, batch_size=self.batch_size, convert_to_tensor=True)
        return vectors.float().cpu().numpy().tolist()
