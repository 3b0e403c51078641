"""Official StreamingT2V checkpoint → our model folder (official-facts §4.1; reference ``keys_full.tsv``).

The official ``streaming_t2v.ckpt`` is a PyTorch-Lightning pickle whose ``["state_dict"]`` holds the
whole ``VideoLDM``: ``base_model.`` / ``unet.`` / ``resampler.`` (stage 2, paper §4.1–4.2),
``image_encoder.model.`` (open_clip ViT-H-14, APM), ``text_encoder.`` (transformers names) and ``vae.``
(diffusers names). It is read by :mod:`streamt2v.io.checkpoint_file` (``torch.load(weights_only=True)``
only: a pickle that needs any other class is refused, never executed; ``.safetensors`` works too).

The stage-1 model (ModelScope T2V) and the tokenizer are not in the checkpoint; they come from a
ModelScope diffusers folder (``damo-vilab/text-to-video-ms-1.7b``), passed as ``init_unet`` / ``tokenizer``
and checked before the checkpoint is read (:mod:`streamt2v.io.conversion_inputs`).
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from diffusers import UNet3DConditionModel
from transformers import CLIPVisionConfig

from streamt2v.arguments import Arg, ArgumentValueError, naming_arguments
from streamt2v.config import VIT_H_HEAD_WIDTH, ModelConfig
from streamt2v.io.architecture import build_components, resolve_architecture
from streamt2v.io.checkpoint_file import check_checkpoint, load_checkpoint, not_loaded_note
from streamt2v.io.conversion_inputs import (
    STAGE1_FOLDER,
    NoTokenizerError,
    check_stage1_folder,
    conversion_tokenizer,
    provenance,
)
from streamt2v.io.conversion_report import CheckpointMismatchError, ConversionReport, Note, Shape
from streamt2v.io.folders import (
    check_writable_parent,
    home_path,
    named_path,
    refuse_existing,
    refuse_inputs_inside,
)
from streamt2v.io.official_unet_keys import map_official_unet_key
from streamt2v.io.state_dict_names import (
    describe_foreign_state_dict,
    strip_compiled_names,
    strip_wrapper_prefix,
)
from streamt2v.io.weight_files import leftover_temporaries
from streamt2v.memory import resolve_dtype, seeded_rng
from streamt2v.models.autoencoder import VideoAutoencoder
from streamt2v.models.bundle import (
    MODELSCOPE_REPO,
    StreamingT2VModel,
    component_configs,
)
from streamt2v.models.encoders import (
    OPEN_CLIP_TEXT_LEFTOVERS,
    ImageEncoder,
    TextEncoder,
    convert_open_clip_visual,
)
from streamt2v.models.strict_loading import from_pretrained_strict
from streamt2v.wording import counted, first_few

logger = logging.getLogger(__name__)

COMPONENTS = ("unet", "image_encoder", "text_encoder", "vae")
OPEN_CLIP_PREFIX = "image_encoder.model."
VISUAL_PREFIX = OPEN_CLIP_PREFIX + "visual."
# Keys of the image encoder's open_clip CLIP that the APM does not use (its text transformer was deleted).
IGNORED_OFFICIAL_KEYS = tuple(OPEN_CLIP_PREFIX + k for k in OPEN_CLIP_TEXT_LEFTOVERS)
# transformers < 4.31 saved CLIPTextModel's position ids (0, 1, ..., 76) as a tensor; later versions build them
_LEGACY_POSITION_IDS = re.compile(r"^text_encoder\.(text_model\.)?embeddings\.position_ids$")


@dataclass
class ConvertedStateDict:
    """An official state dict split per component, in our names."""

    tensors: dict[str, dict[str, torch.Tensor]]
    origin: dict[str, dict[str, str]]  # component -> our key -> official key (for reports)
    vision_config: CLIPVisionConfig | None
    unmapped: list[tuple[str, Shape]]
    ignored: list[tuple[str, Shape]]
    # the image encoder's width where head_width does not divide it: not converted, refused once the rest's fit
    # is known (a checkpoint of another size is told its preset first)
    indivisible_width: int | None = None


def convert_state_dict(
    state_dict: Mapping[str, torch.Tensor], head_width: int = VIT_H_HEAD_WIDTH
) -> ConvertedStateDict:
    """Rename every official key to ``(component, our key)``; works on meta tensors too.

    Raises if two official keys map to the same tensor of ours.
    """
    tensors: dict[str, dict[str, torch.Tensor]] = {c: {} for c in COMPONENTS}
    origin: dict[str, dict[str, str]] = {c: {} for c in COMPONENTS}
    unmapped: list[tuple[str, Shape]] = []
    ignored: list[tuple[str, Shape]] = []

    def put(comp: str, ours: str, official: str, t: torch.Tensor) -> None:
        if ours in tensors[comp]:
            raise ValueError(f"{official!r} and {origin[comp][ours]!r} both map to {comp}.{ours}")
        tensors[comp][ours] = t
        origin[comp][ours] = official

    vision_config = None
    conv1 = state_dict.get(VISUAL_PREFIX + "conv1.weight")
    indivisible = int(conv1.shape[0]) if conv1 is not None and conv1.ndim == 4 else None
    if indivisible is not None and indivisible % head_width == 0:
        indivisible = None
    if indivisible is None and any(k.startswith(VISUAL_PREFIX) for k in state_dict):
        # an absent open_clip tensor is left out here and reported as a missing image_encoder tensor
        absent: list[str] = []
        vision_config, hf = convert_open_clip_visual(
            state_dict, VISUAL_PREFIX, head_width=head_width, missing=absent
        )
        for k, t in hf.items():
            put("image_encoder", k, f"{VISUAL_PREFIX}* (converted to {k})", t)
        known = {"conv1.weight", "class_embedding", "positional_embedding", "proj"}
        known |= {f"{n}.{p}" for n in ("ln_pre", "ln_post") for p in ("weight", "bias")}
        for i in range(vision_config.num_hidden_layers):
            block = f"transformer.resblocks.{i}."
            known |= {block + "attn.in_proj_weight", block + "attn.in_proj_bias"}
            for n in ("ln_1", "ln_2", "attn.out_proj", "mlp.c_fc", "mlp.c_proj"):
                known |= {f"{block}{n}.weight", f"{block}{n}.bias"}
        unmapped += [
            (k, tuple(t.shape))
            for k, t in state_dict.items()
            if k.startswith(VISUAL_PREFIX) and k[len(VISUAL_PREFIX) :] not in known
        ]
    for key, t in state_dict.items():
        shape = tuple(t.shape)
        if key.startswith(VISUAL_PREFIX):
            continue
        if key in IGNORED_OFFICIAL_KEYS or _LEGACY_POSITION_IDS.match(key):
            ignored.append((key, shape))
        elif (ours := map_official_unet_key(key)) is not None:
            put("unet", ours, key, t)
        elif key.startswith("text_encoder."):
            put("text_encoder", key[len("text_encoder.") :], key, t)
        elif key.startswith("vae."):
            put("vae", key[len("vae.") :], key, t)
        else:
            unmapped.append((key, shape))
    return ConvertedStateDict(tensors, origin, vision_config, unmapped, ignored, indivisible)


def _align_text_model_prefix(converted: ConvertedStateDict, comp: str, expected: Mapping[str, Any]) -> None:
    """transformers < 5 names ``CLIPTextModel`` weights ``text_model.*``; 5.x drops that prefix."""
    given = converted.tensors[comp]
    prefix = "text_model."
    if not given or any(k.startswith(prefix) for k in expected):
        return
    if all(k.startswith(prefix) for k in given):
        converted.tensors[comp] = {k[len(prefix) :]: t for k, t in given.items()}
        converted.origin[comp] = {k[len(prefix) :]: o for k, o in converted.origin[comp].items()}


def check_converted(
    converted: ConvertedStateDict, modules: Mapping[str, torch.nn.Module], report: ConversionReport
) -> None:
    """Fill ``report`` with missing / mismatched / unexpected keys of ``converted`` vs ``modules``."""
    for comp in COMPONENTS:
        expected = modules[comp].state_dict()
        _align_text_model_prefix(converted, comp, expected)
        given = converted.tensors[comp]
        report.fitting[comp] = 0
        if not given:
            if not (comp == "image_encoder" and converted.indivisible_width):  # refused, not made up
                report.random_components.append(comp)
            continue
        for k, t in given.items():
            if k not in expected:
                report.unmapped.append((converted.origin[comp][k], tuple(t.shape)))
            elif tuple(t.shape) != tuple(expected[k].shape):
                official = converted.origin[comp][k]
                report.mismatched.append((official, f"{comp}.{k}", tuple(t.shape), tuple(expected[k].shape)))
            else:
                report.fitting[comp] += 1
        for k, t in expected.items():
            if k not in given:
                report.missing.append((comp, k, tuple(t.shape)))


_DTYPE_FLAGS = {torch.float16: "fp16", torch.bfloat16: "bf16", torch.float32: "fp32"}
_NORMS = (torch.nn.LayerNorm, torch.nn.GroupNorm, torch.nn.modules.batchnorm._NormBase)


def _missing_value(module: torch.nn.Module, key: str, shape: torch.Size, dtype: torch.dtype) -> torch.Tensor:
    """What a tensor absent from the checkpoint becomes: 1 for a norm layer's scale (the identity), else 0."""
    owner_name, _, leaf = key.rpartition(".")
    owner = module.get_submodule(owner_name) if owner_name else module
    if leaf == "weight" and isinstance(owner, _NORMS):
        return torch.ones(shape, dtype=dtype)
    return torch.zeros(shape, dtype=dtype)


