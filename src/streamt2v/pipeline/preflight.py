"""The checks :func:`~streamt2v.pipeline.generate.generate` runs before any model is loaded: prompt and
schedule, input files, device and dtype, compile backend, stage-3 settings as stage 3 will run them, the
model spec, every output path and the run directory. Bad inputs fail in milliseconds, not after a chunk."""

from __future__ import annotations

import logging
import os
from collections.abc import Collection
from pathlib import Path
from typing import TYPE_CHECKING

from streamt2v.arguments import (
    Arg,
    ArgumentFileNotFoundError,
    ArgumentIsADirectoryError,
    ArgumentValueError,
    FlaggedArg,
    naming_arguments,
)
from streamt2v.assets import SHIPPED_NAME, names_shipped
from streamt2v.config import PRESETS
from streamt2v.io.folders import home_path, looks_like_hub_id, named_path
from streamt2v.io.frame_rates import MAX_FPS, MAX_GIF_FPS, MIN_FPS, check_fps, check_gif_fps
from streamt2v.io.output_paths import check_output_path, output_kind
from streamt2v.memory import resolve_device
from streamt2v.models.model_index import peek_model_index
from streamt2v.pipeline.dtype_setting import check_dtype_on
from streamt2v.pipeline.model_loading import close_model_name
from streamt2v.pipeline.prompts import PromptSchedule
from streamt2v.pipeline.rundir import RunDir
from streamt2v.pipeline.setting_checks import EnhanceSettingError
from streamt2v.wording import counted

if TYPE_CHECKING:
    from streamt2v.models.bundle import StreamingT2VModel
    from streamt2v.pipeline.generate import GenerateConfig

logger = logging.getLogger(__name__)


# GenerateConfig's prompt and output to a Python caller, the positional PROMPT and -o on the command line
PROMPT_ARG = FlaggedArg("prompt", flag="PROMPT")
_OUTPUT_ARG = FlaggedArg("output", flag="-o")
# The fields of GenerateConfig that name files the checks below name by argument: init_video= to a Python
# caller, --init-video on the command line.
_INPUTS = ("init_video", "init_image", "anchor")


def lowres_path(output: str | os.PathLike) -> Path:
    """Where ``generate --enhance`` keeps the stage-2 (low-resolution) video: ``out.mp4`` → ``out.lowres.mp4``,
    a PNG folder ``frames`` → ``frames-lowres`` (``frames.lowres`` would read as a file of unknown suffix; an
    existing folder ``frames.v3`` → ``frames-v3-lowres`` for the same reason)."""
    out = Path(output)
    if output_kind(out) == "png-dir":
        return out.with_name(f"{out.name.replace('.', '-')}-lowres")
    return out.with_name(f"{out.stem}.lowres{out.suffix}")


def output_targets(cfg: GenerateConfig) -> list[tuple[str | Arg, Path]]:
    """``(what, path)`` of every file or folder a run writes (with stage 3 the low-resolution video first);
    ``what`` is an :class:`Arg` for the outputs named by their argument (``png_dir``, ``--png-dir``)."""
    targets: list[tuple[str | Arg, Path]] = [("output", Path(cfg.output))]
    if cfg.enhance is not None:
        targets.insert(0, ("low-resolution output", lowres_path(cfg.output)))
    if cfg.png_dir:
        targets.append((Arg("png_dir"), Path(cfg.png_dir)))
    if cfg.gif:
        targets.append((Arg("gif"), Path(cfg.gif)))
    return targets


