"""Text and image encoders (transformers CLIP) and the open_clip → transformers conversion.

- :class:`TextEncoder`: the ModelScope T2V text tower (OpenCLIP ViT-H text transformer in transformers
  ``CLIPTextModel`` format). Prompts are padded to 77 tokens and the last hidden state is the
  conditioning (paper §3, §4; official-facts §2.1).
- :class:`ImageEncoder`: the APM image encoder (paper §4.2; official-facts §2.3), OpenCLIP ViT-H/14 vision
  tower as ``CLIPVisionModelWithProjection``, with the official preprocessing (kornia-style bicubic
  antialiased resize to 224 with ``align_corners=True``, ``[-1, 1] → [0, 1]``, OpenAI CLIP mean/std).
- :func:`convert_open_clip_visual`: open_clip ViT state-dict names → transformers names.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from transformers import (
    CLIPTextModel,
    CLIPVisionConfig,
    CLIPVisionModelWithProjection,
    PreTrainedTokenizerBase,
)

from streamt2v.config import VIT_H_HEAD_WIDTH
from streamt2v.models.tokenizers import unread_prompt_parts

OPENAI_CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
# open_clip CLIP parameters outside ``visual.`` that survive in the official checkpoint (the text
# transformer itself was deleted); they are not used by the APM.
OPEN_CLIP_TEXT_LEFTOVERS = (
    "token_embedding.weight",
    "positional_embedding",
    "ln_final.weight",
    "ln_final.bias",
    "text_projection",
    "logit_scale",
)


class TextEncoder(nn.Module):
    """Tokenizer + ``CLIPTextModel``; ``encode(prompts)`` returns ``(B, T, D)`` token embeddings.

    The conditioning is the text tower's ``last_hidden_state`` over prompts padded to
    ``max_length`` (77 for ModelScope), as in the ModelScope T2V pipeline (paper §3). The empty prompt
    ``""`` is the unconditional (negative) prompt used by classifier-free guidance (paper §10.1).
    ``tokenizer`` may be None (weights only); :meth:`encode` then raises.
    """

    def __init__(
        self,
        tokenizer: PreTrainedTokenizerBase | None,
        text_model: CLIPTextModel,
        max_length: int | None = None,
    ) -> None:
        super().__init__()
        self.tokenizer = tokenizer
        self.model = text_model
        positions = text_model.config.max_position_embeddings
        self.max_length = int(max_length if max_length is not None else positions)
        if not 1 <= self.max_length <= positions:
            raise ValueError(
                f"max_length={self.max_length} must be in [1, {positions}] "
                "(the text model's max_position_embeddings)"
            )

    @property
    def hidden_size(self) -> int:
        return int(self.model.config.hidden_size)

    @property
    def device(self) -> torch.device:
        return self.model.device

    @property
    def dtype(self) -> torch.dtype:
        return self.model.dtype

    def prompt_problems(self, prompt: str) -> list[str]:
        """What the text encoder will not read of ``prompt`` (:func:`unread_prompt_parts`); empty when it
        reads the whole prompt, or without a tokenizer."""
        if self.tokenizer is None or not prompt:
            return []
        return unread_prompt_parts(self.tokenizer, prompt, self.max_length, "the text encoder")

    @torch.no_grad()
    def encode(self, prompts: Sequence[str] | str) -> torch.Tensor:
        """Encode a batch of prompts → ``(B, max_length, hidden_size)`` (``""`` = unconditional)."""
        if isinstance(prompts, str):
            prompts = [prompts]
        prompts = list(prompts)
        if self.tokenizer is None:
            raise RuntimeError(
                "this text encoder has no tokenizer (a converted official checkpoint does not contain "
                "one): convert with --tokenizer pointing at a ModelScope folder, e.g. "
                "damo-vilab/text-to-video-ms-1.7b"
            )
        if not prompts or not all(isinstance(p, str) for p in prompts):
            raise ValueError(f"prompts must be a non-empty list of strings, got {prompts!r}")
        tokens = self.tokenizer(
            prompts,
            padding="max_length",
            max_length=self.max_length,
            truncation=True,
            return_tensors="pt",
        )
        input_ids = tokens.input_ids.to(self.model.device)  # (B, T)
        return self.model(input_ids).last_hidden_state  # (B, T, D)

    def forward(self, prompts: Sequence[str] | str) -> torch.Tensor:
        return self.encode(prompts)


def _gaussian_kernel1d(size: int, sigma: float, dtype: torch.dtype) -> torch.Tensor:
    x = torch.arange(size, dtype=dtype) - float(size // 2)
    if size % 2 == 0:
        x = x + 0.5
    g = torch.exp(-x.pow(2) / (2 * sigma**2))
    return g / g.sum()


def resize_antialiased_bicubic(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bicubic resize with ``align_corners=True``, blurring first when downscaling.

    Reproduces ``kornia.geometry.resize(x, size, "bicubic", align_corners=True, antialias=True)``
    (the official APM preprocessing): for a downscale factor ``f > 1`` per axis, a Gaussian blur with
    ``sigma = max((f - 1) / 2, 0.001)`` and odd kernel size ``max(int(4 sigma), 3)`` (reflect padding,
    separable) precedes the interpolation; upscaling is plain interpolation. ``x``: ``(B, C, H, W)``.
    """
    h, w = x.shape[-2:]
    factors = (h / size[0], w / size[1])
    if max(factors) > 1:
        sigmas = (max((factors[0] - 1.0) / 2.0, 0.001), max((factors[1] - 1.0) / 2.0, 0.001))
        ks = [int(max(2.0 * 2 * s, 3)) for s in sigmas]
        ks = [k + 1 if k % 2 == 0 else k for k in ks]
        c = x.shape[1]
        ky = _gaussian_kernel1d(ks[0], sigmas[0], x.dtype).to(x.device)
        kx = _gaussian_kernel1d(ks[1], sigmas[1], x.dtype).to(x.device)
        pad = (ks[1] // 2, ks[1] // 2, ks[0] // 2, ks[0] // 2)
        x = F.pad(x, pad, mode="reflect")
        x = F.conv2d(x, kx.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
        x = F.conv2d(x, ky.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)
    return F.interpolate(x, size=size, mode="bicubic", align_corners=True)


class ImageEncoder(nn.Module):
    """APM image encoder: frames ``(B, 3, H, W)`` in ``[-1, 1]`` → ``(B, projection_dim)`` embeddings.

    Paper §4.2 (APM): the CLIP image embedding of the anchor frame. Preprocessing as the official
    ``FrozenOpenCLIPImageEmbedder``: antialiased bicubic resize to the model's ``image_size``,
    ``(x + 1) / 2``, OpenAI CLIP mean/std; output = pooled (``ln_post`` of the class token), projected.
    """

    def __init__(self, vision_model: CLIPVisionModelWithProjection) -> None:
        super().__init__()
        self.model = vision_model
        self.register_buffer("mean", torch.tensor(OPENAI_CLIP_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(OPENAI_CLIP_STD).view(1, 3, 1, 1), persistent=False)

    @property
    def image_size(self) -> int:
        return int(self.model.config.image_size)

    @property
    def projection_dim(self) -> int:
        return int(self.model.config.projection_dim)

    def preprocess(self, frames: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` in ``[-1, 1]`` → normalized ``(B, 3, S, S)`` at the model's image size."""
        if frames.ndim != 4 or frames.shape[1] != 3:
            raise ValueError(f"frames must be (B, 3, H, W), got shape {tuple(frames.shape)}")
        s = self.image_size
        x = resize_antialiased_bicubic(frames, (s, s))
        x = (x + 1.0) / 2.0
        return (x - self.mean.to(x)) / self.std.to(x)

    @torch.no_grad()
    def encode(self, frames: torch.Tensor) -> torch.Tensor:
        """Pooled, projected CLIP embeddings ``(B, projection_dim)`` of frames in ``[-1, 1]``."""
        dtype = self.model.dtype
        x = self.preprocess(frames.to(device=self.model.device, dtype=dtype))
        return self.model(pixel_values=x).image_embeds

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return self.encode(frames)


def convert_open_clip_visual(
    state_dict: Mapping[str, torch.Tensor],
    prefix: str = "visual.",
    head_width: int = VIT_H_HEAD_WIDTH,
    missing: list[str] | None = None,
) -> tuple[CLIPVisionConfig, dict[str, torch.Tensor]]:
    """Convert an open_clip ViT vision tower to ``CLIPVisionModelWithProjection`` names and config.

    ``state_dict`` holds open_clip keys under ``prefix`` (e.g. ``"image_encoder.model.visual."`` for the
    official checkpoint); other keys are ignored. ``head_width`` (per-head size) is not stored in the
    weights: 80 for ViT-H-14, 64 for ViT-L/B; the number of heads is ``width // head_width``.
    The architecture (width, layers, MLP size, patch and image size, projection size) is read from the
    shapes. open_clip's exact GELU maps to ``hidden_act="gelu"``, its LayerNorm eps to 1e-5.
    ``missing``: a list to collect the open_clip keys that are absent (their tensors are left out of the
    result); without it an absent key raises. The keys the architecture is read from are always needed.
    """

    def get(name: str) -> torch.Tensor:
        try:
            return state_dict[prefix + name]
        except KeyError:
            raise ValueError(f"open_clip vision key {prefix + name!r} not found in the state dict") from None

    conv1 = get("conv1.weight")  # (W, 3, P, P)
    width, channels, patch, _ = conv1.shape
    pos = get("positional_embedding")  # (1 + (S/P)^2, W)
    grid = math.isqrt(pos.shape[0] - 1)
    if grid * grid != pos.shape[0] - 1:
        raise ValueError(f"{prefix}positional_embedding has {pos.shape[0]} rows, not 1 + a square number")
    proj = get("proj")  # (W, E), used as x @ proj
    # the number of blocks: the highest index of any block key (a block with a key missing still counts)
    block = re.compile(re.escape(prefix) + r"transformer\.resblocks\.(\d+)\.")
    indices = [int(m[1]) for k in state_dict if (m := block.match(k))]
    if not indices:
        raise ValueError(f"no {prefix}transformer.resblocks.* found")
    layers = max(indices) + 1
    if width % head_width != 0:
        raise ValueError(
            f"the image encoder's width {width} is not divisible by head_width={head_width} (--head-width: "
            f"open_clip's per-head width, {VIT_H_HEAD_WIDTH} for ViT-H-14, 64 for ViT-L/B)"
        )
    intermediate = get("transformer.resblocks.0.mlp.c_fc.weight").shape[0]
    config = CLIPVisionConfig(
        hidden_size=int(width),
        intermediate_size=int(intermediate),
        projection_dim=int(proj.shape[1]),
        num_hidden_layers=layers,
        num_attention_heads=int(width // head_width),
        num_channels=int(channels),
        image_size=int(grid * patch),
        patch_size=int(patch),
        hidden_act="gelu",
        layer_norm_eps=1e-5,
    )
    out: dict[str, torch.Tensor] = {
        "vision_model.embeddings.patch_embedding.weight": conv1,
        "vision_model.embeddings.position_embedding.weight": pos,
        "visual_projection.weight": proj.t().contiguous(),
    }

    def put(ours: str, name: str) -> None:
        if missing is not None and prefix + name not in state_dict:
            missing.append(prefix + name)
        else:
            out[ours] = get(name)

    put("vision_model.embeddings.class_embedding", "class_embedding")
    for ours, theirs in (("pre_layrnorm", "ln_pre"), ("post_layernorm", "ln_post")):
        put(f"vision_model.{ours}.weight", f"{theirs}.weight")
        put(f"vision_model.{ours}.bias", f"{theirs}.bias")
    for i in range(layers):
        src = f"transformer.resblocks.{i}."
        dst = f"vision_model.encoder.layers.{i}."
        for kind in ("weight", "bias"):
            name = f"{src}attn.in_proj_{kind}"
            if missing is not None and prefix + name not in state_dict:
                missing.append(prefix + name)
                continue
            for proj_name, t in zip(("q_proj", "k_proj", "v_proj"), get(name).chunk(3, dim=0)):
                out[f"{dst}self_attn.{proj_name}.{kind}"] = t.contiguous()
        pairs = {
            "attn.out_proj": "self_attn.out_proj",
            "ln_1": "layer_norm1",
            "ln_2": "layer_norm2",
            "mlp.c_fc": "mlp.fc1",
            "mlp.c_proj": "mlp.fc2",
        }
        for a, b in pairs.items():
            put(dst + b + ".weight", src + a + ".weight")
            put(dst + b + ".bias", src + a + ".bias")
    return config, out