def _materialize(
    module: torch.nn.Module, tensors: dict[str, torch.Tensor], dtype: torch.dtype
) -> dict[str, float]:
    """Load ``tensors`` into a meta-built module (``assign=True``); fill any missing or mis-shaped ones with
    zeros (norm scales with ones: a zero scale would silence the layer's output). Returns the keys whose finite
    values ``dtype`` cannot hold (float16 beyond ±65504: inf), with their largest magnitude."""
    full, overflow = {}, {}
    for k, ref in module.state_dict().items():
        t = tensors.get(k)
        if t is None or tuple(t.shape) != tuple(ref.shape):
            t = _missing_value(module, k, ref.shape, dtype)
        full[k] = t.to(dtype) if t.is_floating_point() else t
        if full[k] is not t and torch.isinf(full[k]).any() and not torch.isinf(t).any():
            overflow[k] = float(t.abs().max())
    module.load_state_dict(full, strict=True, assign=True)
    for name, buf in list(module.named_buffers()):
        if buf.device.type != "meta":
            continue
        if not name.endswith("position_ids"):
            raise RuntimeError(f"cannot materialize non-persistent buffer {name!r}")
        owner = module.get_submodule(name.rsplit(".", 1)[0]) if "." in name else module
        value = torch.arange(buf.shape[-1]).expand(buf.shape).clone()
        owner.register_buffer(name.rsplit(".", 1)[-1], value, persistent=False)
    return overflow