def check_outputs(cfg: GenerateConfig, *, overwrite: bool) -> None:
    """Every output path of a run (:func:`output_targets`) checked before any work; the messages name the
    arguments as the caller spells them (``png_dir`` to Python, ``--png-dir`` on the command line)."""
    if cfg.gif is not None and Path(cfg.gif).suffix.lower() != ".gif":
        raise ArgumentValueError(Arg("gif"), f" path must end in .gif, got {named_path(cfg.gif)}")
    if cfg.png_dir and Path(cfg.png_dir).suffix and not home_path(cfg.png_dir).is_dir():
        # output_kind would take frames.mp4 for a video, out/v.png for no kind at all ("cannot write video")
        raise ArgumentValueError(
            Arg("png_dir"),
            f" {named_path(cfg.png_dir)} has a suffix: it names the folder of the PNG frames (frame_000000.png, ...); "
            "leave the suffix off, or make the folder first",
        )
    seen: dict[Path, str | Arg] = {}
    # an output over an input (extending a video in place) would replace the user's file, even with --overwrite
    inputs = {home_path(p).resolve(): Arg(name) for name in _INPUTS if (p := getattr(cfg, name)) is not None}
    # The outputs streamed chunk by chunk, with a preview beside each (with stage 3, the low-resolution one;
    # the final outputs are written once, after it).
    streamed = {path for _, path in output_targets(cfg)[: 1 if cfg.enhance is not None else None]}
    with naming_arguments("png_dir", "gif") as marks:
        # check_output_path words its messages from a plain-text what: the arguments' placeholders
        placeholder = dict(zip(("png_dir", "gif"), marks))
        for what, path in output_targets(cfg):
            key = home_path(path).resolve()  # given as typed (~/x.mp4): named so
            if key in inputs:  # before the existing-output refusal, whose advice (--overwrite) would not do
                raise ArgumentValueError(
                    what,
                    f" {named_path(path)} is the ",
                    inputs[key],
                    " input; give another output path (writing it would replace the input)",
                )
            named = placeholder[what.name] if isinstance(what, Arg) else what
            check_output_path(path, overwrite=overwrite, what=named, preview=path in streamed)
            if key in seen:
                raise ArgumentValueError(
                    what, f" {named_path(path)} is the same path as the ", seen[key], "; give different paths"
                )
            seen[key] = what


def check_run_dir_apart(cfg: GenerateConfig, run_dir: str | os.PathLike, *, chosen: bool) -> None:
    """Refuse a run directory that is an output's path (``-o x.mp4 --run-dir x.mp4``), or a PNG-folder output
    or lies in one (``-o frames --run-dir frames/run``, or ``-o runs`` with the default
    ``runs/<time>-<prompt>``): such a folder holds nothing but its frames, so its writer refused the run's own
    files as another's, after the model had loaded, leaving the folder behind. ``chosen``: the folder was
    given (``--run-dir``), not the default. ``cfg`` and ``run_dir`` as given (``~/x``): named so, then as
    read."""
    run = home_path(run_dir).resolve()
    for what, path in output_targets(cfg):
        folder = home_path(path).resolve()
        if run == folder and output_kind(path) != "png-dir":
            # -o x.mp4 --run-dir x.mp4: the run's folder was made there, then the video refused as a folder
            raise ArgumentValueError(
                f"run directory {named_path(run_dir)} is the ",
                what,
                " path; give ",
                Arg("run_dir"),
                " another folder",
            )
        if output_kind(path) == "png-dir" and (run == folder or folder in run.parents):
            where = "" if chosen else f"the default run directory is under {str(Path(run_dir).parent)!r}: "
            # the low-resolution folder is the output's
            arg = what if isinstance(what, Arg) else _OUTPUT_ARG
            raise ArgumentValueError(
                f"run directory {named_path(run_dir)} is in the ",
                what,
                f" folder {named_path(path)}, which is to hold only its frames; {where}choose a ",
                Arg("run_dir"),
                " outside it, or give ",
                arg,
                " another folder",
            )


def _check_input_file(arg: Arg, path: str, *, folder_ok: bool) -> None:
    p = home_path(path)  # named as given, then as read (~/x.mp4)
    if not p.exists():
        raise ArgumentFileNotFoundError(arg, f" file not found: {named_path(path)}")
    if p.is_dir() and not folder_ok:
        raise ArgumentIsADirectoryError(arg, f" {named_path(path)} is a folder; give an image file")
    if arg.name != "init_video" and p.is_file():
        from streamt2v.io.video import check_image

        try:  # an animation, a video or a damaged file: said now, not after the model has loaded
            check_image(p)
        except ValueError as err:
            raise ArgumentValueError(arg, f": {err}") from None


