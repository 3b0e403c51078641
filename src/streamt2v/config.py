"""Frozen configuration dataclasses and the named architecture presets.

Architecture configs describe networks (paper §4, appendix Tab. 12; official values in
``docs/official-facts.md`` §2). Runtime configs (stream, enhance, train) live next to the stage that reads
them.
"""

from __future__ import annotations

import typing
from dataclasses import asdict, dataclass, field, fields, is_dataclass, replace
from typing import Any

# the dtype names the flags and settings take (memory.DTYPES maps them and their aliases to torch dtypes)
DTYPE_NAMES = ("fp32", "fp16", "bf16")


@dataclass(frozen=True)
class UNetConfig:
    """The ModelScope T2V video UNet (diffusers ``UNet3DConditionModel`` arguments)."""

    in_channels: int = 4
    out_channels: int = 4
    block_out_channels: tuple[int, ...] = (320, 640, 1280, 1280)
    down_block_types: tuple[str, ...] = (
        "CrossAttnDownBlock3D",
        "CrossAttnDownBlock3D",
        "CrossAttnDownBlock3D",
        "DownBlock3D",
    )
    up_block_types: tuple[str, ...] = (
        "UpBlock3D",
        "CrossAttnUpBlock3D",
        "CrossAttnUpBlock3D",
        "CrossAttnUpBlock3D",
    )
    layers_per_block: int = 2
    # Used by diffusers as the per-head *dimension* (heads = C // attention_head_dim).
    attention_head_dim: int = 64
    cross_attention_dim: int = 1024
    norm_num_groups: int = 32
    norm_eps: float = 1e-5
    sample_size: int = 32

    def to_diffusers(self) -> dict[str, Any]:
        """Keyword arguments for ``diffusers.UNet3DConditionModel``."""
        d = asdict(self)
        for key in ("block_out_channels", "down_block_types", "up_block_types"):
            d[key] = list(d[key])
        return d


@dataclass(frozen=True)
class StreamingConfig:
    """CAM (short-term memory) and APM (long-term memory) sizes, paper §4.1–4.2."""

    # E_cond channel ladder; its zero-initialised conv_out maps to block_out_channels[0].
    cond_embedding_channels: tuple[int, ...] = (32, 96, 256, 512)
    num_cond_frames: int = 8  # F_cond: frames of the previous chunk the CAM sees
    num_frames: int = 16  # F: frames per chunk
    merger_head_dim: int = 64  # T-MHA heads = C // merger_head_dim (fixed 64 in the official code)
    merger_norm_groups: int = 32
    merger_norm_eps: float = 1e-6
    num_text_tokens: int = 77
    num_image_tokens: int = 16
    image_embed_dim: int = 1024  # projected CLIP image embedding fed to the resampler
    resampler_inner_dim: int = 1280


# open_clip's ViT-H-14 per-head width (the official APM image encoder); a state dict does not store it.
VIT_H_HEAD_WIDTH = 80


@dataclass(frozen=True)
class ModelConfig:
    """A whole architecture: the video UNet, the CAM/APM extension and the pixel/latent geometry."""

    name: str
    unet: UNetConfig = field(default_factory=UNetConfig)
    streaming: StreamingConfig = field(default_factory=StreamingConfig)
    frame_size: int = 256  # pixels (square), base stage
    vae_scale_factor: int = 8  # pixels per latent pixel

    @property
    def latent_size(self) -> int:
        return self.frame_size // self.vae_scale_factor

    def replace(self, **changes: Any) -> ModelConfig:
        return replace(self, **changes)


