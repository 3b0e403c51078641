"""Model folders from training runs: what ``streamt2v generate --model`` and ``enhance --model`` load.

``streamt2v train`` leaves each run's EMA weights in ``OUT/final/``. A StreamingT2V model folder (stages
1–2) puts five of them together: the VAE, micro-CLIP's text and image encoders, the stage-1 UNet and the
stream UNet (CAM + APM); a refiner folder (stage 3) three: its UNet, a VAE and the text encoder. A UNet
only works with the encoders it was trained against, so the VAE, CLIP and stage-1 folders default to the
ones its run recorded (``OUT/config.json``), and the parts are checked against each other (latent
channels, text width and length, image embedding width, latent size) before anything is written.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path
from typing import Any

import torch

from streamt2v.arguments import Arg, ArgumentFileNotFoundError, ArgumentValueError, naming_arguments
from streamt2v.assets import SHIPPED_NAME
from streamt2v.io.folders import (
    home_path,
    named_path,
    read_json_object,
    refuse_existing,
    refuse_inputs_inside,
    saved_class_name,
)
from streamt2v.memory import move_modules
from streamt2v.models.model_index import MODEL_INDEX, is_frame_rate
from streamt2v.models.strict_loading import from_pretrained_strict
from streamt2v.train.assemble_settings import (
    check_sampler_step_counts,
    checked_enhance,
    checked_sampler,
    checked_scheduler_options,
)
from streamt2v.train.frozen import (
    as_given,
    inside_hint,
    names_a_shipped_part,
    need_dir,
    refuse_other_class,
    shipped_advice,
    shipped_part,
)
from streamt2v.train.part_sources import TRAINED_SOURCES, shipped_what
from streamt2v.train.unet_schedules import schedule_file, schedule_mismatch, shown_schedule

logger = logging.getLogger(__name__)


def _run_config(unet_dir: Path) -> dict[str, Any]:
    """The ``config.json`` of the run whose ``final/unet`` is ``unet_dir`` ({} outside a run folder)."""
    config = unet_dir.absolute().parent.parent / "config.json"  # a relative unet's "." has no parent
    if not config.is_file():
        return {}
    return read_json_object(config, "the training run's config")


def recorded_inputs(unet_dir: Path) -> dict[str, Any]:
    """The recipe options of the run whose ``final/unet`` is ``unet_dir`` ({} outside a run folder)."""
    return dict(_run_config(unet_dir).get("recipe_config") or {})


_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")
_NOUNS = {"vae": "VAE", "clip": "CLIP", "base_unet": "stage-1 UNet"}
# when a part other than the one the UNet was trained against can still be right, in the warning about it
_OTHER_PART_NOTES = {
    "vae": "fine if it has the recorded VAE's encoder, e.g. a fine-tuned decoder",
    "base_unet": "fine if it is, e.g., the recorded stage-1 UNet trained further",
    "clip": "its embeddings mean little to the UNet unless it is a copy of the recorded CLIP",
}


def _weights_digest(folder: Path) -> dict[str, tuple[int, str]]:
    """``{relative path: (size, sha256)}`` of the weight files under ``folder``."""
    digest = {}
    for f in sorted(f for f in folder.rglob("*") if f.is_file() and f.suffix in _WEIGHT_SUFFIXES):
        h = hashlib.sha256()
        with f.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        digest[str(f.relative_to(folder))] = (f.stat().st_size, h.hexdigest())
    return digest


def _same_weights(a: Path, b: Path) -> bool:
    """Whether two folders hold byte-identical weight files (a copy of one run's folder)."""
    sizes_a = sorted(f.stat().st_size for f in a.rglob("*") if f.is_file() and f.suffix in _WEIGHT_SUFFIXES)
    sizes_b = sorted(f.stat().st_size for f in b.rglob("*") if f.is_file() and f.suffix in _WEIGHT_SUFFIXES)
    if not sizes_a or sizes_a != sizes_b:  # cheap test first: hashing is only for folders that may match
        return False
    return _weights_digest(a) == _weights_digest(b)


def _warn_if_not_recorded(
    given: str, path: Path, recorded: dict[str, Any], key: str, arg: Arg, unet: str | Path
) -> None:
    """Warn when a part (checked to be of its kind: the warning's advice would mislead before an error saying
    it is none) is not the one the UNet's run recorded (and trained against), naming the argument ``arg``
    that gave it (an :class:`Arg` among the record's arguments, which the command line spells as its flag)
    with the folder ``given`` as typed, then as read (``path``): ``--vae '~/v' ('/home/me/v')``; the run by
    the UNet ``unet`` as typed (:func:`_unet_as_typed`).

    A warning, not an error: a fine-tuned decoder or a stage-1 UNet trained further is a legitimate choice.
    """
    if not recorded.get(key):
        return
    want = Path(recorded[key])
    if path.resolve() == want.resolve():
        return
    if want.is_dir():
        if _same_weights(path, want):
            return
        why = "and holds other weights"
    else:
        why = "(the recorded folder does not exist here, so the weights could not be compared)"
    logger.warning(
        "%s is not the %s the UNet's run recorded (%s, in %s) %s: the UNet was trained against the "
        "recorded one (%s; leave %s out to use the recorded one)",
        as_given(given, arg),
        _NOUNS.get(key, key),
        named_path(str(want)),
        _named_run_config(unet),
        why,
        _OTHER_PART_NOTES[key],
        arg,
    )


def _part(
    given: str | Path | None, recorded: dict[str, Any], key: str, arg: Arg, unet: str | Path, kind: str
) -> tuple[str, Path]:
    """``given`` (the argument ``arg``), else the folder the run of the UNet ``unet`` (as typed:
    :func:`_unet_as_typed`) recorded under ``key`` (``recorded``);
    it must exist: ``(as given, as read)``, the first for the loaders, whose refusals name it so (``~/v``),
    the second for the checks (``~`` expanded). ``microworld`` names the shipped part as in the recipes
    (``frozen.shipped_part``; the ``kind`` of folder assembled, ``model`` or ``refiner``, picks the VAE),
    unless a local folder has that name. One given is checked against the recorded one by
    :func:`_warn_if_not_recorded` once it is known to be a part of its kind (loaded)."""
    if given:
        shipped = shipped_part(key, given, kind)
        if shipped:
            return shipped, Path(shipped)
        how = f"pass {TRAINED_SOURCES[key]}, or {shipped_advice(key, kind, given)}"
        return str(given), need_dir(str(given), "", how, arg)
    return str(path := _recorded_part(recorded, key, arg, unet, kind)), path


def _recorded_part(recorded: dict[str, Any], key: str, arg: Arg, unet: str | Path, kind: str) -> Path:
    """:func:`_part`'s folder when none is given: the one the UNet's run recorded, which must exist."""
    if not recorded.get(key):
        raise ArgumentValueError(
            arg, f" is needed: {named_path(unet)} is not the final/unet of a run that recorded its {key}"
        )
    path = Path(recorded[key])
    if path.is_dir():
        logger.info("%s: %s, as recorded by the run of %s", arg, named_path(str(path)), named_path(unet))
        return path
    # runs record absolute paths; one recorded before that holds the path as typed, relative to the folder
    # `train` ran in; a shipped part's, inside the package as it was installed then (a reinstall moves it)
    where = "" if path.is_absolute() else ", relative to the folder the run was started in"
    again = (", or ", Arg(arg.name, SHIPPED_NAME), f" for {shipped_what(key, kind)}")
    raise ArgumentFileNotFoundError(
        arg,
        f" folder {named_path(str(path))} does not exist (recorded as {key} by the run of {named_path(unet)}"
        f"{where}; pass ",
        arg,
        " to choose",
        *(again if names_a_shipped_part(key, path, kind) else ()),
        ")",
    )


def _unet_folder(path: str | Path, cls: str, name: str, what: str, kind: str) -> Path:
    """The folder ``path`` (the argument ``name``: ``unet``, ``init_unet``), after checking it holds a
    ``cls``, the UNet of ``what``; ``microworld`` names the shipped one of ``kind`` (``model``, ``refiner``)
    as in the recipes (``frozen.shipped_part``), unless a local folder has that name. Refused as the recipes'
    folders are (``frozen.need_dir``: the value as typed)."""
    how = f"pass OUT/final/unet of {what}, or {shipped_advice(name, kind, path)}"
    shipped = shipped_part(name, path, kind)
    p = Path(shipped) if shipped else need_dir(str(path), "", how, Arg(name))
    config = p / "config.json"
    given = as_given(path, Arg(name))  # named as typed, as need_dir names it: --unet 'my runs/e'
    if not config.is_file():
        raise ArgumentFileNotFoundError(given, f" has no config.json ({how}){inside_hint(p, cls)}")
    with naming_arguments(name) as (arg,):
        saved = saved_class_name(config, f"{arg} config")
    refuse_other_class(p, cls, saved, named=given, why=how.removeprefix("pass "))
    return p


def _stream_config(unet_dir: Path) -> dict[str, Any]:
    """The streaming config (CAM, APM) of the stream UNet in ``unet_dir`` (checked by
    :func:`_unet_folder`)."""
    with naming_arguments("unet") as (arg,):
        return dict(read_json_object(unet_dir / "config.json", f"{arg} config")["streaming"])


def _load_unet(cls: type, folder: Path, name: str, dtype: torch.dtype) -> Any:
    """The ``cls`` UNet in ``folder`` in ``dtype``, for inference; its errors name the argument ``name``."""
    with naming_arguments(name) as (arg,):
        return from_pretrained_strict(cls, folder, f"{arg} folder", torch_dtype=dtype).eval()


def _unet_as_typed(given: str | Path, folder: Path) -> str | Path:
    """The UNet ``given`` as typed where it is the ``folder`` read, for the messages to name so
    (:func:`refuse_inputs_inside`'s ``--unet '~/u' ('/home/me/u')``, its run's ``'~/u' ('/home/me/u')``);
    else ``folder``: the shipped one (``microworld``). The other parts' ``_part`` values are already so."""
    return given if home_path(given) == folder else folder


def _above(unet: str | Path, levels: int) -> str:
    """The folder ``levels`` above the UNet ``unet``, from the text as typed where it has so many parents
    (``./~/s/final/unet``'s ``./~/s``: a ``Path`` drops the ``./``, and ``~/s`` is the home folder's), else
    from the folder read (``~/unet``'s parent's parent is the home folder's)."""
    text = os.fspath(unet).rstrip(os.sep)
    for _ in range(levels):
        if os.path.basename(text) in ("", ".", "..", "~"):  # typed up to its start: the folder read
            read = Path(os.path.abspath(home_path(unet)))  # abspath: "../unet"'s parents by name
            for _ in range(levels):
                read = read.parent
            return os.fspath(read)
        text = os.path.dirname(text)
    return text or "."


def _named_run_config(unet: str | Path) -> str:
    """The ``config.json`` of the run of the UNet ``unet`` (as typed: :func:`_unet_as_typed`), named as typed,
    then as read (:func:`named_path`)."""
    return named_path(os.path.join(_above(unet, 2), "config.json"))


def _scheduler_dir(unet: str | Path, scheduler: str | Path | None) -> str | Path:
    """``scheduler``, else the ``final/scheduler`` beside the UNet ``unet``: as typed (a leading ``~`` kept)."""
    return scheduler or os.path.join(_above(unet, 1), "scheduler")


def training_scheduler(unet: str | Path, scheduler: str | Path | None = None) -> dict[str, Any]:
    """The noise schedule the UNet ``unet`` was trained with (its run's ``final/scheduler``, or
    ``scheduler``), as the config of the DDIM sampler the folders name (sampling picks its solver by name
    from the same betas). Paths as typed: a leading ``~`` is the home folder, named as typed, then as read."""
    folder = _scheduler_dir(unet, scheduler)
    file = home_path(folder) / "scheduler_config.json"
    if not file.is_file() and scheduler:  # named as typed: --scheduler '~/s' ('/home/me/s')
        missing = not file.parent.exists()  # a mistyped folder: not one that lacks the file
        raise ArgumentFileNotFoundError(
            as_given(scheduler, Arg("scheduler")),
            f" {'does not exist' if missing else 'holds no scheduler_config.json'} (a run's final/scheduler"
            " folder)",
        )
    if not file.is_file():
        raise ArgumentFileNotFoundError(
            f"no scheduler config {named_path(os.path.join(folder, file.name))} (pass ",
            Arg("scheduler"),
            ", a run's final/scheduler folder)",
        )
    saved = read_json_object(file, "scheduler config")
    return {"_class_name": "DDIMScheduler", **{k: v for k, v in saved.items() if not k.startswith("_")}}


def _check(problems: list[str], what: str) -> None:
    if problems:
        raise ValueError(f"these parts do not make one {what}: " + "; ".join(problems))


def _text_and_latent_problems(unet: Any, name: str, vae: Any, text: Any) -> list[str]:
    c = unet.config
    problems = []
    if c.in_channels != vae.latent_channels or c.out_channels != vae.latent_channels:
        problems.append(
            f"{name} has {c.in_channels} in / {c.out_channels} out channels, the VAE {vae.latent_channels} "
            "latent channels"
        )
    if c.cross_attention_dim != text.hidden_size:
        problems.append(
            f"{name} attends to text of width {c.cross_attention_dim}, the text encoder's is "
            f"{text.hidden_size}"
        )
    return problems


def _fps(fps: Any) -> int | None:
    """The model folder's frame rate as given (None: not given), refused unless it can be one
    (``is_frame_rate``)."""
    if fps is None:
        return None
    if not is_frame_rate(fps):
        raise ArgumentValueError(Arg("fps"), f" must be an integer > 0, got {fps!r}")
    return int(fps)


def _recorded_fps(unet: str | Path) -> int:
    """The frame rate of the videos the run of the UNet ``unet`` (as typed: :func:`_unet_as_typed`) trained
    on, as it recorded it (its ``config.json``'s ``fps``: a run on a folder of videos), else the
    microworld's (whose runs record none)."""
    from streamt2v.microworld.render import FPS

    config = _run_config(home_path(unet))
    fps = config.get("fps")
    if fps is None:
        return FPS
    if not is_frame_rate(fps):
        raise ArgumentValueError(
            f"the frame rate {fps!r} recorded by the run of {named_path(unet)} ('fps' in "
            f"{_named_run_config(unet)}) is not an integer > 0; pass ",
            Arg("fps"),
            " to give the videos' frame rate",
        )
    logger.info("fps: %d, as recorded by the run of %s", fps, named_path(unet))
    return int(fps)


def assemble_model(
    dest: str | Path,
    *,
    unet: str | Path,
    init_unet: str | Path | None = None,
    vae: str | Path | None = None,
    clip: str | Path | None = None,
    scheduler: str | Path | None = None,
    sampler: dict[str, Any] | None = None,
    fps: int | None = None,
    name: str | None = None,
    sources: dict[str, str] | None = None,
    dtype: torch.dtype = torch.float32,
    overwrite: bool = False,
) -> Path:
    """Write a ``StreamingT2VModel`` folder from a stream run's UNet (``unet``) and the stage-1 UNet, VAE and
    CLIP it goes with (default: those its run recorded as ``base_unet``, ``vae``, ``clip``). ``sampler``:
    recommended :class:`StreamConfig` settings stored in the folder; ``scheduler``: default the stream
    run's ``final/scheduler``. ``fps``: the frame rate ``generate`` writes the model's videos at, that of
    its training videos (default: the one the stream run recorded, a run on a folder of videos; else 8,
    the microworld's)."""
    from diffusers import UNet3DConditionModel

    from streamt2v.config import ModelConfig, UNetConfig
    from streamt2v.models.bundle import StreamingT2VModel
    from streamt2v.models.unet import StreamingUNet
    from streamt2v.train.frozen import load_frozen_clip, load_frozen_vae

    given, dest = dest, home_path(dest)  # ~ as the command line takes it; named as given
    fps = _fps(fps)
    refuse_existing(given, overwrite)
    unet_dir = _unet_folder(unet, "StreamingUNet", "unet", "a stream run", "model")
    typed = _unet_as_typed(unet, unet_dir)  # the UNet and its run, named as typed
    sampler = checked_sampler(sampler, _stream_config(unet_dir))
    if fps is None:
        fps = _recorded_fps(typed)
    recorded = recorded_inputs(unet_dir)
    init_given = _part(init_unet, recorded, "base_unet", Arg("init_unet"), typed, "model")[0]
    init_dir = _unet_folder(
        init_given,
        "UNet3DConditionModel",
        "init_unet",
        "a base run",
        "model",
    )
    vae_given, vae_dir = _part(vae, recorded, "vae", Arg("vae"), typed, "model")
    clip_given, clip_dir = _part(clip, recorded, "clip", Arg("clip"), typed, "model")
    inputs = {
        Arg("unet"): typed,
        Arg("init_unet"): init_given,
        Arg("vae"): vae_given,
        Arg("clip"): clip_given,
        Arg("scheduler"): _scheduler_dir(typed, scheduler),
    }
    refuse_inputs_inside(given, inputs)
    refuse_existing(given, overwrite, model_folder=True)  # the inputs' message first: it says more
    # after the parts: a missing --init-unet is named before the schedule of a UNet outside a run
    schedule = training_scheduler(typed, scheduler)
    timesteps = int(schedule.get("num_train_timesteps", 1000))
    check_sampler_step_counts(sampler, int(_stream_config(unet_dir)["num_frames"]), timesteps)
    text, image = load_frozen_clip(clip_given, image=True)
    # diffusers parts load in the target dtype (casting them afterwards warns on every model)
    video_vae = load_frozen_vae(vae_given, dtype, recipe="model")
    stream = _load_unet(StreamingUNet, unet_dir, "unet", dtype)
    stage1 = _load_unet(UNet3DConditionModel, init_dir, "init_unet", dtype)
    move_modules([text, image], dtype=dtype)
    for key, arg, given, path in (
        ("base_unet", Arg("init_unet"), init_given, init_dir),
        ("vae", Arg("vae"), vae_given, vae_dir),
        ("clip", Arg("clip"), clip_given, clip_dir),
    ):
        _warn_if_not_recorded(given, path, recorded, key, arg, typed)

    s, base = stream.streaming_config, stream.base.config
    problems = _text_and_latent_problems(stream.base, "the stream UNet", video_vae, text)
    problems += _text_and_latent_problems(stage1, "the stage-1 UNet", video_vae, text)
    if stage1.config.sample_size != base.sample_size:
        problems.append(
            f"the stage-1 UNet's latent size is {stage1.config.sample_size}, the stream's {base.sample_size}"
        )
    problems += _stage1_schedule_problems(init_dir, init_given, schedule)
    if s.num_text_tokens != text.max_length:
        problems.append(
            f"the stream's APM takes {s.num_text_tokens} text tokens, the tokenizer gives {text.max_length}"
        )
    if s.image_embed_dim != image.projection_dim:
        problems.append(
            f"the stream's APM takes image embeddings of width {s.image_embed_dim}, the image encoder's is "
            f"{image.projection_dim}"
        )
    if 2 ** (len(s.cond_embedding_channels) - 1) != video_vae.scale_factor:
        problems.append(
            f"the CAM's frame encoder downsamples {2 ** (len(s.cond_embedding_channels) - 1)}×, the VAE "
            f"{video_vae.scale_factor}×"
        )
    _check(problems, "model")

    fields = set(UNetConfig.__dataclass_fields__)
    unet_cfg = UNetConfig(
        **{k: tuple(v) if isinstance(v, list) else v for k, v in base.items() if k in fields}
    )
    config = ModelConfig(
        name=name or dest.name,
        unet=unet_cfg,
        streaming=s,
        frame_size=int(base.sample_size) * video_vae.scale_factor,
        vae_scale_factor=video_vae.scale_factor,
    )
    parts = {"unet": unet_dir, "init_unet": init_dir, "vae": vae_dir, "clip": clip_dir}
    part_sources, made_up = _part_records(parts)
    model = StreamingT2VModel(
        text,
        image,
        video_vae,
        stream,
        schedule,
        config,
        init_unet=stage1,
        fps=fps,
        sources=sources or part_sources,
        sampler=sampler,
        made_up=made_up,
    )
    for module in model.modules().values():
        module.requires_grad_(False)
    return model.save_pretrained(dest, overwrite=overwrite)


def _stage1_schedule_problems(init_dir: Path, init_given: str, folder: dict[str, Any]) -> list[str]:
    """The model folder samples both UNets with one schedule (``folder``, the stream's): a stage-1 UNet
    trained with another (the one kept beside it) would draw noise, e.g. a v-prediction UNet read as ε."""
    mismatch = schedule_mismatch(init_dir, folder)
    if mismatch is None:
        return []
    have, differ = mismatch
    return [
        f"the stage-1 UNet {named_path(init_given)} was trained with {shown_schedule(have, differ)} (its "
        f"scheduler {named_path(str(schedule_file(init_dir).parent))}), the stream UNet's schedule, the one "
        f"the model folder samples both with, has {shown_schedule(folder, differ)}: train the stream with the "
        "stage-1 UNet's schedule (the recipe options of those names), or pass a stage-1 UNet trained with the "
        "stream's"
    ]


def _part_records(parts: dict[str, Path]) -> tuple[dict[str, str], dict[str, str]]:
    """What the model folder each part is taken from records for it, each index read once:
    - its provenance (``{"unet": folder, ...}``): the index's ``sources`` (``"converted from CHECKPOINT"`` of a
      converted folder, the shipped model's note, an assembled folder's entry), else ``"trained: FOLDER"`` (a
      run's ``final/``); a CLIP taken from a model folder brings the tokenizer's recorded source too;
    - what a ``convert --no-strict`` made up (its ``made_up``), for the components taken: kept, so the
      assembled folder still warns when it loads."""
    sources: dict[str, str] = {}
    made_up: dict[str, str] = {}
    for key, path in parts.items():
        record = _model_folder_record(_holder(key, path))
        recorded = _strings(record.get("sources"))
        # absolute, as the other records are: the folder as typed (runs/stream/...) means nothing elsewhere
        sources[key] = recorded.get(key) or recorded.get("weights") or f"trained: {os.path.abspath(path)}"
        if key == "clip" and recorded.get("tokenizer"):
            sources["tokenizer"] = recorded["tokenizer"]
        made = _strings(record.get("made_up"))
        made_up.update({comp: made[comp] for comp in _PART_COMPONENTS[key] if comp in made})
    return sources, made_up


# the components of a model folder each part brings: --clip brings both encoders
_PART_COMPONENTS = {
    "unet": ("unet",),
    "init_unet": ("init_unet",),
    "vae": ("vae",),
    "clip": ("text_encoder", "image_encoder"),
}


def _holder(key: str, path: Path) -> Path:
    """The folder whose index may describe the part ``key`` at ``path``: --clip is a model folder itself,
    the other parts are subfolders of one."""
    return path if key == "clip" else path.parent


def _model_folder_record(folder: Path) -> dict[str, Any]:
    """What a StreamingT2VModel folder's index records under ``streamt2v`` ({} for any other folder, or an
    index that cannot be read: loading the part names that, not this note)."""
    index_file = folder / MODEL_INDEX
    if saved_class_name(index_file) != "StreamingT2VModel":  # absent, damaged or of another kind
        return {}
    meta = read_json_object(index_file, "model folder index").get("streamt2v")
    return meta if isinstance(meta, dict) else {}


def _strings(record: object) -> dict[str, str]:
    """A recorded ``{name: text}`` (``sources``, ``made_up``), its entries that are text; {} for anything else."""
    if not isinstance(record, dict):
        return {}
    return {k: v for k, v in record.items() if isinstance(k, str) and isinstance(v, str) and v}


def assemble_refiner(
    dest: str | Path,
    *,
    unet: str | Path,
    vae: str | Path | None = None,
    clip: str | Path | None = None,
    scheduler: str | Path | None = None,
    scheduler_overrides: dict[str, Any] | None = None,
    enhance: dict[str, Any] | None = None,
    dtype: torch.dtype = torch.float32,
    overwrite: bool = False,
) -> Path:
    """Write a refiner folder (stage 3) from a refiner run's UNet and the VAE and CLIP text encoder it goes
    with (default: those its run recorded). ``enhance``: recommended :class:`EnhanceConfig` settings;
    ``scheduler_overrides``: DDIM options over the training schedule (e.g. ``set_alpha_to_one``)."""
    from diffusers import UNet3DConditionModel

    from streamt2v.pipeline.refiner import Refiner
    from streamt2v.train.frozen import load_frozen_clip, load_frozen_vae

    given, dest = dest, home_path(dest)  # ~ as the command line takes it; named as given
    refuse_existing(given, overwrite)
    unet_dir = _unet_folder(unet, "UNet3DConditionModel", "unet", "a refiner or base run", "refiner")
    typed = _unet_as_typed(unet, unet_dir)  # the UNet and its run, named as typed
    enhance = checked_enhance(enhance)
    overrides = checked_scheduler_options(scheduler_overrides)
    recorded = recorded_inputs(unet_dir)
    vae_given, vae_dir = _part(vae, recorded, "vae", Arg("vae"), typed, "refiner")
    clip_given, clip_dir = _part(clip, recorded, "clip", Arg("clip"), typed, "refiner")
    inputs = {
        Arg("unet"): typed,
        Arg("vae"): vae_given,
        Arg("clip"): clip_given,
        Arg("scheduler"): _scheduler_dir(typed, scheduler),
    }
    refuse_inputs_inside(given, inputs)
    refuse_existing(given, overwrite, model_folder=True)  # the inputs' message first: it says more
    text, _ = load_frozen_clip(clip_given)
    video_vae = load_frozen_vae(vae_given, dtype, recipe="refiner")
    net = _load_unet(UNet3DConditionModel, unet_dir, "unet", dtype).requires_grad_(False)
    move_modules([text], dtype=dtype)
    for key, arg, given, path in (
        ("vae", Arg("vae"), vae_given, vae_dir),
        ("clip", Arg("clip"), clip_given, clip_dir),
    ):
        _warn_if_not_recorded(given, path, recorded, key, arg, typed)
    _check(_text_and_latent_problems(net, "the refiner UNet", video_vae, text), "refiner")
    sched = {k: v for k, v in training_scheduler(typed, scheduler).items() if k != "_class_name"}
    sched.update(overrides)
    size = int(net.config.sample_size) * video_vae.scale_factor
    sources, _ = _part_records({"unet": unet_dir, "vae": vae_dir, "clip": clip_dir})
    refiner = Refiner(net, video_vae, text, sched, (size, size), enhance, sources=sources)
    return refiner.save_pretrained(dest, overwrite=overwrite)