def model_frame_size(model: StreamingT2VModel | None, model_spec: str | None) -> int | None:
    """The frame size of the model a run loads, without loading it: the model given, a preset's, a model
    folder's index; None where none says it (a hub id, a folder that is no streamt2v model: loading names it)."""
    if model is not None:
        return model.config.frame_size
    if model_spec in PRESETS and not Path(model_spec).exists():  # as load_model takes a preset name
        return PRESETS[model_spec].frame_size
    found = peek_model_index(model_spec)
    if found is None:
        return None
    path, index = found
    try:
        size = index["streamt2v"]["model_config"]["frame_size"]
    except (KeyError, TypeError):
        size = None
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        if model_spec is not None and not names_shipped(model_spec):
            return None  # not a streamt2v model folder, or a damaged index: loading it names the field
        raise ValueError(
            f"model folder index {str(path)!r} has no streamt2v.model_config.frame_size (the architecture "
            "save_pretrained writes)"
        )
    return size


def check_default_refiner_for(
    cfg: GenerateConfig, model: StreamingT2VModel | None, *, warn_unused: bool = False
) -> Path | None:
    """With stage 3 and no refiner folder: the refiner folder stage 3 will load for the model's frame size
    (:func:`~streamt2v.pipeline.default_refiner.check_default_refiner`, the decision ``streamt2v enhance`` takes too:
    the shipped refiner, else a random-weight stand-in where ``random_refiner`` (``--random-refiner``) lets
    it in, else refused: a run that said nothing wrote a noise video after its stages 1-2). Before loading
    where the size is known without the model, and again, before any sampling, once it is loaded. None: the
    stand-in, a refiner folder given, or a size not known before loading. The shipped refiner given as the
    refiner folder (``--refiner microworld``) is refused for another size as it is unasked
    (:func:`~streamt2v.pipeline.default_refiner.check_shipped_refiner_fits`). ``warn_unused``: warn that
    ``random_refiner`` changes nothing where the shipped refiner is for the size (as ``enhance`` does)."""
    if cfg.enhance is None:
        return None
    from streamt2v.pipeline.default_refiner import (
        STAND_IN_ARG,
        check_default_refiner,
        check_shipped_refiner_fits,
        names_shipped_refiner,
    )

    size = (
        model_frame_size(model, cfg.model)
        if cfg.refiner is None or names_shipped_refiner(cfg.refiner)
        else None
    )
    if size is None:
        return None
    if cfg.refiner is not None:  # the shipped refiner given by name or path: for its size alone too
        subject = f"the model makes {size}x{size} frames"
        check_shipped_refiner_fits(
            cfg.refiner, (size, size), subject=subject, folder_arg=Arg("refiner"), resize=False
        )
        return None
    folder = check_default_refiner(
        (size, size),
        stand_in=cfg.random_refiner,
        subject=f"the model makes {size}x{size} frames",
        folder_arg=Arg("refiner", "DIR"),
        stand_in_arg=STAND_IN_ARG,
        resize=False,
    )
    if warn_unused and cfg.random_refiner and folder is not None:
        # random_refiner=True to a Python caller, --random-refiner on the command line (logs_naming_flags)
        logger.warning(
            "ignoring %s: the shipped refiner is for this model's %dx%d frames", STAND_IN_ARG, size, size
        )
    return folder


def _check_reads_prompts(model: StreamingT2VModel | None, spec: str | None) -> None:
    """Refuse a model without a tokenizer (an official checkpoint converted with ``--no-strict`` and no
    ``--tokenizer``): it cannot read the prompt, which a 1.7B model would otherwise find after minutes of
    loading."""
    if model is not None:
        if model.tokenizer is not None:
            return
        where = "the model given"
    else:
        try:
            found = peek_model_index(spec)
        except ValueError:  # not a model_index.json of ours: loading names the problem
            return
        if found is None or found[1].get("tokenizer", True) is not None:
            return
        where = f'model folder {str(spec)!r} ("tokenizer": null in its model_index.json)'
    from streamt2v.models.bundle import MODELSCOPE_REPO

    raise ValueError(
        f"{where} has no tokenizer, so it cannot read prompts: convert the official checkpoint again with "
        f"--tokenizer pointing at a ModelScope folder (e.g. {MODELSCOPE_REPO})"
    )