PRESETS: dict[str, ModelConfig] = {
    "modelscope-1.7b": ModelConfig(name="modelscope-1.7b"),
    # Small enough for CPU tests, large enough to exercise every block type, a channel change,
    # 1- and 2-head mergers and APM in down, mid and up blocks.
    "tiny": ModelConfig(
        name="tiny",
        unet=UNetConfig(
            block_out_channels=(32, 64),
            down_block_types=("CrossAttnDownBlock3D", "DownBlock3D"),
            up_block_types=("UpBlock3D", "CrossAttnUpBlock3D"),
            layers_per_block=1,
            attention_head_dim=8,
            cross_attention_dim=32,
            norm_num_groups=8,
            sample_size=8,
        ),
        streaming=StreamingConfig(
            cond_embedding_channels=(8, 16, 16, 32),
            merger_head_dim=32,
            merger_norm_groups=8,
            num_text_tokens=16,
            num_image_tokens=4,
            image_embed_dim=32,
            resampler_inner_dim=32,
        ),
        frame_size=64,
        vae_scale_factor=8,
    ),
}
# The next size up for the microworld, for a GPU: 1.5x tiny's channels (2.1x its UNet parameters). A tiny
# UNet step is launch-bound on an H200, so this one costs little more there, and on 2 CPU cores a 16-frame
# forward at 8x8 latents takes about as long as tiny's.
PRESETS["small"] = PRESETS["tiny"].replace(
    name="small",
    unet=replace(PRESETS["tiny"].unet, block_out_channels=(48, 96)),
    streaming=replace(PRESETS["tiny"].streaming, merger_head_dim=48),
)
# The presets, smallest first (the CPU memory refusal advises the smaller ones): a new preset goes here too.
PRESETS_BY_SIZE: tuple[str, ...] = ("tiny", "small", "modelscope-1.7b")


def get_preset(name: str) -> ModelConfig:
    """Return the named architecture preset, or raise naming the allowed ones."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(
            f"unknown model preset {name!r}; choose one of {', '.join(sorted(PRESETS))}"
        ) from None


# --- reading a config from JSON ------------------------------------------------------------------------------


def _json_value(value: Any, kind: Any) -> Any:
    """``value`` read from JSON as a field of type ``kind`` (int, float, str or ``tuple[X, ...]``), or
    raise ``TypeError`` saying what it must be. Numbers must be positive: no size or epsilon is 0."""
    if typing.get_origin(kind) is tuple:
        (item, _) = typing.get_args(kind)
        try:
            if not isinstance(value, list) or not value:
                raise TypeError
            return tuple(_json_value(v, item) for v in value)
        except TypeError:
            raise TypeError(f"a non-empty list of {_json_kind(item)}s") from None
    if kind is str:
        if not isinstance(value, str) or not value:
            raise TypeError("a non-empty string")
        return value
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise TypeError("a positive integer")
        return value
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise TypeError("a positive number")
        return float(value)
    raise AssertionError(f"no JSON reader for a field of type {kind}")


def _json_kind(kind: Any) -> str:
    return {int: "positive integer", float: "positive number", str: "non-empty string"}[kind]


def config_from_json(cls: type, data: Any, where: str, prefix: str = "") -> Any:
    """``cls`` (a config dataclass: :class:`ModelConfig`, :class:`UNetConfig`, :class:`StreamingConfig`) from
    its JSON object (what ``asdict`` of it gives, lists for tuples), every field given and of its type. A
    ``ValueError`` of one line naming ``where`` (the file) and the field otherwise; ``prefix`` is the path of
    ``data`` in that file (``"streamt2v.model_config."`` in a model folder's ``model_index.json``)."""
    names = [f.name for f in fields(cls)]
    if not isinstance(data, dict):
        raise ValueError(f"{where}: {prefix.rstrip('.')!r} must be a JSON object of {', '.join(names)}")
    for key in data:
        if key not in names:
            raise ValueError(
                f"{where}: unknown field {prefix + key!r} (the fields of {prefix.rstrip('.') or 'the architecture'}: "
                f"{', '.join(names)})"
            )
    for name in names:
        if name not in data:
            held = (
                "a model folder's model_index.json holds every field under streamt2v.model_config"
                if prefix.startswith("streamt2v.")
                else "an architecture file gives every field, as save_pretrained writes them under "
                "streamt2v.model_config"
            )
            raise ValueError(f"{where}: field {prefix + name!r} is missing ({held})")
    hints = typing.get_type_hints(cls)
    values = {}
    for name in names:
        kind, value = hints[name], data[name]
        if is_dataclass(kind):
            values[name] = config_from_json(kind, value, where, f"{prefix}{name}.")
            continue
        try:
            values[name] = _json_value(value, kind)
        except TypeError as err:
            raise ValueError(f"{where}: field {prefix + name!r} must be {err}, got {value!r}") from None
    return cls(**values)