def _refuse_unfit(
    report: ConversionReport,
    sd: Mapping[str, torch.Tensor],
    shown: str,
    cfg: ModelConfig,
    strict: bool,
) -> None:
    """Raise :class:`CheckpointMismatchError` for a checkpoint of which nothing fits the model or that is
    recognised as another model's (strict or not), or, with ``strict``, one with any problem. ``shown``: the
    checkpoint quoted as the messages name it."""
    where = f"checkpoint {shown} does not match the {cfg.name!r} architecture"
    # a file users give by mistake is refused strict or not: its folder would be nearly all zeros
    foreign = describe_foreign_state_dict(sd) if report.mostly_unfit else None
    not_strict = Arg("strict", False)
    if not sum(report.fitting.values()):  # strict or not: a folder of random weights is never wanted
        why = foreign or ["is it a StreamingT2V checkpoint, and the right ", Arg("preset"), "?"]
        none_fit = f"{where}: none of its {len(sd)} tensors fits a tensor of the model ("
        raise CheckpointMismatchError([none_fit, *why, "); nothing was written"], report, report.problems())
    if foreign or (strict and not report.ok):
        if foreign:
            advice: list[object] = foreign
        elif report.mostly_unfit:
            advice = [*_few_fit(report), " ", not_strict, " would save the others as zeros"]
        elif ema := sum(key.startswith("model_ema.") for key, _ in report.unmapped):
            # LitEma's copies (names without their dots): listed one by one, thousands of lines said nothing
            advice = [
                f"{ema} of the unmapped tensors are an EMA copy of the weights (model_ema.*), which is "
            ]
            advice += ["not converted; ", not_strict, " converts the live weights"]
        else:
            advice = ["pass ", not_strict, " to convert anyway"]
        headline = [f"{where}: {report.summary()} (", *advice, ")"]
        if not strict:
            headline += ["; refused even with ", not_strict, ": nothing was written"]
        raise CheckpointMismatchError(headline, report, report.problems())