def check_inputs(
    cfg: GenerateConfig,
    *,
    resume: bool = False,
    model: StreamingT2VModel | None = None,
    read_inputs: bool = True,
    given_now: Collection[str] = (),
) -> PromptSchedule:
    """Cheap checks before any model is loaded (bad inputs fail in milliseconds). ``read_inputs`` False:
    the input video/images will not be read (a resumed run holds them in its finished chunks).
    ``given_now``: the settings a resume was given (``compile``), named as given, not as the run's."""
    if not resume and cfg.prompt is not None and cfg.prompt_schedule is not None:
        # the command line's PROMPT is the prompt= field
        raise ArgumentValueError("give either ", PROMPT_ARG, " or ", Arg("prompt_schedule"), ", not both")
    schedule = cfg.schedule()
    schedule.validate(cfg.stream.num_frames)
    if cfg.fps is not None:
        with naming_arguments("fps") as (fps,):
            check_fps(cfg.fps, fps)
            if any(output_kind(path) == "gif" for _, path in output_targets(cfg)):
                check_gif_fps(cfg.fps, fps)
    if cfg.init_video and cfg.init_image:
        raise ArgumentValueError("give either ", Arg("init_video"), " or ", Arg("init_image"), ", not both")
    for name in _INPUTS:
        p = getattr(cfg, name)
        if p is not None and read_inputs:
            _check_input_file(Arg(name), p, folder_ok=name == "init_video")
    device = resolve_device(cfg.device)
    check_dtype_on(cfg.dtype, device, the_runs=resume and "dtype" not in given_now)
    if cfg.compile is not None:
        from streamt2v.compiling import check_compile_support

        try:
            check_compile_support(device, cfg.compile)
        except (ValueError, RuntimeError) as err:
            if not resume:
                raise
            if "compile" in given_now:  # typed now (--compile nope), not the run's
                raise ArgumentValueError(Arg("compile", cfg.compile), f": {err}") from None
            # the run's own setting, not one typed now: say how to continue it without
            raise ArgumentValueError(
                f"the run was compiled with {cfg.compile}: {err}; to continue it without compiling, pass ",
                Arg("compile", False),
            ) from None
    if cfg.enhance is not None and cfg.random_refiner and cfg.refiner is not None:  # else both unused
        raise ArgumentValueError(
            Arg("random_refiner", True), " stands in for a refiner folder: give either it or ", Arg("refiner")
        )
    if cfg.enhance is not None:
        from streamt2v.pipeline.refiner import check_enhance_names, checked_config

        # a run's own setting is not warned about again when it resumes (an earlier version's runs have it
        # unasked); a size known only once the model is loaded (a hub id's) is checked then, without a word
        default_folder = check_default_refiner_for(cfg, model, warn_unused=not resume)
        # Every stage-3 setting as stage 3 will run it (the user's over the refiner's recommended ones, as
        # Refiner.config merges them), before any model is loaded.
        folder = cfg.refiner if cfg.refiner is not None else default_folder
        check_enhance_names(cfg.enhance, where="stage 3: ")
        # a refusal names stage 3's settings by their field names, some also stage 2's (chunk_frames, overlap):
        # say which stage (the command line shows them as its flags: cli.generate)
        # a refiner folder given now is refused by its argument (--refiner '~/x' on the command line, refiner= to
        # Python), as typed; a resumed run's own, or the shipped default, as the refiner folder
        named = cfg.refiner is not None and (not resume or "refiner" in given_now)
        try:
            with naming_arguments("refiner") as (refiner,):
                checked_config(cfg.enhance, folder, what=refiner if named else None)
        except EnhanceSettingError as err:
            raise EnhanceSettingError(f"stage 3: {err.message}", err.unset) from None
    spec = cfg.model
    known = spec is None or spec in PRESETS or names_shipped(spec) or looks_like_hub_id(spec)
    if not known and not home_path(spec).exists():
        close = close_model_name(spec)
        hint = f"{close}?; " if close is not None else ""  # a typo of a preset's name (tinyy)
        raise ArgumentFileNotFoundError(
            f"model folder {named_path(spec)} does not exist ({hint}the shipped model: "
            f"{SHIPPED_NAME!r} or no ",
            Arg("model"),
            f"; presets: {', '.join(PRESETS)})",
        )
    _check_reads_prompts(model, spec)
    check_outputs(cfg, overwrite=resume or cfg.overwrite)
    if not resume and cfg.run_dir:
        RunDir.check_new(cfg.run_dir)
    return schedule


