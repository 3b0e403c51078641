"""CLIP score — text–video alignment (paper §5.1; official-facts §7.2).

Per video: ``100 · mean_t cos(E_text(prompt), E_image(frame_t))``, the cosine similarity of the
prompt's CLIP text embedding with each frame's CLIP image embedding, averaged over all frames, times
100 (the paper reports 31.73 for StreamingT2V on this scale). No clipping at 0 is applied, so the
score lies in ``[-100, 100]``. The paper does not name its CLIP variant; any transformers CLIP works:
a ``CLIPModel`` folder or hub id, or a ``CLIPTextModelWithProjection`` + ``CLIPVisionModelWithProjection``
pair (e.g. the microworld micro-CLIP).

Preprocessing uses torch ops only: ``[-1, 1] → [0, 1]``, resize of the short side to the model's
``image_size`` (bicubic, antialiased), centre crop, CLIP mean/std normalisation.
"""

from __future__ import annotations

import json
import logging
import numbers
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from streamt2v.io.folders import home_path, named_path, read_json_object
from streamt2v.memory import resolve_device
from streamt2v.metrics.inputs import VideoLike, as_uint8_frames
from streamt2v.models.strict_loading import from_pretrained_strict
from streamt2v.wording import counted, singular_or_plural

logger = logging.getLogger(__name__)

OPENAI_CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def check_batch_size(batch_size: object, name: str = "batch_size") -> int:
    """``batch_size`` unless it is not an int ≥ 1 (``name``: the caller's argument, in the message)."""
    if not isinstance(batch_size, numbers.Integral) or isinstance(batch_size, bool):
        raise TypeError(f"{name} must be an int >= 1, got {type(batch_size).__name__} {batch_size!r}")
    if batch_size < 1:
        raise ValueError(f"{name} must be an int >= 1, got {batch_size}")
    return int(batch_size)


def check_prompt(prompt: object, name: str = "prompt") -> str:
    """``prompt`` unless it is not a non-empty ``str`` (the tokenizer fails obscurely on ``None``, and an
    empty prompt scores only the special tokens)."""
    if not isinstance(prompt, str):
        raise TypeError(f"{name} must be a non-empty str, got {type(prompt).__name__} {prompt!r}")
    if not prompt.strip():
        raise ValueError(f"{name} must be a non-empty str, got {prompt!r}")
    return prompt


def features_tensor(out: torch.Tensor | object, attr: str = "pooler_output") -> torch.Tensor:
    """transformers ≥ 5 returns model outputs from ``get_*_features``; older versions a tensor."""
    if isinstance(out, torch.Tensor):
        return out
    for name in (attr, "pooler_output"):
        value = getattr(out, name, None)
        if isinstance(value, torch.Tensor):
            return value
    raise TypeError(f"cannot read embeddings from {type(out).__name__}")


#: the most frame values converted to float at once before the resize to the model's size (64 MB float32)
_RESIZE_VALUES = 1 << 24