def _few_fit(report: ConversionReport) -> list[object]:
    """What a report of which fewer than half of the checkpoint's tensors fit asks (parts of a message)."""
    fit, total = sum(report.fitting.values()), report.checkpoint_tensors
    return [
        f"only {fit} of its {total} tensors fit: is it the right checkpoint, and the right ",
        Arg("preset"),
        "?",
    ]


def _refuse_indivisible_width(
    report: ConversionReport, shown: str, cfg: ModelConfig, width: int, head_width: int
) -> None:
    """Refuse a checkpoint whose image encoder's width ``head_width`` does not divide: after the question of its
    preset where most of the rest does not fit (the other size's checkpoint, whose head width changes too)."""
    problem = [
        f"the image encoder's width {width} is not divisible by ",
        Arg("head_width", head_width),
        f" (open_clip's per-head width, {VIT_H_HEAD_WIDTH} for ViT-H-14, 64 for ViT-L/B)",
    ]
    if not report.mostly_unfit:
        raise ArgumentValueError(*problem)
    where = f"checkpoint {shown} does not match the {cfg.name!r} architecture"
    headline = [
        f"{where}: {report.summary()} (",
        *_few_fit(report),
        "); and ",
        *problem,
        "; nothing was written",
    ]
    raise CheckpointMismatchError(headline, report, report.problems())


def _made_up(report: ConversionReport, seed: int) -> dict[str, str]:
    """What a conversion made up, by component (recorded in the folder, said when it is loaded): the random
    components, and the tensors absent from the checkpoint or of another shape."""
    made_up = {
        comp: f"random weights (seed {seed}): not in the checkpoint" for comp in report.random_components
    }
    filled = Counter(comp for comp, *_ in report.missing)
    filled.update(ours.split(".", 1)[0] for _, ours, *_ in report.mismatched)
    for comp, n in filled.items():
        made_up[comp] = (
            f"{counted(n, 'tensor')} of zeros (norm scales of ones): not in the checkpoint, or of another shape"
        )
    return made_up


def _materialize_components(
    modules: Mapping[str, torch.nn.Module],
    converted: ConvertedStateDict,
    random_components: list[str],
    cfg: ModelConfig,
    dtype: torch.dtype,
    seed: int,
    shown: str,
) -> None:
    """Load the meta-built ``modules`` in ``dtype``: the checkpoint's tensors, and random weights drawn from
    ``seed`` alone (the caller's random numbers left as they were) for the ``random_components``. Tensors
    that ``dtype`` would turn into inf are refused, naming them."""
    real: dict[str, Any] = {}
    if random_components:
        with seeded_rng(seed):
            real = build_components(cfg, converted.vision_config, "cpu")
    beyond: list[tuple[str, float]] = []
    for comp in COMPONENTS:
        # a random component's weights are loaded into the meta-built module in ``dtype`` as a checkpoint's
        # are: diffusers' Module.to(dtype) would warn of float32 modules on every cast, even where none is
        if comp in random_components:
            _materialize(modules[comp], real[comp].state_dict(), dtype)
            logger.warning("%s not in the checkpoint: random weights", comp)
        else:
            overflow = _materialize(modules[comp], converted.tensors[comp], dtype)
            beyond += [(converted.origin[comp][k], m) for k, m in overflow.items()]
    if beyond:  # a folder whose outputs would be NaN
        listed = first_few([f"{k} (up to {m:.3g})" for k, m in beyond])
        raise ArgumentValueError(
            Arg("dtype", _DTYPE_FLAGS.get(dtype, str(dtype))),
            f": {counted(len(beyond), 'tensor')} of {shown} "
            f"{'holds' if len(beyond) == 1 else 'hold'} "
            "values beyond its range "
            f"(±{torch.finfo(dtype).max:.0f}), which would be saved as inf: {listed}; use ",
            Arg("dtype", "bf16"),
            " (float32's range) or ",
            Arg("dtype", "fp32"),
            "; nothing was written",
        )
    for m in modules.values():
        m.eval()


