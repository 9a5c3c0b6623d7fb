"""onnxruntime: the model's transformer exported from its local folder once, optimized by onnxruntime's
transformer optimizer (fused attention, layer norms, GELU), for onnx-int8 its weights quantized dynamically
(int8, per channel); cached under ~/.cache/ingest/onnx/. Tokenizing, pooling and normalizing stay
sentence-transformers' own modules, so only the transformer's arithmetic changes."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ingest.config import cache_dir
from ingest.embedding import load_error, threads
from ingest.embedding.st_backend import sentence_transformer
from ingest.errors import ConfigError

log = logging.getLogger(__name__)

RECIPE = 1  # change it when the export changes: older cached models are then not used


def _key(folder: Path) -> str:
    """The cache entry of a model folder: its files (name, size, time) and the versions that make the export."""
    import onnxruntime
    import torch

    files = sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in folder.iterdir() if p.is_file())
    made_by = (RECIPE, torch.__version__, onnxruntime.__version__, str(folder.resolve()), files)
    return hashlib.sha256(repr(made_by).encode()).hexdigest()[:16]


def _export(model, names: list[str], target: Path) -> None:
    """The transformer, with attention written out (eager) so that the optimizer can fuse it."""
    import torch

    class Hidden(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, *inputs):
            return self.model(**dict(zip(names, inputs, strict=True))).last_hidden_state

    sample = tuple(torch.ones(2, 8, dtype=torch.long) for _ in names)
    axes = {name: {0: "batch", 1: "tokens"} for name in [*names, "last_hidden_state"]}
    torch.onnx.export(
        Hidden(), sample, str(target), input_names=names, output_names=["last_hidden_state"],
        dynamic_axes=axes, opset_version=17, dynamo=False,
    )  # fmt: skip


def _build(folder: Path, names: list[str], target: Path) -> None:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.transformers.optimizer import optimize_model
    from transformers import AutoModel

    model = AutoModel.from_pretrained(folder, attn_implementation="eager").eval()
    _export(model, names, target / "exported.onnx")
    optimized = optimize_model(
        str(target / "exported.onnx"),
        model_type="bert",
        num_heads=model.config.num_attention_heads,
        hidden_size=model.config.hidden_size,
        opt_level=1,
    )
    optimized.save_model_to_file(str(target / "model.onnx"))
    (target / "exported.onnx").unlink()
    quantize_dynamic(
        target / "model.onnx",
        target / "model-int8.onnx",
        weight_type=QuantType.QInt8,
        per_channel=True,
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )


@contextmanager
def _quiet() -> Iterator[None]:
    """The exporter's tracing warnings and the quantizer's advice (on the root logger) kept off a user's terminal."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        root.setLevel(level)


def built_models(folder: Path, names: list[str]) -> Path:
    """The folder of the model's ONNX files, built on first use (a minute at most) and then reused; processes
    that build it at once each build their own copy and the first in place wins."""
    target = cache_dir() / "onnx" / _key(folder)
    if (target / "model-int8.onnx").is_file():
        return target
    log.warning("building the ONNX model of %s once, in %s", folder.name, target)
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=target.parent, prefix=".build-"))
    try:
        with _quiet():
            _build(folder, names, work)
        os.replace(work, target)
    except OSError:
        if not (target / "model-int8.onnx").is_file():
            raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


class OnnxEmbedder:
    def __init__(self, name: str, device: str, backend: str = "onnx", batch_size: int = 64):
        import onnxruntime
        import torch

        self.model = sentence_transformer(name, "cpu")  # its tokenizer and pooling; the transformer runs in ONNX
        self.name, self.device, self.backend, self.batch_size = name, device, backend, batch_size
        self.dimension = self.model.get_embedding_dimension()
        self.encoded = 0
        sample = self.model.preprocess(["a"])
        self.inputs = [key for key, value in sample.items() if isinstance(value, torch.Tensor)]
        providers = {"cpu": ["CPUExecutionProvider"], "cuda": ["CUDAExecutionProvider"]}[device]
        if not set(providers) <= set(onnxruntime.get_available_providers()):
            raise ConfigError(
                f"--embedding-backend {backend} on {device}: this onnxruntime has no {providers[0]}; "
                "use --embedding-backend torch"
            )
        try:
            folder = built_models(Path(self.model[0].auto_model.config.name_or_path), self.inputs)
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = threads()
            options.log_severity_level = 3
            file = "model-int8.onnx" if backend == "onnx-int8" else "model.onnx"
            self.session = onnxruntime.InferenceSession(str(folder / file), options, providers=providers)
        except Exception as exc:  # noqa: BLE001 - a model that cannot be exported is a configuration problem
            raise load_error(name, exc) from None

    def encode(self, texts: list[str]) -> list[list[float]]:
        import numpy as np
        import torch

        self.encoded += len(texts)
        order = np.argsort([-len(text) for text in texts], kind="stable")  # batches of like lengths pad little
        vectors = np.empty((len(texts), self.dimension), dtype=np.float32)
        for start in range(0, len(texts), self.batch_size):
            batch = order[start : start + self.batch_size]
            features = self.model.preprocess([texts[i] for i in batch])
            feed = {name: features[name].numpy() for name in self.inputs}
            features["token_embeddings"] = torch.from_numpy(self.session.run(None, feed)[0])
            with torch.inference_mode():
                for module in list(self.model)[1:]:  # pooling, normalizing
                    features = module(features)
            vectors[batch] = features["sentence_embedding"].numpy()
        return vectors.tolist()