class ClipScorer:
    """A tokenizer and CLIP text/image towers that embed prompts and frames (unit-normalised)."""

    def __init__(
        self,
        tokenizer,
        model: nn.Module | None = None,
        text_model: nn.Module | None = None,
        vision_model: nn.Module | None = None,
        mean: Sequence[float] = OPENAI_CLIP_MEAN,
        std: Sequence[float] = OPENAI_CLIP_STD,
        device: str | torch.device | None = None,
    ) -> None:
        if model is None and (text_model is None or vision_model is None):
            raise ValueError("give either a CLIPModel or both text_model and vision_model")
        self.tokenizer = tokenizer
        self.device = torch.device("cpu") if device is None else resolve_device(device)
        self.model = model.eval().to(self.device) if model is not None else None
        self.text_model = text_model.eval().to(self.device) if text_model is not None else None
        self.vision_model = vision_model.eval().to(self.device) if vision_model is not None else None
        vcfg = model.config.vision_config if model is not None else vision_model.config
        tcfg = model.config.text_config if model is not None else text_model.config
        self.image_size = int(vcfg.image_size)
        self.max_length = int(tcfg.max_position_embeddings)
        self.mean = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
        self._checked_prompts: set[str] = set()

    def __repr__(self) -> str:
        # one line, as repr(Refiner): which form of CLIP, its input size and device
        parts = "one CLIPModel" if self.model is not None else "text and vision models"
        return f"ClipScorer({parts}, {self.image_size}x{self.image_size} px, {self.device})"

    def prompt_problems(self, prompt: str) -> list[str]:
        """What this CLIP will not read of ``prompt`` (:func:`unread_prompt_parts`); empty when it reads the
        whole prompt."""
        from streamt2v.models.tokenizers import unread_prompt_parts

        return unread_prompt_parts(self.tokenizer, prompt, self.max_length, "CLIP")

    def warn_unread(self, prompt: str) -> None:
        """Log, once per prompt, what :meth:`prompt_problems` finds: a score for words CLIP cannot read
        measures the words it can, with nothing else to say so."""
        if prompt in self._checked_prompts:
            return
        self._checked_prompts.add(prompt)
        problems = self.prompt_problems(prompt)
        if problems:
            logger.warning("CLIP score prompt %r: %s", prompt, "; ".join(problems))

    @torch.no_grad()
    def embed_text(self, prompts: Sequence[str]) -> torch.Tensor:
        """``(N, D)`` unit text embeddings."""
        tok = self.tokenizer(
            list(prompts), padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
        )
        tok = {k: v.to(self.device) for k, v in tok.items() if k in ("input_ids", "attention_mask")}
        if self.model is not None:
            emb = features_tensor(self.model.get_text_features(**tok), "pooler_output")
        else:
            emb = features_tensor(self.text_model(**tok), "text_embeds")
        return F.normalize(emb.float(), dim=-1)

    def preprocess(self, frames: torch.Tensor) -> torch.Tensor:
        """``(N, 3, H, W)`` in ``[-1, 1]`` → normalised ``(N, 3, S, S)`` with ``S = image_size``."""
        x = frames.float().add(1).div_(2)  # one float copy (in place after it): frames may be 4K
        h, w = x.shape[-2:]
        s = self.image_size
        scale = s / min(h, w)
        nh, nw = max(s, round(h * scale)), max(s, round(w * scale))
        if (nh, nw) != (h, w):
            x = F.interpolate(x, size=(nh, nw), mode="bicubic", align_corners=False, antialias=True)
        top, left = (nh - s) // 2, (nw - s) // 2
        x = x[..., top : top + s, left : left + s].clamp(0, 1)
        return (x - self.mean) / self.std

    @torch.no_grad()
    def embed_frames(self, frames: np.ndarray, batch_size: int = 32) -> torch.Tensor:
        """uint8 ``(T, H, W, 3)`` → ``(T, D)`` unit image embeddings, ``batch_size`` frames at a time."""
        batch_size = check_batch_size(batch_size)
        # frames are resized a few at a time (at most _RESIZE_VALUES values): in float32 a batch of 32 4K
        # frames is 3.2 GB a copy, and 20 of them peaked at 6.8 GB; the model sees batch_size frames
        step = max(1, _RESIZE_VALUES // max(1, int(np.prod(frames.shape[1:]))))
        out = []
        for i in range(0, len(frames), batch_size):
            batch = frames[i : i + batch_size]
            x = torch.cat([self._pixel_values(batch[j : j + step]) for j in range(0, len(batch), step)])
            x = x.to(self.device)
            if self.model is not None:
                emb = features_tensor(self.model.get_image_features(pixel_values=x), "pooler_output")
            else:
                emb = features_tensor(self.vision_model(pixel_values=x), "image_embeds")
            out.append(F.normalize(emb.float(), dim=-1).cpu())
        return torch.cat(out)

    def _pixel_values(self, frames: np.ndarray) -> torch.Tensor:
        """uint8 ``(N, H, W, 3)`` → the model's normalised ``(N, 3, S, S)`` (:meth:`preprocess`)."""
        x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2)
        return self.preprocess(x.float().div_(127.5).sub_(1))

    def score(self, video: VideoLike, prompt: str, batch_size: int = 32) -> float:
        """CLIP score of one video and its prompt: ``100 · mean_t cos`` in ``[-100, 100]``."""
        check_prompt(prompt)
        check_batch_size(batch_size)
        frames = as_uint8_frames(video, min_frames=1)
        self.warn_unread(prompt)
        text = self.embed_text([prompt]).cpu()  # (1, D)
        img = self.embed_frames(frames, batch_size=batch_size)  # (T, D)
        return float(100.0 * (img @ text[0]).mean())