def convert_official_checkpoint(
    ckpt_path: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    preset: str | os.PathLike[str] | ModelConfig = "modelscope-1.7b",
    init_unet: str | os.PathLike[str] | None = None,
    tokenizer: str | os.PathLike[str] | None = None,
    strict: bool = True,
    head_width: int = VIT_H_HEAD_WIDTH,
    dtype: torch.dtype = torch.float32,
    overwrite: bool = False,
    seed: int = 0,
) -> ConversionReport:
    """Convert the official ``streaming_t2v.ckpt`` to a :class:`StreamingT2VModel` folder.

    ``preset``: the architecture: a :class:`ModelConfig`, a preset name or a JSON file
    (:func:`~streamt2v.io.architecture.read_architecture`). ``init_unet``: a ModelScope diffusers
    folder or hub id (its ``unet/``, and ``tokenizer/`` if present, are used) for stage 1.
    ``tokenizer``: a folder/hub id with the CLIP tokenizer (defaults to ``init_unet``'s).
    ``strict=True`` raises :class:`CheckpointMismatchError` on any unmapped, missing or mis-shaped tensor
    or absent component, and refuses, before the checkpoint is read, a conversion with no tokenizer (an
    ``init_unet`` folder without one and no ``tokenizer``, or neither given: the checkpoint holds none);
    ``strict=False`` reports them (missing tensors are zero, norm scales one; absent components random,
    drawn from ``seed`` alone; what was made up is recorded in the folder's ``model_index.json`` and said
    when it is loaded). ``dtype``: of the saved weights (a torch dtype or ``"fp32"``, ``"fp16"``,
    ``"bf16"``)."""
    with naming_arguments("preset") as (preset_name,):  # preset= to Python, --preset on the command line
        cfg = resolve_architecture(preset, preset_name)
    # everything that can be checked without the (minutes-long) read of a real checkpoint comes first
    dtype = resolve_dtype(dtype, None)
    if isinstance(head_width, bool) or not isinstance(head_width, int) or head_width <= 0:
        raise ArgumentValueError(
            Arg("head_width"),
            f" must be a positive number of channels per attention head, got {head_width!r} (open_clip's "
            f"per-head width, {VIT_H_HEAD_WIDTH} for ViT-H-14, 64 for ViT-L/B)",
        )
    if not os.fspath(out_dir):
        raise ValueError("output folder '' is an empty path; give the folder to write the model to")
    # every path is named as given, then as read where a leading ~ was expanded ('~/x.ckpt' ('/home/me/x.ckpt'));
    # it is the home folder for each (the checkpoint was 'does not exist', the output written to a folder named ~)
    out = home_path(out_dir)
    shown = named_path(ckpt_path)
    # the inputs' message first: it says more, and overwrite, which the others advise, would not help
    refuse_inputs_inside(
        out_dir, {"checkpoint": ckpt_path, Arg("init_unet"): init_unet, Arg("tokenizer"): tokenizer}
    )
    refuse_existing(out_dir, overwrite)
    check_writable_parent(out_dir, "output folder")
    refuse_existing(out_dir, overwrite, model_folder=True)
    # what the checkpoint's first bytes say before a hub id's download (init_unet, tokenizer), the UNet's load
    # and the checkpoint's read (minutes and GBs at full size)
    checked = check_checkpoint(ckpt_path)  # loaded below as checked: a sharded one's index is read once
    leftovers = leftover_temporaries(out)
    stage1 = check_stage1_folder(init_unet, cfg) if init_unet is not None else None
    tok, tokenizer = conversion_tokenizer(tokenizer, init_unet, stage1, cfg, strict)
    # what the arguments alone decide, before the UNet's load and the checkpoint's read
    if strict and tok is None:  # a checkpoint holds tensors only: never a tokenizer
        raise NoTokenizerError(
            f"no tokenizer for the folder converted from {shown}: the official checkpoint has none, and neither ",
            Arg("init_unet"),
            " nor ",
            Arg("tokenizer"),
            " was given, so it could not read prompts: pass ",
            Arg("init_unet"),
            f" with {STAGE1_FOLDER}, or ",
            Arg("strict", False),
            " to convert anyway; nothing was written",
        )
    init = None
    # before the checkpoint's (minutes-long) read: a UNet file lacking a tensor is refused
    if stage1 is not None:
        logger.info("loading the stage-1 UNet from %s", stage1.unet_dir)
        with naming_arguments("init_unet") as (init_name,):
            init = from_pretrained_strict(
                UNet3DConditionModel,
                stage1.unet_dir,
                f"{init_name} UNet folder",
                torch_dtype=dtype,
                variant=stage1.variant,
            ).eval()
        # init_unet/config.json names where it came from as the sources do: absolute, not as typed
        init.register_to_config(_name_or_path=str(stage1.unet_dir.resolve()))
    started = time.monotonic()
    weights, not_loaded = load_checkpoint(checked)
    weights, compiled = strip_compiled_names(weights)
    sd, wrapper = strip_wrapper_prefix(weights)
    logger.info("read %d tensors in %.0f s; mapping them to the model", len(sd), time.monotonic() - started)
    converted = convert_state_dict(sd, head_width=head_width)
    report = ConversionReport(source=str(home_path(ckpt_path)), checkpoint_tensors=len(sd))
    if not_loaded:  # a Lightning checkpoint's hyper_parameters (an argparse.Namespace, a DictConfig)
        report.notes.append(not_loaded_note(not_loaded))
    if compiled:
        report.notes.append(
            f"{compiled} of the checkpoint's names carry torch.compile's '_orig_mod.' (a compiled module's "
            "weights); it was removed"
        )
    if wrapper:
        report.notes.append(
            f"the checkpoint's names carry the prefix {wrapper!r} (a wrapper's); it was removed"
        )
    report.unmapped += converted.unmapped
    report.ignored += converted.ignored
    modules = build_components(cfg, converted.vision_config, "meta")
    check_converted(converted, modules, report)
    if converted.indivisible_width is not None:
        _refuse_indivisible_width(report, shown, cfg, converted.indivisible_width, head_width)
    _refuse_unfit(report, sd, shown, cfg, strict)
    _materialize_components(modules, converted, report.random_components, cfg, dtype, seed, shown)

    sources = {"weights": f"converted from {provenance(ckpt_path)}"}
    if stage1 is not None:
        sources["init_unet"] = provenance(init_unet)
    else:
        report.notes.append(
            Note(
                "the stage-1 model is not in the official checkpoint: pass ",
                Arg("init_unet"),
                f" with a ModelScope diffusers folder or hub id (e.g. {MODELSCOPE_REPO})",
            )
        )
    if tok is not None:
        sources["tokenizer"] = provenance(tokenizer)
    else:
        report.notes.append(
            Note(
                "no tokenizer in the official checkpoint: pass ",
                Arg("tokenizer"),
                f" (e.g. {MODELSCOPE_REPO}) to use prompts",
            )
        )
    model = StreamingT2VModel(
        TextEncoder(tok, modules["text_encoder"], max_length=cfg.streaming.num_text_tokens),
        ImageEncoder(modules["image_encoder"]),
        VideoAutoencoder(modules["vae"]),
        modules["unet"],
        component_configs(cfg).scheduler,
        cfg,
        init_unet=init,
        sources=sources,
        made_up=_made_up(report, seed),
    )
    logger.info("writing the model folder %s", out)
    report.out_dir = str(model.save_pretrained(out, overwrite=overwrite))
    if leftovers:
        report.notes.append(leftovers)
    return report
