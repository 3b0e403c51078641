"""All components of a StreamingT2V system in one object, saved as one folder (paper §4, Fig. 2).

Folder format (``save_pretrained``)::

    model_index.json          component classes + ``streamt2v`` metadata (ModelConfig, fps, sources,
                              recommended sampler settings; ``made_up``: what a ``convert --no-strict``
                              made up, by component, said when the folder loads)
    tokenizer/                transformers tokenizer files (CLIPTokenizer, or the micro-CLIP's word-level
                              PreTrainedTokenizerFast; optional, see below)
    text_encoder/             transformers CLIPTextModel (safetensors)
    image_encoder/            transformers CLIPVisionModelWithProjection (safetensors; APM, §4.2)
    vae/                      diffusers AutoencoderKL (safetensors)
    unet/                     streamt2v StreamingUNet (diffusers ModelMixin; stage 2: base + CAM + APM)
    init_unet/                diffusers UNet3DConditionModel (stage 1, optional)
    scheduler/scheduler_config.json

A folder converted from the official checkpoint without a ModelScope tokenizer (``convert --no-strict``) has
no ``tokenizer/`` (``"tokenizer": null`` in ``model_index.json``) and cannot read prompts.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from diffusers import AutoencoderKL, UNet3DConditionModel
from transformers import (
    CLIPTextConfig,
    CLIPTextModel,
    CLIPVisionConfig,
    CLIPVisionModelWithProjection,
    PreTrainedTokenizerBase,
)

from streamt2v.config import PRESETS, ModelConfig, get_preset
from streamt2v.io.folders import atomic_folder, home_path, read_json_object
from streamt2v.io.frame_rates import DEFAULT_FPS
from streamt2v.io.weight_files import refuse_broken_links
from streamt2v.memory import (
    move_checked,
    one_dtype,
    own_aligned_memory,
    resolve_device,
    resolve_dtype,
    seeded_rng,
)
from streamt2v.models.autoencoder import VideoAutoencoder
from streamt2v.models.encoders import ImageEncoder, TextEncoder
from streamt2v.models.folder_parts import FolderParts
from streamt2v.models.model_index import (
    FORMAT_VERSION,
    MODEL_INDEX,
    REQUIRED_COMPONENTS,
    model_folder,
    read_model_index,
    warn_of_made_up_weights,
    warn_of_unknown_sampler_keys,
)
from streamt2v.models.tokenizers import byte_level_clip_tokenizer, load_tokenizer
from streamt2v.models.unet import StreamingUNet, build_video_unet
from streamt2v.pipeline.setting_checks import check_seed

logger = logging.getLogger(__name__)

MODELSCOPE_REPO = "damo-vilab/text-to-video-ms-1.7b"

# what to do about a model folder missing a part or a part's file
_REMEDY = "copy the whole folder again, or write it again (streamt2v convert or assemble)"

# ModelScope T2V 1.7B component configs (public damo-vilab/text-to-video-ms-1.7b configs; reference
# full_build_configs/*.json) and open_clip ViT-H-14 (the official APM image encoder, official-facts §2.3).
MODELSCOPE_TEXT_CONFIG: dict[str, Any] = dict(
    vocab_size=49408,
    hidden_size=1024,
    intermediate_size=4096,
    num_hidden_layers=23,
    num_attention_heads=16,
    max_position_embeddings=77,
    hidden_act="gelu",
    layer_norm_eps=1e-5,
    projection_dim=512,
    bos_token_id=0,
    eos_token_id=2,
    pad_token_id=1,
)
VIT_H_14_VISION_CONFIG: dict[str, Any] = dict(
    hidden_size=1280,
    intermediate_size=5120,
    projection_dim=1024,
    num_hidden_layers=32,
    num_attention_heads=16,
    image_size=224,
    patch_size=14,
    hidden_act="gelu",
    layer_norm_eps=1e-5,
)
MODELSCOPE_VAE_CONFIG: dict[str, Any] = dict(
    act_fn="silu",
    block_out_channels=(128, 256, 512, 512),
    down_block_types=("DownEncoderBlock2D",) * 4,
    up_block_types=("UpDecoderBlock2D",) * 4,
    in_channels=3,
    out_channels=3,
    latent_channels=4,
    layers_per_block=2,
    norm_num_groups=32,
    sample_size=512,
    scaling_factor=0.18215,
)
MODELSCOPE_SCHEDULER_CONFIG: dict[str, Any] = {
    "_class_name": "DDIMScheduler",
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "beta_start": 0.00085,
    "clip_sample": False,
    "num_train_timesteps": 1000,
    "prediction_type": "epsilon",
    "set_alpha_to_one": False,
    "steps_offset": 1,
}


@dataclass(frozen=True)
class ComponentConfigs:
    """Configs of the non-UNet components for an architecture."""

    text: dict[str, Any]
    vision: dict[str, Any]
    vae: dict[str, Any]
    scheduler: dict[str, Any] = field(default_factory=lambda: dict(MODELSCOPE_SCHEDULER_CONFIG))


def component_configs(cfg: ModelConfig) -> ComponentConfigs:
    """Full ModelScope/ViT-H components for the full-size UNet; small ones sized from ``cfg`` otherwise."""
    if cfg.unet == PRESETS["modelscope-1.7b"].unet:
        return ComponentConfigs(
            dict(MODELSCOPE_TEXT_CONFIG), dict(VIT_H_14_VISION_CONFIG), dict(MODELSCOPE_VAE_CONFIG)
        )
    levels = cfg.vae_scale_factor.bit_length()
    if 2 ** (levels - 1) != cfg.vae_scale_factor:
        raise ValueError(f"vae_scale_factor must be a power of 2, got {cfg.vae_scale_factor}")
    d = cfg.unet.cross_attention_dim
    text = dict(
        vocab_size=len(byte_level_clip_tokenizer()),
        hidden_size=d,
        intermediate_size=2 * d,
        num_hidden_layers=2,
        num_attention_heads=2,
        max_position_embeddings=cfg.streaming.num_text_tokens,
        bos_token_id=0,
        eos_token_id=1,
        pad_token_id=1,
    )
    vision = dict(
        hidden_size=32,
        intermediate_size=64,
        projection_dim=cfg.streaming.image_embed_dim,
        num_hidden_layers=2,
        num_attention_heads=2,
        image_size=32,
        patch_size=8,
        hidden_act="gelu",
        layer_norm_eps=1e-5,
    )
    vae = dict(
        block_out_channels=(8,) * (levels - 1) + (16,),
        down_block_types=("DownEncoderBlock2D",) * levels,
        up_block_types=("UpDecoderBlock2D",) * levels,
        latent_channels=cfg.unet.in_channels,
        layers_per_block=1,
        norm_num_groups=4,
        sample_size=cfg.frame_size,
        scaling_factor=0.18215,
    )
    return ComponentConfigs(text, vision, vae)


def _parameter_count(module: torch.nn.Module) -> str:
    """``1.34M`` / ``71.1K`` / ``900``, as a model summary writes them."""
    n = sum(p.numel() for p in module.parameters())
    for size, unit in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if n >= size:
            return f"{n / size:.3g}{unit}"
    return str(n)


class StreamingT2VModel:
    """The networks and metadata of StreamingT2V (stages 1 and 2; paper §4).

    Attributes: ``text_encoder`` (:class:`TextEncoder`, holds the tokenizer), ``image_encoder``
    (:class:`ImageEncoder`), ``vae`` (:class:`VideoAutoencoder`), ``unet`` (:class:`StreamingUNet`),
    ``init_unet`` (stage-1 ``UNet3DConditionModel`` or None), ``scheduler_config`` (diffusers scheduler
    config dict), ``config`` (:class:`ModelConfig`), ``fps``, ``sources`` (provenance notes),
    ``sampler`` (recommended sampling settings for these weights: :class:`StreamConfig` field names such as
    ``steps``, ``guidance``, ``init_steps``; empty = the official defaults), ``made_up`` (component -> what
    of its weights a conversion made up, not read from the checkpoint; empty for a whole conversion).
    """

    def __init__(
        self,
        text_encoder: TextEncoder,
        image_encoder: ImageEncoder,
        vae: VideoAutoencoder,
        unet: StreamingUNet,
        scheduler_config: dict[str, Any],
        config: ModelConfig,
        init_unet: UNet3DConditionModel | None = None,
        fps: int = DEFAULT_FPS,
        sources: dict[str, str] | None = None,
        sampler: dict[str, Any] | None = None,
        made_up: dict[str, str] | None = None,
    ) -> None:
        self.text_encoder = text_encoder
        self.image_encoder = image_encoder
        self.vae = vae
        self.unet = unet
        self.init_unet = init_unet
        self.scheduler_config = dict(scheduler_config)
        self.config = config
        self.fps = int(fps)
        self.sources = dict(sources or {})
        self.sampler = dict(sampler or {})
        self.made_up = dict(made_up or {})

    @property
    def tokenizer(self) -> PreTrainedTokenizerBase | None:
        """The text encoder's tokenizer (None for a folder converted without one: it cannot read prompts)."""
        return self.text_encoder.tokenizer

    @property
    def device(self) -> torch.device:
        """Where the streaming UNet is (every component is moved together by :meth:`to`)."""
        return next(self.unet.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        """The streaming UNet's dtype (every component is cast together by :meth:`to`)."""
        return next(self.unet.parameters()).dtype

    @property
    def num_frames(self) -> int:
        """Frames per chunk the streaming UNet was built for (16 in the official model)."""
        return self.config.streaming.num_frames

    @property
    def num_cond_frames(self) -> int:
        """Conditioning frames the CAM takes (8 in the official model)."""
        return self.config.streaming.num_cond_frames

    def modules(self) -> dict[str, torch.nn.Module]:
        """The torch modules by folder name (``text_encoder``, ``image_encoder``, ``vae``, ``unet`` and, when
        present, ``init_unet``)."""
        mods: dict[str, torch.nn.Module] = {
            "text_encoder": self.text_encoder.model,
            "image_encoder": self.image_encoder.model,
            "vae": self.vae.vae,
            "unet": self.unet,
        }
        if self.init_unet is not None:
            mods["init_unet"] = self.init_unet
        return mods

    def to(
        self, device: torch.device | str | torch.dtype | None = None, dtype: torch.dtype | None = None
    ) -> StreamingT2VModel:
        """Move every component (``model.to("cuda")``, ``model.to(torch.bfloat16)``, ``model.to("auto",
        torch.float16)``), in place; returns the model. As for ``from_pretrained``, a dtype the target device
        does not run (half precision on the CPU) is refused (:func:`~streamt2v.memory.resolve_dtype`). A cast
        is one-way: ``to(torch.bfloat16)`` then ``to(torch.float32)`` keeps the bf16-rounded weights (reload
        the folder for the original ones)."""
        move_checked(self.modules().values(), self.device, device, dtype)
        return self

    def compile(self, backend: str = "inductor") -> StreamingT2VModel:
        """``torch.compile`` in place what every denoising step and chunk calls: the UNets and the VAE's
        encoder and decoder (:mod:`streamt2v.compiling`; each compiles on its first call)."""
        from streamt2v.compiling import compile_modules

        unets = [u for u in (self.init_unet, self.unet) if u is not None]
        compile_modules([*unets, self.vae.vae.encoder, self.vae.vae.decoder], self.unet.device, backend)
        return self

    def __repr__(self) -> str:
        # one line a notebook can show: a module tree of every component runs to thousands of lines
        sizes = ", ".join(f"{name} {_parameter_count(m)}" for name, m in self.modules().items())
        c = self.config
        return (
            f"StreamingT2VModel({c.name!r}: {c.frame_size}×{c.frame_size} px, {self.num_frames}-frame chunks with "
            f"{self.num_cond_frames} conditioning frames, {self.fps} fps; parameters: {sizes}; "
            f"{self.device}, {str(self.dtype).removeprefix('torch.')})"
        )

    # --- construction -------------------------------------------------------------------------------
    @classmethod
    def from_preset(
        cls,
        preset: str | ModelConfig,
        device: str | torch.device = "cpu",
        seed: int = 0,
        with_init_unet: bool = True,
        fps: int = DEFAULT_FPS,
    ) -> StreamingT2VModel:
        """A :class:`StreamingT2VModel` with random components at a preset (a name of
        :data:`~streamt2v.config.PRESETS` or a :class:`ModelConfig`) on ``device`` (``"auto"``: a GPU if there is
        one), the weights drawn from ``seed`` on its generator (a CUDA device gives other weights than the CPU).
        On ``device="meta"`` nothing is allocated (shapes only). ``seed``: an integer in ``[0, 2**64)``, as
        ``pipe(...)`` takes it (a torch.Generator is refused: the weights are drawn from the seed)."""
        check_seed(seed)  # as pipe(seed=) is checked: -1 was taken, a torch.Generator failed inside torch
        cfg = get_preset(preset) if isinstance(preset, str) else preset
        if str(device) != "meta":  # "auto", and a device not present named, as from_pretrained does
            device = resolve_device(device)
        comps = component_configs(cfg)
        # the caller's global generators are left as they were
        with seeded_rng(None if str(device) == "meta" else seed), torch.device(device):
            text = CLIPTextModel(CLIPTextConfig(**comps.text)).eval()
            vision = CLIPVisionModelWithProjection(CLIPVisionConfig(**comps.vision)).eval()
            vae = AutoencoderKL(**comps.vae).eval()
            unet = StreamingUNet.from_config_objects(cfg.unet, cfg.streaming).eval()
            init_unet = build_video_unet(cfg.unet).eval() if with_init_unet else None
        tokenizer = byte_level_clip_tokenizer(comps.text["max_position_embeddings"])
        return cls(
            TextEncoder(tokenizer, text),
            ImageEncoder(vision),
            VideoAutoencoder(vae),
            unet,
            comps.scheduler,
            cfg,
            init_unet=init_unet,
            fps=fps,
            sources={"weights": f"random (preset {cfg.name!r}, seed {seed})"},
        )

    # --- folder format ------------------------------------------------------------------------------
    def model_index(self) -> dict[str, Any]:
        """The ``model_index.json`` :meth:`save_pretrained` writes (component classes, architecture, metadata)."""
        return {
            "_class_name": "StreamingT2VModel",
            "format_version": FORMAT_VERSION,
            "tokenizer": ["transformers", type(self.tokenizer).__name__]
            if self.tokenizer is not None
            else None,
            "text_encoder": ["transformers", "CLIPTextModel"],
            "image_encoder": ["transformers", "CLIPVisionModelWithProjection"],
            "vae": ["diffusers", "AutoencoderKL"],
            "unet": ["streamt2v", "StreamingUNet"],
            "init_unet": ["diffusers", "UNet3DConditionModel"] if self.init_unet is not None else None,
            "scheduler": ["diffusers", str(self.scheduler_config.get("_class_name", "DDIMScheduler"))],
            "streamt2v": {
                "model_config": asdict(self.config),
                "fps": self.fps,
                "sources": self.sources,
                "sampler": self.sampler,
                # only where something was: the index of a whole model stays as it was
                **({"made_up": self.made_up} if self.made_up else {}),
            },
        }

    def save_pretrained(self, directory: str | os.PathLike[str], overwrite: bool = False) -> Path:
        """Write the model folder (safetensors weights in the model's dtype, ``model_index.json``) that
        :meth:`from_pretrained` reads, atomically (a temporary sibling folder, renamed at the end), and return
        its path. An existing path is replaced only with ``overwrite``, and never a non-empty folder that is no model
        folder. A leading ``~`` is the home folder, as for :meth:`from_pretrained`."""
        out = home_path(directory)
        with atomic_folder(out, overwrite, model_folder=True) as tmp:
            if self.tokenizer is not None:
                self.tokenizer.save_pretrained(tmp / "tokenizer")
            for name, module in self.modules().items():
                module.save_pretrained(tmp / name, safe_serialization=True)
            (tmp / "scheduler").mkdir()
            (tmp / "scheduler" / "scheduler_config.json").write_text(
                json.dumps(self.scheduler_config, indent=2, sort_keys=True) + "\n"
            )
            (tmp / MODEL_INDEX).write_text(json.dumps(self.model_index(), indent=2) + "\n")
        logger.info("saved StreamingT2V model to %s", out)
        return out

    @classmethod
    def from_pretrained(
        cls,
        path_or_hub_id: str | os.PathLike[str] | None = None,
        torch_dtype: torch.dtype | str | None = None,
        device: str | torch.device | None = None,
        frames_per_slice: int = 8,
        *,
        dtype: torch.dtype | str | None = None,
    ) -> StreamingT2VModel:
        """Load a model folder written by :meth:`save_pretrained` and return the :class:`StreamingT2VModel`.

        ``path_or_hub_id``: a local folder or a hub id; None or ``"microworld"`` (no local folder of that
        name): the shipped microworld model, as ``StreamingT2VPipeline.from_pretrained()`` loads it.
        ``torch_dtype`` (or ``dtype``, transformers' and the pipeline's name): every component's dtype, a torch
        dtype or its name (``"fp16"``, ``"bfloat16"``...); default float32, whatever dtype the files were
        saved in. ``device`` (``"auto"`` allowed) is checked with the dtype before anything loads, and the
        model is moved there; without it the weights stay on the CPU in any dtype (``torch_dtype=
        torch.float16`` then ``.to("cuda")``, as in diffusers). ``frames_per_slice``: how many frames the VAE
        encodes or decodes at a time. A folder whose parts do not fit together, a part without weights, a
        preset name (see :meth:`from_preset`) or a refiner folder are refused in one line naming them."""
        torch_dtype = one_dtype(torch_dtype, dtype)
        if device is not None:
            device = resolve_device(device)
            torch_dtype = resolve_dtype(torch_dtype, device)
        elif torch_dtype is not None:
            torch_dtype = resolve_dtype(torch_dtype, None)
        root = model_folder(path_or_hub_id)
        refuse_broken_links(root, "model folder", lambda name: name == MODEL_INDEX)
        index, config = read_model_index(root)
        meta = index["streamt2v"]
        needed = list(REQUIRED_COMPONENTS)
        needed += [c for c in ("tokenizer", "init_unet") if index.get(c) is not None]
        for comp in needed:
            if not (root / comp).is_dir():
                raise FileNotFoundError(
                    f"model folder {str(root)!r} is missing component {comp!r} ({root / comp}), which its "
                    f"{MODEL_INDEX} names: the folder is incomplete (an interrupted copy?); {_REMEDY}"
                )
        refuse_broken_links(
            root / "scheduler", "model folder's scheduler/", lambda name: name.endswith(".json")
        )
        scheduler_config = read_json_object(root / "scheduler" / "scheduler_config.json", "scheduler config")
        # the parts fit together, and each one's weights are there and can be whole, before any is read
        weighted = [c for c in needed if c not in ("tokenizer", "scheduler")]
        parts = FolderParts(
            root, "model folder", weighted, (config.frame_size, config.vae_scale_factor), _REMEDY
        )
        # None means float32 for every component: diffusers casts to it by default, but transformers 5
        # keeps the dtype the files were saved in (the shipped fp16), which would mix dtypes.
        dtype = torch.float32 if torch_dtype is None else torch_dtype
        tok_entry = index.get("tokenizer")
        tokenizer = load_tokenizer(root / "tokenizer", tok_entry[-1]) if tok_entry else None
        text = parts.load(CLIPTextModel, "text_encoder", dtype)
        vision = parts.load(CLIPVisionModelWithProjection, "image_encoder", dtype)
        vae = parts.load(AutoencoderKL, "vae", dtype)
        unet = parts.load(StreamingUNet, "unet", dtype)
        init_unet = parts.load(UNet3DConditionModel, "init_unet", dtype) if "init_unet" in needed else None
        model = cls(
            TextEncoder(tokenizer, text),
            ImageEncoder(vision),
            VideoAutoencoder(vae, frames_per_slice),
            unet,
            scheduler_config,
            config,
            init_unet=init_unet,
            fps=meta.get("fps", DEFAULT_FPS),
            sources=meta.get("sources"),
            sampler=meta.get("sampler"),
            made_up=meta.get("made_up"),
        )
        for module in model.modules().values():
            own_aligned_memory(module)
        if device is not None:
            model.to(device=device)
        # said here, not by load_model: a direct call is told too
        given = str(root) if path_or_hub_id is None else os.fspath(path_or_hub_id)
        warn_of_unknown_sampler_keys(model.sampler, given)
        warn_of_made_up_weights(model.made_up, given)
        return model