#: ``load_clip`` name of the shipped micro-CLIP (``streamt2v.assets.microworld_clip_dir``).
MICROWORLD = "microworld"


def load_clip(model: str | os.PathLike, device: str | torch.device | None = None) -> ClipScorer:
    """Load a CLIP for scoring from a local folder, a hub id, or ``"microworld"`` (the shipped micro-CLIP,
    the CLIP-score model of the microworld: meaningful for microworld videos only).

    A folder holds either a ``CLIPModel`` (``config.json`` with ``model_type: clip``) and its tokenizer,
    or subfolders ``text/`` (``CLIPTextModelWithProjection`` + tokenizer) and ``vision/``
    (``CLIPVisionModelWithProjection``), loaded in float32. A missing folder raises ``FileNotFoundError``.
    """
    from transformers import (
        CLIPModel,
        CLIPTextModelWithProjection,
        CLIPVisionModelWithProjection,
    )

    device = None if device is None else resolve_device(device)  # an absent GPU named before any loading
    spec = str(model)
    path = home_path(spec)
    if spec == MICROWORLD and not path.exists():
        from streamt2v.assets import microworld_clip_dir

        path = microworld_clip_dir()
    if path.is_dir():
        from streamt2v.models.tokenizers import load_tokenizer

        mean, std = OPENAI_CLIP_MEAN, OPENAI_CLIP_STD
        for pre in (path / "preprocessor_config.json", path / "vision" / "preprocessor_config.json"):
            if pre.is_file():
                cfg = read_json_object(pre, "CLIP preprocessor config")
                mean, std = cfg.get("image_mean", mean), cfg.get("image_std", std)
        if (path / "text").is_dir() and (path / "vision").is_dir():
            # transformers builds a tokenizer of special tokens only, silently, from a folder without a
            # vocabulary: every prompt would then score the same
            return ClipScorer(
                load_tokenizer(path / "text", what="CLIP tokenizer folder"),
                text_model=from_pretrained_strict(
                    CLIPTextModelWithProjection, path / "text", "CLIP text folder", dtype=torch.float32
                ),
                vision_model=from_pretrained_strict(
                    CLIPVisionModelWithProjection, path / "vision", "CLIP vision folder", dtype=torch.float32
                ),
                mean=mean,
                std=std,
                device=device,
            )
        # `train clip` writes its scorer to final/clip/, beside the parts the other recipes take; the run
        # folder itself has a config.json too (the run's), which is no CLIPModel's
        inside = sorted(
            str(p.parent)
            for pattern in ("*/config.json", "*/*/config.json")
            for p in path.glob(pattern)
            if _is_clip_model(p)
        )
        hint = f"; {inside[0]!r} holds one: pass that" if inside else ""
        if not (path / "config.json").is_file():
            raise FileNotFoundError(
                f"no CLIP weights in {str(path)!r}: expected config.json + weights (a CLIPModel) "
                f"or text/ and vision/ subfolders{hint}"
            )
        if inside and not _is_clip_model(path / "config.json"):
            raise FileNotFoundError(
                f"{str(path)!r} is no CLIP folder (its config.json is not a CLIPModel's){hint}"
            )
        return ClipScorer(
            load_tokenizer(path, what="CLIP folder"),
            model=from_pretrained_strict(CLIPModel, path, "CLIP folder", dtype=torch.float32),
            mean=mean,
            std=std,
            device=device,
        )
    if path.exists():
        raise NotADirectoryError(
            f"CLIP model {named_path(spec)} is a file; give a transformers CLIP folder (config.json, weights, tokenizer)"
        )
    if spec.startswith((".", "/", "~")) or spec.count("/") > 1:
        raise FileNotFoundError(f"CLIP weights folder not found: {named_path(spec)}")
    return load_clip(_hub_snapshot(spec), device)