def warn_rate_change(
    path: str | os.PathLike, input_fps: float, output_fps: float, frames: int, *, gif: bool
) -> None:
    """The output plays at the model's rate without ``fps``: an ``init_video`` made at another rate (a folder
    of frames has none) would play faster or slower in it without a word. The advice names only an ``fps``
    the same call accepts (:func:`check_inputs` refuses one over 50 when an output is a GIF, ``gif``).

    The record carries the arguments as :class:`Arg`: ``init_video``/``fps=24`` to a Python caller,
    ``--init-video``/``--fps 24`` on the command line (:func:`~streamt2v.arguments.logs_naming_flags`). A
    single frame (a still image given as the video) has no motion to play faster or slower. ``path`` as
    given (``~/in.mp4``): named so, then as read."""
    if abs(input_fps - output_fps) <= 0.01 * output_fps or not home_path(path).is_file() or frames < 2:
        return
    advice, args = _rate_advice(input_fps, output_fps, gif=gif)
    logger.warning(
        "%s %s plays at %.4g fps and the output at the model's %.4g fps, so its %s play %s; " + advice,
        Arg("init_video"),
        named_path(path),
        input_fps,
        output_fps,
        counted(frames, "frame"),
        _pace(input_fps, output_fps),
        *args,
    )


def _pace(input_fps: float, output_fps: float) -> str:
    """How an input made at ``input_fps`` plays at ``output_fps`` (``"3x slower"``, ``"2x faster"``)."""
    slower = input_fps > output_fps
    return f"{input_fps / output_fps if slower else output_fps / input_fps:.3g}x " + (
        "slower" if slower else "faster"
    )


def _rate_advice(input_fps: float, output_fps: float, *, gif: bool) -> tuple[str, tuple[object, ...]]:
    """The ``fps`` that keeps an input's rate, or, where the call would refuse it (a GIF plays at most
    :data:`~streamt2v.io.frame_rates.MAX_GIF_FPS`; every output needs ``MIN_FPS``..``MAX_FPS``), the closest one
    it accepts and how the input plays at it: a log format (``%`` escaped) and its arguments, each ``fps``
    an :class:`Arg`."""
    wanted = float(f"{input_fps:.4g}")  # the value the message shows
    try:
        (check_gif_fps if gif else check_fps)(wanted)
        return "pass %s to keep the input's rate", (_fps_arg(wanted),)
    except ValueError:
        pass
    over_gif = gif and wanted > MAX_GIF_FPS
    closest = min(max(wanted, MIN_FPS), MAX_GIF_FPS if gif else MAX_FPS)
    if abs(closest - output_fps) <= 0.01 * output_fps:
        said, args = "no %s plays them closer to the input's rate", (Arg("fps"),)
    elif abs(closest - input_fps) <= 0.01 * input_fps:  # e.g. 50.04 fps in a GIF
        said, args = "%s comes closest, within 1%% of the input's rate", (_fps_arg(closest),)
    else:
        said = f"%s comes closest, where they play {_pace(input_fps, closest)}"
        args = (_fps_arg(closest),)
    limit = f"a GIF plays at most {MAX_GIF_FPS:g} fps"
    if not over_gif:
        limit, args = f"%s takes {MIN_FPS:g} to {MAX_FPS:g}", (Arg("fps"), *args)
    keep = (
        "; a video output (.mp4) without a GIF keeps the input's rate"
        if over_gif and wanted <= MAX_FPS
        else ""
    )
    return f"{limit}, so {said}{keep}", args


def _fps_arg(fps: float) -> Arg:
    """``fps`` as an :class:`Arg` spelled as the message shows it (``fps=24``, ``--fps 24``, not 24.0)."""
    return Arg("fps", int(fps) if fps.is_integer() else fps)
