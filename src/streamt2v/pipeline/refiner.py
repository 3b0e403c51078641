"""The stage-3 model bundle (:class:`Refiner`: video UNet + VAE + text encoder + noise schedule), its
diffusers-format folder (:meth:`Refiner.from_pretrained` / :meth:`Refiner.save_pretrained`) and the embedded
default (:func:`default_refiner`: the shipped microworld refiner, else a tiny random-weight one).
:func:`~streamt2v.pipeline.enhance.enhance_video` runs a refiner over a video.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import torch

from streamt2v.config import ModelConfig, get_preset
from streamt2v.io.folders import home_path, looks_like_hub_id, named_path, read_json_object, saved_class_name
from streamt2v.memory import move_checked, one_dtype, resolve_device, resolve_dtype, seeded_rng
from streamt2v.models.autoencoder import VideoAutoencoder
from streamt2v.models.folder_parts import FolderParts
from streamt2v.pipeline.enhance_config import (
    EARLIER_NAMES,
    EnhanceConfig,
    check_resolution,
    read_stored,
    stored_form,
)
from streamt2v.pipeline.setting_checks import EnhanceSettingError
from streamt2v.pipeline.step_counts import check_start_step, settings_named
from streamt2v.wording import unknown_names

# The VAE scale factor of the random-weight refiner (Refiner.random, the stand-in of default_refiner).
STAND_IN_VAE_FACTOR = 4

DEFAULT_SCHEDULER_CONFIG: dict[str, Any] = {
    "num_train_timesteps": 1000,
    "beta_schedule": "linear",
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "prediction_type": "epsilon",
}


def check_enhance_names(
    settings: Mapping[str, Any], *, where: str = "", whose: str = "", stored_in: str = ""
) -> None:
    """Refuse names in ``settings`` that are no :class:`EnhanceConfig` field, in one line listing the fields
    (was EnhanceConfig's "__init__() got an unexpected keyword argument 'stepz'"): ``unknown enhance
    setting: stepz (steps?); the settings: ...``, ``where`` before it (``stage 3: ``), ``whose`` after its
    noun (`` this refiner recommends``), and ``stored_in``, the file that holds them, where to correct them."""
    names = sorted(f.name for f in fields(EnhanceConfig))
    # diffusers' names, which this class took before, hint the current one
    unknown = unknown_names(settings, names, renamed=EARLIER_NAMES, use="pass {}=")
    if unknown:
        noun, them = ("setting", "it") if len(unknown) == 1 else ("settings", "them")
        fix = f"; correct or remove {them} in {stored_in}" if stored_in else ""
        raise ValueError(
            f"{where}unknown enhance {noun}{whose}: {', '.join(unknown)}; the settings: {', '.join(names)}{fix}"
        )


def explained(
    err: EnhanceSettingError, given: Mapping[str, Any], recommended: Mapping[str, Any], refiner: str
) -> EnhanceSettingError:
    """``err`` with :attr:`~EnhanceSettingError.unset` naming each setting its message names that is not in
    ``given``: its value came from the ``refiner``'s ``recommended`` settings, else the official default (a
    limit from a value never typed is otherwise puzzling: ``overlap (8)`` for ``--chunk-frames 3``)."""
    defaults = {f.name: f.default for f in fields(EnhanceConfig)}
    unset = dict(err.unset)
    for name in settings_named(err.message, defaults):
        if name in given or name in unset:
            continue
        if name in recommended:
            unset[name] = (recommended[name], f"the recommendation of {refiner}")
        else:
            unset[name] = (defaults[name], "the official default")
    return EnhanceSettingError(err.message, unset)


@dataclass
class Refiner:
    """The stage-3 model bundle: a plain video UNet (``UNet3DConditionModel``), its VAE, text encoder and
    noise schedule. Loadable from a diffusers-format folder (``model_index.json`` with ``unet/ vae/
    text_encoder/ tokenizer/ scheduler/``, e.g. a zeroscope-style upscaler) via :meth:`from_pretrained`.
    """

    unet: Any  # diffusers UNet3DConditionModel (or any module with its call signature)
    vae: VideoAutoencoder
    text_encoder: Any  # streamt2v.models.encoders.TextEncoder
    scheduler_config: dict[str, Any]
    frame_size: tuple[int, int]  # (H, W) pixels the UNet was trained at
    # EnhanceConfig fields these weights are meant to run with (``streamt2v_enhance`` in model_index.json);
    # explicit settings override them, and anything unset falls back to the official defaults.
    recommended: dict[str, Any] = field(default_factory=dict)
    # made with random weights (from_preset, random: the stand-in): it reads nothing of a prompt, so what its
    # byte-level tokenizer cuts off is not worth a warning the user can do nothing about
    random_weights: bool = False
    # the folder from_pretrained read (None: made in memory): enhance_video warns where it is the shipped one
    # and the video is not at the size it is for, which the command line refuses
    source: str | None = None
    # where each part came from (``streamt2v_sources`` in model_index.json: ``assemble refiner``'s record)
    sources: dict[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:
        # one line a notebook can show, as StreamingT2VModel's: the dataclass's printed every module's tree
        from streamt2v.models.bundle import _parameter_count

        parts = {"unet": self.unet, "vae": self.vae, "text_encoder": self.text_encoder}
        sizes = ", ".join(
            f"{k} {_parameter_count(m)}" for k, m in parts.items() if isinstance(m, torch.nn.Module)
        )
        (h, w), weights = self.frame_size, "random weights; " if self.random_weights else ""
        return (
            f"Refiner({w}×{h} px, {self.prediction_type}, {weights}parameters: {sizes}; {self.device}, "
            f"{str(self.dtype).removeprefix('torch.')})"
        )

    def config(self, **settings: Any) -> EnhanceConfig:
        """The :class:`EnhanceConfig` for this refiner: ``settings`` over :attr:`recommended`. A refusal that
        names a setting not given says where its value came from (``--steps 40`` where the refiner
        recommends ``start_step=1``: the recommendation, to set too; :func:`explained`); unknown names are
        refused (:func:`check_enhance_names`)."""
        check_enhance_names(settings)
        check_enhance_names(self.recommended, whose=" this refiner recommends")
        try:
            return EnhanceConfig(**{**self.recommended, **settings})
        except EnhanceSettingError as err:
            raise explained(err, settings, self.recommended, "this refiner") from None

    @property
    def device(self) -> torch.device:
        """Where the UNet is (every part is moved together by :meth:`to`)."""
        return next(self.unet.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        """The UNet's dtype (every part is cast together by :meth:`to`), as ``StreamingT2VModel.dtype``."""
        return next(self.unet.parameters()).dtype

    @property
    def prediction_type(self) -> str:
        """What the UNet predicts (the scheduler config's ``prediction_type``: ``epsilon``, ``v_prediction``)."""
        return str(self.scheduler_config.get("prediction_type", "epsilon"))

    def to(
        self, device: torch.device | str | torch.dtype | None = None, dtype: torch.dtype | None = None
    ) -> Refiner:
        """Move and/or cast every part: ``to("cuda")``, ``to(torch.bfloat16)``, ``to("auto", dtype)``. The
        device is resolved like the pipeline's (``"auto"``: the best available); a ``dtype`` the target
        device does not run (half precision on the CPU) is refused (:func:`~streamt2v.memory.resolve_dtype`)."""
        move_checked((self.unet, self.vae, self.text_encoder), self.device, device, dtype)
        return self

    def compile(self, backend: str = "inductor") -> Refiner:
        """``torch.compile`` in place the UNet and the VAE's encoder and decoder (:mod:`streamt2v.compiling`)."""
        from streamt2v.compiling import compile_modules

        compile_modules([self.unet, self.vae.vae.encoder, self.vae.vae.decoder], self.device, backend)
        return self

    @classmethod
    def from_pretrained(
        cls,
        path: str | os.PathLike | None = None,
        *,
        device: torch.device | str = "cpu",
        dtype: torch.dtype | str | None = None,
        frame_size: tuple[int, int] | None = None,
        torch_dtype: torch.dtype | str | None = None,
    ) -> Refiner:
        """Load a diffusers-format video model folder and return the :class:`Refiner` on ``device``
        (``"auto"``: the best available; default the CPU) in ``dtype`` (or ``torch_dtype``, diffusers' name: a
        torch dtype or its name; default float32). None or ``"microworld"``: the shipped microworld refiner, as
        ``StreamingT2VPipeline.from_pretrained()`` loads the shipped model. ``frame_size``: the ``(H, W)`` it
        makes, when the folder does not record it (default: the UNet's sample size times the VAE's factor).
        Missing parts, a folder of another kind (a StreamingT2VModel), an unavailable ``device`` or a
        ``dtype`` it does not run (half precision on the CPU) raise before any weights are read."""
        dtype = one_dtype(torch_dtype, dtype)
        from diffusers import AutoencoderKL, UNet3DConditionModel
        from transformers import CLIPTextModel

        from streamt2v.models.encoders import TextEncoder
        from streamt2v.models.tokenizers import load_tokenizer

        # refusals name the folder as given ('~/hr'); None: the shipped one, by its path
        parts = _checked_refiner(refiner_folder(path) if path is None else path)
        root = parts.root
        path = root if path is None else path
        device = resolve_device(device)
        dtype = resolve_dtype(dtype, device)
        # read before any weights: a damaged file is named now, not after minutes of loading
        index_file = root / "model_index.json"
        meta = read_json_object(index_file, "refiner index") if index_file.is_file() else {}
        recommended = _stored_enhance(meta, index_file)
        _check_recommended(recommended, path, index_file)
        scheduler_config = read_json_object(
            root / "scheduler" / "scheduler_config.json", "refiner scheduler config"
        )
        unet = parts.load(UNet3DConditionModel, "unet", dtype)
        vae = parts.load(AutoencoderKL, "vae", dtype)
        text_model = parts.load(CLIPTextModel, "text_encoder", dtype)
        tok_entry = meta.get("tokenizer")
        tokenizer = load_tokenizer(root / "tokenizer", tok_entry[-1] if tok_entry else None)
        autoencoder = VideoAutoencoder(vae)
        if frame_size is None:
            if "streamt2v_frame_size" in meta:
                frame_size = tuple(int(v) for v in meta["streamt2v_frame_size"])
            else:
                size = unet.config.sample_size
                size = (size, size) if isinstance(size, int) else tuple(size)
                frame_size = (size[0] * autoencoder.scale_factor, size[1] * autoencoder.scale_factor)
        refiner = cls(
            unet,
            autoencoder.eval(),
            TextEncoder(tokenizer, text_model).eval(),
            scheduler_config,
            (int(frame_size[0]), int(frame_size[1])),
            recommended,
            source=str(root),
            sources=sources if isinstance(sources := meta.get("streamt2v_sources"), dict) else {},
        )
        return refiner.to(device=device)

    def save_pretrained(self, path: str | Any, overwrite: bool = False) -> Any:
        """Write the diffusers-format folder :meth:`from_pretrained` reads (safetensors weights),
        atomically; an existing folder is replaced only with ``overwrite``. :attr:`recommended` is stored by
        the settings' earlier names (``num_inference_steps``, ``guidance_scale``:
        :func:`~streamt2v.pipeline.enhance_config.stored_form`), which every version reads."""
        import json

        from streamt2v.io.folders import atomic_folder

        root = home_path(path)  # as from_pretrained reads it (refiner_folder)
        with atomic_folder(root, overwrite, model_folder=True) as tmp:
            self.unet.save_pretrained(tmp / "unet")
            self.vae.vae.save_pretrained(tmp / "vae")
            self.text_encoder.model.save_pretrained(tmp / "text_encoder")
            self.text_encoder.tokenizer.save_pretrained(tmp / "tokenizer")
            (tmp / "scheduler").mkdir()
            sched = {"_class_name": "DDIMScheduler", **self.scheduler_config}
            (tmp / "scheduler" / "scheduler_config.json").write_text(json.dumps(sched, indent=2))
            index = {
                "_class_name": "StreamingT2VRefiner",
                "unet": ["diffusers", "UNet3DConditionModel"],
                "vae": ["diffusers", "AutoencoderKL"],
                "text_encoder": ["transformers", "CLIPTextModel"],
                "tokenizer": ["transformers", type(self.text_encoder.tokenizer).__name__],
                "scheduler": ["diffusers", "DDIMScheduler"],
                "streamt2v_frame_size": list(self.frame_size),
                # by the names every version reads (earlier ones refuse steps/guidance), as the shipped refiner's
                "streamt2v_enhance": stored_form(self.recommended),
            }
            if self.sources:
                index["streamt2v_sources"] = self.sources
            (tmp / "model_index.json").write_text(json.dumps(index, indent=2) + "\n")
        return root

    @classmethod
    def from_preset(
        cls,
        preset: str | ModelConfig,
        frame_size: tuple[int, int] | None = None,
        *,
        device: str | torch.device | None = None,
        dtype: torch.dtype | str | None = None,
        seed: int = 0,
        prediction_type: str = "epsilon",
    ) -> Refiner:
        """A refiner with random weights, drawn from ``seed`` (on ``device``'s generator), at a preset (a name of
        :data:`~streamt2v.config.PRESETS` or a :class:`ModelConfig`): its video UNet (stage 1's) with the VAE
        and text encoder :meth:`StreamingT2VModel.from_preset` builds for it (``bundle.component_configs``).
        ``modelscope-1.7b`` is the official refiner's architecture: MS-Vid2Vid-XL's UNet is of that kind and
        size (~1.4B parameters), with the SD-2.1 VAE (factor 8) and an OpenCLIP-H-sized text encoder (23
        layers, width 1024: the penultimate layer the official one reads); it predicts ``v_prediction``.
        ``frame_size``: the ``(H, W)`` it makes (default the preset's square frame). Built directly on
        ``device`` in ``dtype`` (default: torch's default device and dtype; nothing is allocated on
        ``"meta"``): a float32 copy first would be 7 GB more at the official size."""
        from diffusers import AutoencoderKL
        from transformers import CLIPTextConfig, CLIPTextModel

        from streamt2v.models.bundle import component_configs
        from streamt2v.models.encoders import TextEncoder
        from streamt2v.models.tokenizers import byte_level_clip_tokenizer
        from streamt2v.models.unet import build_video_unet

        cfg = get_preset(preset) if isinstance(preset, str) else preset
        comps = component_configs(cfg)
        dtype = None if dtype is None else resolve_dtype(dtype, None)
        default = torch.get_default_dtype()
        where = contextlib.nullcontext() if device is None else torch.device(device)
        with seeded_rng(seed), where:  # the caller's global generators are left as they were
            if dtype is not None:  # built in it: parameters are made in the default dtype
                torch.set_default_dtype(dtype)
            try:
                unet = build_video_unet(cfg.unet)
                vae = AutoencoderKL(**comps.vae)
                text_model = CLIPTextModel(CLIPTextConfig(**comps.text))
            finally:
                torch.set_default_dtype(default)
        tokenizer = byte_level_clip_tokenizer(model_max_length=comps.text["max_position_embeddings"])
        return cls(
            unet.eval(),
            VideoAutoencoder(vae).eval(),
            TextEncoder(tokenizer, text_model).eval(),
            {**DEFAULT_SCHEDULER_CONFIG, "prediction_type": prediction_type},
            frame_size or (cfg.frame_size, cfg.frame_size),
            random_weights=True,
        )

    @classmethod
    def random(
        cls,
        frame_size: tuple[int, int] = (128, 128),
        *,
        seed: int = 0,
        prediction_type: str = "epsilon",
        width: int = 32,
    ) -> Refiner:
        """A tiny random-weight refiner for tests and benchmarks: :meth:`from_preset` of the ``tiny`` preset
        at ``frame_size`` with the random VAE of factor 4 and a text encoder of width ``width``.
        """
        from dataclasses import replace

        h, w = frame_size
        if h % STAND_IN_VAE_FACTOR or w % STAND_IN_VAE_FACTOR:
            raise ValueError(
                f"random refiner frame size {frame_size} must be divisible by {STAND_IN_VAE_FACTOR}"
            )
        tiny = get_preset("tiny")
        cfg = replace(
            tiny,
            frame_size=h,
            vae_scale_factor=STAND_IN_VAE_FACTOR,
            unet=replace(tiny.unet, cross_attention_dim=width, sample_size=h // 4),
        )
        return cls.from_preset(cfg, (h, w), seed=seed, prediction_type=prediction_type)


REFINER_PARTS: tuple[str, ...] = ("unet", "vae", "text_encoder", "tokenizer", "scheduler")
WEIGHTED_PARTS = ("unet", "vae", "text_encoder")
# what to do about a refiner folder missing a part's file, as a model folder's advice says it (bundle._REMEDY)
_REMEDY = "copy the whole folder again, or write it again (streamt2v assemble refiner)"


# What our own stage-1/2 model folders (models/bundle.py) declare: such a folder has the refiner's parts but
# a StreamingUNet, which the refiner's UNet3DConditionModel loader reads into garbage or a crash.
NOT_A_REFINER: dict[str, str] = {"model_index.json": "StreamingT2VModel", "unet/config.json": "StreamingUNet"}


def recommended_enhance(path: str | os.PathLike) -> dict[str, Any]:
    """The stage-3 settings a refiner folder recommends (``streamt2v_enhance`` in its ``model_index.json``,
    what :attr:`Refiner.recommended` holds once loaded), read without loading weights; ``{}`` if none."""
    index = refiner_folder(path) / "model_index.json"
    if not index.is_file():
        return {}
    return _stored_enhance(read_json_object(index, "refiner index"), index)


def _stored_enhance(meta: Mapping[str, Any], index: Path) -> dict[str, Any]:
    """``streamt2v_enhance`` of a refiner folder's index ``meta`` (read from ``index``) in
    :class:`EnhanceConfig`'s names: earlier versions stored diffusers' (the shipped refiner's index, which
    keeps them)."""
    stored = meta.get("streamt2v_enhance") or {}
    if not isinstance(stored, Mapping):
        raise ValueError(f"refiner index {str(index)!r}: streamt2v_enhance must be an object, got {stored!r}")
    return read_stored(stored, f"refiner index {str(index)!r} (streamt2v_enhance)")


def _check_recommended(recommended: Mapping[str, Any], folder: str | os.PathLike, index: Path) -> None:
    """Refuse a refiner folder's recommended settings naming no :class:`EnhanceConfig` field, saying which
    folder, where they are and what to do (:func:`check_enhance_names`)."""
    check_enhance_names(
        recommended,
        whose=f" the refiner {str(folder)!r} recommends (streamt2v_enhance)",
        stored_in=repr(str(index)),
    )


def checked_config(
    settings: Mapping[str, Any], folder: str | os.PathLike | None, *, what: str | None = None
) -> EnhanceConfig:
    """The :class:`EnhanceConfig` stage 3 will run with the refiner in ``folder`` (None: one without a
    folder, the random-weight stand-in: no recommendation, a 1000-step schedule): ``settings`` over the
    folder's recommended ones (:func:`recommended_enhance`), as :meth:`Refiner.config` merges them once it is
    loaded, and its start step inside the folder's noise schedule; no weights are read. A refused setting
    is an :class:`EnhanceSettingError` naming the values that were not given (:func:`explained`); a refused
    folder is named by ``what`` (:func:`check_refiner_folder`)."""
    check_enhance_names(settings)
    recommended, refiner, schedule = {}, "the refiner", DEFAULT_SCHEDULER_CONFIG
    vae_factor = STAND_IN_VAE_FACTOR
    if folder is not None:
        root = check_refiner_folder(folder, what=what)
        recommended = recommended_enhance(root)
        _check_recommended(recommended, folder, root / "model_index.json")
        refiner = f"the refiner {root.name!r}"
        schedule = read_json_object(root / "scheduler" / "scheduler_config.json", "refiner scheduler config")
        vae_factor = vae_scale_factor(root)
    try:
        config = EnhanceConfig(**{**recommended, **settings})
        check_start_step(config, schedule)
        check_resolution(config, vae_factor)
    except EnhanceSettingError as err:
        raise explained(err, settings, recommended, refiner) from None
    return config


def vae_scale_factor(folder: str | os.PathLike) -> int:
    """Pixels per latent pixel of the VAE of the refiner ``folder`` (``2 ** (levels - 1)``, as
    :attr:`VideoAutoencoder.scale_factor` of the loaded one), read from ``vae/config.json``."""
    config = read_json_object(refiner_folder(folder) / "vae" / "config.json", "refiner vae/ config")
    levels = config.get("block_out_channels") or [0]  # diffusers' AutoencoderKL default: one level
    return 2 ** (len(levels) - 1)


def check_refiner_folder(
    path: str | os.PathLike, config: EnhanceConfig | None = None, *, what: str | None = None
) -> Path:
    """Raise unless ``path`` is a local diffusers-format refiner folder (cheap: no weights are read). The
    refiner is loaded from local folders only; a missing path is reported as such, whatever its form. A
    stage-1/2 ``StreamingT2VModel`` folder is refused; other pipelines' folders (a zeroscope-style
    ``TextToVideoSDPipeline``) are accepted. A weight file that cannot be whole (a Git LFS pointer, an empty
    or cut-short file: :func:`~streamt2v.io.weight_files.check_weight_files`, headers only) is refused.
    With ``config``: its start step must fit the folder's noise schedule
    (:func:`~streamt2v.pipeline.step_counts.check_start_step`). Refusals name the folder by ``what`` (a
    command's flag: ``enhance --model``; None: ``refiner folder``), then as given
    (:func:`~streamt2v.io.folders.named_path`)."""
    return _checked_refiner(path, config, what).root


def _checked_refiner(
    path: str | os.PathLike, config: EnhanceConfig | None = None, what: str | None = None
) -> FolderParts:
    """:func:`check_refiner_folder`'s checks, returning the weighted parts they checked (loaded by
    :meth:`Refiner.from_pretrained` without checking them again)."""
    root = refiner_folder(path)
    # a flag or argument (--model, refiner) given names the folder; None, the generic name
    named = f"{what or 'refiner folder'} {named_path(path)}"
    if not root.exists():
        text = str(path)
        fetch = (  # not for a typo under an existing local folder ("models/mine-hr")
            f"; if {text!r} is a hub repo, fetch it where the hub is reachable (hf download {text} --local-dir "
            "DIR) and pass DIR"
            if looks_like_hub_id(text) and not Path(text.split("/")[0]).exists()
            else ""
        )
        # named as given, then as read where a ~ was expanded (as io.hub names a model folder)
        raise FileNotFoundError(f"{named} does not exist; the refiner is loaded from a local folder{fetch}")
    if not root.is_dir():
        raise NotADirectoryError(f"{named} is a file; give a diffusers-format model folder")
    for name, cls_name in NOT_A_REFINER.items():
        if saved_class_name(root / name, "refiner config") == cls_name:
            raise ValueError(
                f"{named} is a StreamingT2VModel folder (stages 1-2; {name} names "
                f"{cls_name}), not a refiner; give a refiner folder (video UNet3DConditionModel, e.g. the "
                "shipped microworld-refiner)"
            )
    for part in REFINER_PARTS:
        if not (root / part).is_dir():
            raise FileNotFoundError(
                f"{named} has no {part}/ (expected a diffusers-format video model with "
                f"unet/ vae/ text_encoder/ tokenizer/ scheduler/){_part_of_refiner_hint(path, root)}"
            )
    # a clone without git-lfs holds pointer text: named here, not in diffusers' words after minutes
    # a part's refusals name a flag or argument with the folder as typed ('~/x'); the generic name the part's
    # path alone
    given = named if what is not None else None
    parts = FolderParts(root, "refiner folder", WEIGHTED_PARTS, remedy=_REMEDY, named=given)
    sched_file = root / "scheduler" / "scheduler_config.json"
    if not sched_file.is_file():
        raise FileNotFoundError(f"{named} is missing its scheduler config {str(sched_file)!r}")
    if config is not None:
        check_start_step(config, read_json_object(sched_file, "refiner scheduler config"))
    return parts


def _part_of_refiner_hint(given: str | os.PathLike, root: Path) -> str:
    """For a refiner's part given for the whole (``zeroscope/unet``, or ``.`` inside it), the folder to pass
    instead, named from the text as given (``'~/z' ('/home/me/z')``; ``the current folder``); else ""."""
    here = Path(os.path.abspath(root))  # "." and ".." by where they are
    if here.name not in REFINER_PARTS or not all((here.parent / p).is_dir() for p in REFINER_PARTS):
        return ""
    # one level up from the text as given: also from "." and "..", whose dirname is not their parent
    parent = os.path.normpath(os.path.join(os.fspath(given), os.pardir))
    named = f"the current folder {str(here.parent)!r}" if parent in ("", ".") else named_path(parent)
    return f"; it is the {here.name}/ part of {named}: pass that folder"


def refiner_folder(spec: str | os.PathLike | None) -> Path:
    """The folder a refiner spec names: None or ``"microworld"`` (no local folder of that name) the shipped
    refiner's, anything else itself."""
    from streamt2v.assets import names_shipped

    if spec is None or names_shipped(spec):
        return shipped_refiner()[0]
    if not isinstance(spec, (str, os.PathLike)):
        raise TypeError(f"the refiner must be a folder path, got {spec!r} ({type(spec).__name__})")
    return home_path(spec)


def shipped_refiner() -> tuple[Path, tuple[int, int]]:
    """The shipped microworld refiner's folder and frame size (its ``model_index.json``; no weights read);
    FileNotFoundError naming the path when it is absent."""
    from streamt2v.assets import microworld_refiner_dir

    folder = microworld_refiner_dir()
    size = read_json_object(folder / "model_index.json", "refiner index").get("streamt2v_frame_size")
    if not size:
        raise FileNotFoundError(f"the shipped refiner {str(folder)!r} records no streamt2v_frame_size")
    return folder, (int(size[0]), int(size[1]))