def _is_clip_model(config_file: Path) -> bool:
    try:
        return json.loads(config_file.read_text()).get("model_type") == "clip"
    except (OSError, ValueError, AttributeError):
        return False


# the files of a CLIP hub repo a scorer reads (not its TensorFlow/Flax/ONNX copies of the weights)
_CLIP_FILES = ["*.json", "*.txt", "*.model"]


def _hub_snapshot(hub_id: str) -> Path:
    """The local snapshot of a CLIP hub repo such as ``openai/clip-vit-large-patch14``: its safetensors
    weights, or its pickled ones where it has none. One quick error when the hub cannot be reached
    (transformers' own download retried for most of a minute first)."""
    from streamt2v.io.hub import resolve_model_path

    def fetch(weights: str) -> Path:
        return resolve_model_path(
            hub_id,
            "CLIP model",
            "a transformers CLIP folder: config.json, weights, tokenizer",
            allow_patterns=[*_CLIP_FILES, weights],
        )

    folder = fetch("*.safetensors")
    return folder if any(folder.glob("*.safetensors")) else fetch("pytorch_model.bin")


def clip_score(
    videos: Sequence[VideoLike] | VideoLike,
    prompts: Sequence[str] | str,
    clip_model: ClipScorer | str | os.PathLike | None = None,
    batch_size: int = 32,
    *,
    model: ClipScorer | str | os.PathLike | None = None,
) -> list[float] | float:
    """CLIP score(s) (paper §5.1): one video and one prompt → a float; lists → a list (same length; a
    ``(B, 3, T, H, W)`` tensor is a list of B videos). ``clip_model``: a CLIP folder, hub id, ``"microworld"``
    or a :class:`ClipScorer`, as :func:`~streamt2v.metrics.evaluate.evaluate_videos` takes it; ``model=`` is
    its earlier name, still taken."""
    if model is not None and clip_model is not None:
        raise TypeError(
            "clip_score() takes the CLIP as clip_model= or as model= (its earlier name), not both"
        )
    clip_model = model if clip_model is None else clip_model
    if clip_model is None:
        raise TypeError(
            "clip_score() needs clip_model= (a CLIP folder, a hub id, 'microworld' or a ClipScorer)"
        )
    single = isinstance(prompts, str)
    if isinstance(videos, (list, tuple)) and not videos:
        raise ValueError(
            f"videos is an empty {type(videos).__name__}: give a video, or a list of at least one"
        )
    if single and isinstance(videos, (list, tuple)):  # not one video: wrapped, it read as a list "video"
        n = len(videos)
        raise TypeError(  # as evaluate_videos' checked_prompts refuses a single str for a list
            f"{counted(n, 'video')} in a list {singular_or_plural(n, 'needs', 'need')} "
            f"{counted(n, 'prompt')} in a list, one per video; got the single str {prompts!r}"
        )
    if single:
        videos, prompts = [videos], [prompts]
    elif not isinstance(prompts, Sequence):
        raise TypeError(
            f"prompts must be a non-empty str or a list of them, got {type(prompts).__name__} {prompts!r}"
        )
    elif isinstance(videos, (str, os.PathLike)) or (
        isinstance(videos, (np.ndarray, torch.Tensor)) and videos.ndim < 5
    ):
        videos = [videos]  # one video with a list of prompts: not its characters, frames or channels
    videos, prompts = list(videos), list(prompts)
    if len(videos) != len(prompts):
        raise ValueError(
            f"got {counted(len(videos), 'video')} but {counted(len(prompts), 'prompt')}; "
            "give one prompt per video"
        )
    # before loading the model and scoring anything
    for i, p in enumerate(prompts):
        check_prompt(p, "prompt" if single else f"prompts[{i}]")
    check_batch_size(batch_size)
    scorer = clip_model if isinstance(clip_model, ClipScorer) else load_clip(clip_model)
    scores = [scorer.score(v, p, batch_size=batch_size) for v, p in zip(videos, prompts)]
    return scores[0] if single else scores
