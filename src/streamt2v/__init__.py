"""streamt2v: StreamingT2V long text-to-video generation (arXiv 2403.14773).

Public names are imported lazily so that ``import streamt2v`` stays cheap and touches no device.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it
_PUBLIC: dict[str, str] = {
    "ModelConfig": "streamt2v.config",
    "UNetConfig": "streamt2v.config",
    "StreamingConfig": "streamt2v.config",
    "PRESETS": "streamt2v.config",
    "get_preset": "streamt2v.config",
    "StreamingT2VModel": "streamt2v.models.bundle",
    "StreamingUNet": "streamt2v.models.unet",
    "StreamingT2VPipeline": "streamt2v.pipeline.generate",
    "GenerateConfig": "streamt2v.pipeline.generate",
    "generate": "streamt2v.pipeline.generate",
    "resume_generate": "streamt2v.pipeline.resume",
    "StreamConfig": "streamt2v.pipeline.stream_config",
    "Chunk": "streamt2v.pipeline.stream",
    "StreamState": "streamt2v.pipeline.stream",
    "PromptSchedule": "streamt2v.pipeline.prompts",
    "load_schedule": "streamt2v.pipeline.prompts",
    "EnhanceConfig": "streamt2v.pipeline.enhance_config",
    "Refiner": "streamt2v.pipeline.refiner",
    "enhance_video": "streamt2v.pipeline.enhance",
    "convert_official_checkpoint": "streamt2v.io.checkpoints",
    "read_video": "streamt2v.io.video",
    "write_video": "streamt2v.io.video",
    "read_image": "streamt2v.io.video",
}

__all__ = sorted(_PUBLIC) + ["__version__"]


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'streamt2v' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    """The public names too (lazy, so not yet in the module's namespace: tab completion in a notebook did not
    offer them), and the subpackages imported so far; not this file's helpers (``importlib``, ``Any``)."""
    here = globals()
    own = (
        n for n, v in here.items() if isinstance(v, type(importlib)) and v.__name__.startswith(f"{__name__}.")
    )
    return sorted({*__all__, *(n for n in here if n.startswith("__")), *own})
