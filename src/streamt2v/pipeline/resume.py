"""Resuming a stopped generation (``streamt2v generate --resume DIR``): the run directory's settings read
back, the device or precision changed where asked, the run's inputs checked again, and the stream started
after the last finished chunk, so that the result equals an uninterrupted run's
(:func:`resume_generate`). The finished chunks and the rest are written by
:func:`~streamt2v.pipeline.run_writing.consume`, as for a new run
(:func:`~streamt2v.pipeline.generate.generate`).
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Collection, Iterator
from contextlib import suppress
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from streamt2v.arguments import Arg, ArgumentFileNotFoundError, ArgumentValueError
from streamt2v.assets import names_shipped
from streamt2v.io.output_paths import VIDEO_SUFFIXES, remove_stale_temporaries
from streamt2v.io.video import DEFAULT_CRF, MAX_CRF, check_crf
from streamt2v.pipeline.dtype_setting import checked_dtype
from streamt2v.pipeline.generate import GenerateConfig
from streamt2v.pipeline.model_fingerprint import compared, local_model_folder, model_fingerprint
from streamt2v.pipeline.model_loading import load_compiled, model_fps, sampler_before_loading
from streamt2v.pipeline.preflight import (
    check_default_refiner_for,
    check_inputs,
    model_frame_size,
    output_targets,
)
from streamt2v.pipeline.prompts import PromptSchedule
from streamt2v.pipeline.resume_plan import check_run_plan, run_prefix_frames
from streamt2v.pipeline.run_inputs import RunInputs, read_run_inputs
from streamt2v.pipeline.run_writing import (
    ChunkCallback,
    GenerateResult,
    check_replaces_its_own,
    consume,
    final_outputs,
    outputs_left,
)
from streamt2v.pipeline.rundir import MODEL_FINGERPRINT, RunDir
from streamt2v.pipeline.stream import Chunk, StepCallback, StreamState, stream
from streamt2v.pipeline.stream_config import OFFICIAL_SAMPLING
from streamt2v.typed_values import is_number
from streamt2v.wording import counted

if TYPE_CHECKING:
    import torch

    from streamt2v.models.bundle import StreamingT2VModel

logger = logging.getLogger(__name__)

_EARLIER = object()  # a manifest without a model fingerprint: of a version that recorded none
_X264_DEFAULT_CRF = 23  # what libx264 encodes at with its crf unset (-1)


def run_config(run: RunDir) -> GenerateConfig:
    """The settings a run directory holds; one that cannot be read (a hand-edited ``config.json``) is named.
    Its ``crf`` is the one its outputs are written at (:func:`_taken_crf`). A sampling setting it lacks (a
    run saved before the setting existed) is the official value, which the run was made with."""
    try:
        # a crf a new run is refused (GenerateConfig checks it) as the one the run's outputs are written at
        stored = {
            **run.config,
            "crf": _taken_crf(run.config.get("crf", DEFAULT_CRF), str(run.config.get("output")))[0],
        }
        cfg = GenerateConfig.from_dict(stored)
        _refuse_nulls(run)
        return replace(cfg, stream=cfg.stream.resolved())
    except (ValueError, TypeError) as err:
        raise ValueError(
            f"{str(run.path / 'config.json')!r} cannot be resumed: {err}{_longer_chunks(run)}"
        ) from None


def _longer_chunks(run: RunDir) -> str:
    """What to do with a run whose chunks are longer than :data:`MAX_CHUNK_FRAMES`, a limit later than the
    version that made it (which took any length): finish it with that version."""
    from streamt2v.pipeline.chunking import MAX_CHUNK_FRAMES

    stream = run.config.get("stream")
    chunk_frames = stream.get("chunk_frames") if isinstance(stream, dict) else None
    if (
        isinstance(chunk_frames, int)
        and not isinstance(chunk_frames, bool)
        and chunk_frames > MAX_CHUNK_FRAMES
    ):
        return (
            f"; the run was made by an earlier version, which took chunks of more than {MAX_CHUNK_FRAMES} "
            "frames: finish it with that version, or start it again with shorter chunks"
        )
    return ""


def _given_loaded(run: RunDir) -> bool:
    """Whether the run may have been given its model loaded (``generate(cfg, model=...)``), a model config.json
    does not name: its manifest holds no fingerprint, where its model is null (or the shipped weights were
    absent, the preset standing in) or names a folder there, which generate() fingerprints when it loads it."""
    model = run.config.get("model")
    if run.manifest.get(MODEL_FINGERPRINT, _EARLIER) is not None:
        return False
    return model is None or (isinstance(model, str) and local_model_folder(model) is not None)


def _refuse_nulls(run: RunDir) -> None:
    """Refuse the sampling settings a run's config holds as null (a hand edit: runs store every value they
    sample with). In generate() None is the model's recommendation, which a resume may not know before the
    model loads (a hub id) nor share with the run's start (a moved or edited folder's sampler), and the
    official value may not be the one the run's chunks were made with: the user is asked for the value, told
    what the run's ``model`` recommends where it says so before loading (a local folder, a preset), and where
    to read it otherwise (a hub id; a model the run was given loaded, :func:`_given_loaded`, which config.json
    does not name). A wrong one for the chunk plan is refused by the plan's check
    (:func:`~streamt2v.pipeline.resume_plan.check_run_plan`)."""
    stored, model = run.config["stream"], run.config.get("model")
    nulls = [name for name in OFFICIAL_SAMPLING if name in stored and stored[name] is None]
    if not nulls:
        return
    recommended, read_at = None, "its model_index.json's streamt2v sampler"
    if _given_loaded(run):
        read_at = "the sampler of the model the run was given loaded"
    elif isinstance(model, str) or model is None:
        with suppress(ValueError):  # a damaged index, which loading names
            recommended = sampler_before_loading(model)
    said = f"setting {nulls[0]} is null" if len(nulls) == 1 else f"settings {', '.join(nulls)} are null"
    them = ("it", "that value") if len(nulls) == 1 else ("them", "those values")
    raise ValueError(
        f"stream {said}, where a run stores the value it was made with: set {them[0]} to {them[1]} (where the "
        f"run was not given {them[0]}: {_default_values(nulls, recommended, read_at)})"
    )


def _default_values(names: list[str], recommended: dict[str, Any] | None, read_at: str) -> str:
    """What a run not given the settings ``names`` took: the model's recommendation, as its folder (or preset)
    ``recommended`` it now (None: known only from ``read_at``), else the official values; as config.json
    writes them (16, "ddim", false), one alone without its name."""
    one = len(names) == 1

    def listed(chosen: list[str], values: dict[str, Any]) -> str:
        return ", ".join(json.dumps(values[n]) if one else f"{n} {json.dumps(values[n])}" for n in chosen)

    if recommended is None:
        known = "recommendation" if one else "recommendations"
        return f"the model's {known} ({read_at}), else the official {listed(names, OFFICIAL_SAMPLING)}"
    models = [n for n in names if n in recommended]
    official = [n for n in names if n not in recommended]
    # "recommends": what its folder says now, which an edit of its sampler since the run began changed
    parts = [f"the model's folder recommends {listed(models, recommended)}"] if models else []
    if official:
        parts.append(
            f"the official {listed(official, OFFICIAL_SAMPLING)}"
            + (", as the model recommends none" if one else "")
        )
    return "; ".join(parts)


def _taken_crf(stored: object, output: str) -> tuple[int, str | None]:
    """The crf a run's outputs are written at, and why where it is not the one it stored. A crf a new run is
    refused now (off 0 to MAX_CRF, or a float: earlier versions took them, and a resume cannot change it) is
    the one the encoder used when the run began: the writers gave libx264 ``int(crf)``, which it clipped to
    51 and took -1 for unset (its default, 23), and VP9 (a WebM) ``min(63, 2 * int(crf))``. One the encoder
    refused (libx264 below -1, VP9 below 0) wrote no video, and is refused again. A run that writes no
    video (a GIF, PNG frames) used no crf: any number is taken. Anything else stored (a string, a bool)
    cannot be resumed."""
    try:
        return check_crf(stored), None
    except ValueError:
        if not is_number(stored) or not math.isfinite(stored):
            raise
    suffix = Path(output).suffix.lower()
    if suffix not in VIDEO_SUFFIXES:
        return DEFAULT_CRF, None  # the same GIF or PNG frames at any crf
    whole = int(stored)
    if whole > MAX_CRF:
        return MAX_CRF, f"crf {MAX_CRF} (the lowest quality), which the encoder clipped it to"
    if whole == -1 and suffix != ".webm":
        return _X264_DEFAULT_CRF, f"crf {_X264_DEFAULT_CRF}, which libx264 used for -1 (unset: its default)"
    if whole < 0:
        raise ValueError(
            f"crf {stored!r} is one the video encoder refused when the run began (libx264 takes none below -1, "
            "a WebM's VP9 none below 0), so no video was written at it: set it to an integer from 0 (lossless) "
            f"to {MAX_CRF} (the lowest quality), which the run's video is written at from the start"
        )
    return whole, f"crf {whole}, the whole part the encoder took"


def _warn_of_stored_crf(run: RunDir, cfg: GenerateConfig) -> None:
    """Say that a run goes on with a crf a new run is refused (:func:`_taken_crf`), and at which."""
    stored = run.config.get("crf")
    how = _taken_crf(stored, cfg.output)[1] if stored is not None else None
    if how is not None:
        logger.warning(
            "run %s stored crf %r, which a new run is refused now (crf takes an integer from 0 to %d): continuing "
            "at %s, rather than refuse a setting a resume does not change",
            run.path.resolve(),
            stored,
            MAX_CRF,
            how,
        )


def resume_generate(
    run_dir: str | os.PathLike | RunDir,
    *,
    model: StreamingT2VModel | str | os.PathLike | None = None,
    on_step: StepCallback | None = None,
    on_chunk: ChunkCallback | None = None,
    progress: bool = False,
    device: str | torch.device | None = None,
    dtype: str | torch.dtype | None = None,
    compile: str | bool | None = None,
    overwrite: bool = False,
) -> GenerateResult:
    """Continue the run in ``run_dir`` from its last finished chunk; the result equals an uninterrupted run.
    ``run_dir`` may be the run already opened (:meth:`RunDir.open`, which reads its settings and checks every
    chunk file's digest): it is not opened again, but read again under its lock if another process changed it
    since (a resume of the same run that took it first); or already locked (:meth:`RunDir.lock`, as the
    command line does to count the chunks left), and then taken as it is.

    ``progress=True``: stage 3's progress bars (none unasked, as :func:`generate`). ``device`` / ``dtype``:
    continue on another device or in another precision (e.g. ``dtype="bf16"`` or ``torch.bfloat16`` after a
    float16 overflow stopped the run);
    ``compile``: another torch.compile backend, or ``False`` for none (a GPU run's inductor where no C++
    compiler is). The run records them, and the chunks made from here on differ from an
    uninterrupted run's by that precision's (or compiler's) rounding. With ``model`` given they apply to
    stage 3 only. ``model``: the model (already placed), or the folder the run's model folder was moved to,
    which must hold the same weights (a run of an earlier version recorded none to compare: taken with a
    warning); the run records it. The run's own model as the run named it (its preset, hub id) is taken too.
    The run replaces what it last left at its outputs and previews (its manifest records that); anything else
    there (a later run's output, a file put there since; for a run of an earlier version, which recorded
    nothing, anything newer than its manifest) only with ``overwrite``, and a folder output holding files the
    user put there never.
    Temporary files a killed writer of the same outputs left behind are removed. A complete run writes again
    only its outputs that are missing (or, with ``overwrite``, changed), running stage 3 again only for one of
    its own; with all of them there as it left them it says it is finished and returns at once
    (``result.rewritten`` empty)."""
    run = run_dir if isinstance(run_dir, RunDir) else RunDir.open(run_dir)
    stored = run_config(run)  # settings that cannot be read are named before the lock is asked for
    device = None if device is None else str(device)  # a torch.device as its name, which config.json stores
    if dtype is not None:  # as the run records it (torch.bfloat16 too), checked on the device it runs on
        dtype = checked_dtype(dtype, stored.device if device is None else device)
    asked: dict[str, str | None] = {k: v for k, v in (("device", device), ("dtype", dtype)) if v is not None}
    if compile is not None:
        asked["compile"] = compile or None  # False: eager from here on
    # Then: a run still going elsewhere is refused as such (its outputs, also in use, come second).
    run.lock()  # reads the run again if another process changed it since it was opened
    try:
        cfg = run_config(run)
        # a complete run's outputs not there as it left them (none: nothing to do, once its arguments are checked)
        left = outputs_left(cfg, run) if run.status == "complete" else None
        changes = {k: v for k, v in asked.items() if v != getattr(cfg, k)}
        said = ", ".join(
            f"{k} {v or 'off'} instead of {getattr(cfg, k) or 'off'}" for k, v in changes.items()
        )
        if changes:
            cfg = replace(cfg, **changes)
        moved = None
        if model is None or isinstance(model, (str, os.PathLike)):  # a model given loaded is the one used
            moved = _model_folder(run, cfg, model)
            model = None  # loaded from cfg.model
        if moved:
            cfg = replace(cfg, **moved[0])
        try:
            prepared = _prepare_resume(
                run, cfg, model, on_step, overwrite, given_now=set(changes), finished=left == []
            )
            if prepared is None:  # finished, its outputs as it left them (stage 3 took hours at full size)
                run.unlock()
                return _finished(cfg, run)
            model, chunks, stored = prepared
        except FileNotFoundError as err:
            if run.damaged is None or run.num_finished:
                raise
            # the first chunk's file is damaged: the run starts again from the inputs it no longer needed
            raise FileNotFoundError(
                f"{run.damaged[1]}, so the run makes its first chunk again: {err}"
            ) from None
        # the run changes only now, once the resume is known to go ahead (its checks passed, the model loaded)
        dropped = run.drop_damaged_chunks()
        if dropped:
            logger.warning("%s", dropped)
        if left is None or any(p.suffix.lower() in VIDEO_SUFFIXES for p in left):  # a video is written
            _warn_of_stored_crf(run, cfg)
        if left:
            logger.info(
                "run %s is finished; writing again what is not there as it left it: %s",
                run.path.resolve(),
                ", ".join(str(p) for p in left),
            )
        if changes or moved:  # checked and loaded: a later plain resume continues with them too
            run.save_config(cfg.to_dict())
        if moved:
            run.record_model_fingerprint(moved[1])
        if changes:
            if stored < run.manifest["num_chunks"]:
                where = f"from chunk {stored + 1} on"
            else:  # every chunk was finished before: only stage 3 and the outputs are left to do
                where = "for stage 3" if cfg.enhance is not None else "(all its chunks were finished before)"
            logger.info("continuing %s with %s %s", run.path, said, where)
    except BaseException:
        run.unlock()  # consume releases it from here on
        raise
    return consume(
        cfg, run, model, chunks, stored, on_chunk, overwrite=overwrite, progress=progress, only=left
    )


def _finished(cfg: GenerateConfig, run: RunDir) -> GenerateResult:
    """The result of a complete run whose outputs are all as it left them, said: a resume has nothing to do."""
    outputs = final_outputs(cfg)
    logger.warning(
        "run %s is finished: nothing to resume; its outputs are as it wrote them: %s (remove one to have it "
        "written again)",
        run.path.resolve(),
        ", ".join(str(p) for p in outputs),
    )
    return GenerateResult(outputs[0], run.path.resolve(), cfg.stream.num_frames, outputs[1:], rewritten=[])


def _runs_model(cfg: GenerateConfig, given: str | os.PathLike) -> bool:
    """Whether ``given`` names the run's own model as the run named it (its preset, hub id, ``microworld``):
    a script that resumes with its first command's ``--model`` gives it."""
    shipped = cfg.model is None or names_shipped(cfg.model)
    return str(given) == cfg.model or (shipped and names_shipped(given))


def _model_folder(
    run: RunDir, cfg: GenerateConfig, given: str | os.PathLike | None
) -> tuple[dict[str, str], dict[str, str] | None] | None:
    """The change to ``cfg`` and the fingerprint to record when its model folder was moved to ``given``
    (``model=``, ``--model``), which must hold the weights the run recorded (:func:`model_fingerprint`, in the
    manifest); None where the run goes on with the model it names. Without ``given`` a model folder the run
    names must still be there."""
    recorded = local_model_folder(cfg.model)  # None: moved or removed, or not a folder (a hub id, a preset)
    # generate() records a folder by its absolute path (a hub id or a preset name is none)
    was_folder = cfg.model is not None and (recorded is not None or Path(cfg.model).is_absolute())
    was_folder = was_folder and not names_shipped(cfg.model)
    # absent: a run of an earlier version; None: the run's model was given loaded (generate(cfg, model=...))
    fingerprint = run.manifest.get(MODEL_FINGERPRINT, _EARLIER)
    checked = isinstance(fingerprint, (str, dict))  # a dict of its files; one string: the version before
    # the model the run names, not given or given again (its preset, hub id or folder): checked as it stands
    named = given is None or _runs_model(cfg, given)
    folder = None if named else local_model_folder(given)
    if named or (folder is not None and folder == recorded):
        if was_folder and recorded is None:
            raise ArgumentFileNotFoundError(
                f"the run's model folder {cfg.model!r} is gone (moved or removed); if it was moved, give its new "
                "place: pass ",
                Arg("model", "FOLDER"),
            )
        differs = compared(fingerprint, recorded)[1] if recorded is not None and checked else None
        if differs:
            # a finished run (its outputs written again, or stage 3 left) makes no chunk with them
            made = run.num_finished >= run.manifest["num_chunks"]
            logger.warning(
                "model folder %s holds other weights than when the run began (%s); %s",
                recorded,
                differs,
                "all the run's chunks were made before, with its weights then"
                if made
                else "the chunks from here on are made with them",
            )
        return None
    used = "the shipped model" if cfg.model is None or names_shipped(cfg.model) else repr(cfg.model)
    # named as the caller gives it: model='m2' to resume_generate, --model m2 on the command line
    if folder is None:
        raise ArgumentValueError(
            Arg("model", str(given)),
            " names no folder: resuming, it names the new place of the run's model folder, if it was moved since "
            f"the run began, or the run's own model (the run used {used})",
        )
    if not was_folder:
        raise ArgumentValueError(
            Arg("model", str(given)),
            f" names the new place of a run's model folder that was moved, and the run used {used}, not a model "
            f"folder of its own: leave it out (the run goes on with {used})",
        )
    found, differs = compared(fingerprint, folder) if checked else (model_fingerprint(folder), None)
    if differs:
        raise ArgumentValueError(
            f"model folder {str(folder)!r} does not hold the weights of the run's model folder {cfg.model!r} "
            f"({differs}); give the folder the run's model was moved to, or start a new run with it"
        )
    if checked and recorded is not None:  # no move: a copy, which the run takes from now
        logger.warning(
            "continuing with the model folder %s, which holds the weights of the run's %s (still there): the run "
            "uses %s from here on",
            folder,
            cfg.model,
            folder,
        )
    elif checked:
        logger.info("continuing with the model folder %s, where the run's %s was moved", folder, cfg.model)
    else:
        why = "was given its model loaded and" if fingerprint is None else "is of an earlier version and"
        logger.warning(
            "the run %s recorded no fingerprint of its model folder %s, so %s is not checked to hold the same "
            "weights: continuing with it (the chunks from here on differ if it holds others)",
            why,
            cfg.model,
            folder,
        )
    return {"model": str(folder)}, found


def _prepare_resume(
    run: RunDir,
    cfg: GenerateConfig,
    model: StreamingT2VModel | None,
    on_step: StepCallback | None,
    overwrite: bool,
    given_now: Collection[str] = (),
    finished: bool = False,
) -> tuple[StreamingT2VModel | None, Iterator[Chunk], int] | None:
    """Check the run's inputs, remove what a killed writer left, load the model, and start the stream where
    the run stopped; returns the number of finished chunks. Of those only the last (the stream's state) and
    an input video's chunk 0 are read here: the rest are read one at a time when they are written again, so
    a resume holds no more of a long video in memory than the run did. A run with every chunk finished has
    no stream to start, and loads no model where :func:`_known_unloaded` (None is returned as the model).
    ``finished``: a complete run with nothing to write, checked only (None is returned)."""
    # Once a chunk is finished the run holds the input frames and the anchor: the input files may be gone.
    schedule = check_inputs(
        cfg, resume=True, model=model, read_inputs=run.num_finished == 0, given_now=given_now
    )
    # the plan (config.json's stored values, the model's recommendation among them) against the manifest's
    prefix = run_prefix_frames(run)
    inputs = read_run_inputs(cfg, plan=False) if prefix is None else None  # none finished: starts over
    if inputs is not None:  # of the input video as it is now, which the run may not have begun with
        check_run_plan(run, cfg.stream, inputs.prefix_frames, init_video=cfg.init_video)
    else:
        check_run_plan(run, cfg.stream, prefix)
    if finished:
        return None
    check_replaces_its_own(cfg, run, overwrite=overwrite)
    for _, path in output_targets(cfg):
        for stale in remove_stale_temporaries(path):
            logger.info("removed %s left by an earlier run", stale)
    stored = run.num_finished
    finished = stored >= run.manifest["num_chunks"]
    if model is None and not (finished and _known_unloaded(cfg)):
        model = load_compiled(cfg)
    check_default_refiner_for(cfg, model)  # a hub id's frame size is known only now
    logger.info(
        "resuming %s: %d of %s already finished",
        run.path.resolve(),  # absolute, as the outputs are named
        stored,
        counted(run.manifest["num_chunks"], "chunk"),
    )
    if finished:  # nothing to make: the outputs (and stage 3) come from the run's frames
        chunks: Iterator[Chunk] = iter(())
    elif inputs is not None:  # nothing finished: start over with the same settings
        chunks = _restart_stream(cfg, schedule, model, inputs, on_step)
    else:
        last = run.load_chunk(stored - 1)
        state = StreamState(
            next_chunk=stored, tail=last.tail, anchor=last.anchor, anchor_prompt=last.anchor_prompt
        )
        first = run.load_chunk(0) if stored > 1 else last
        prefix = first.frames if first.stage == 0 else None
        kw: dict[str, Any] = {}
        if prefix is not None and prefix.shape[2] == 1 and cfg.init_image:
            kw["init_image"] = prefix[:, :, 0]
        elif prefix is not None:
            kw["init_video"] = prefix
        chunks = stream(model, schedule, cfg.stream, resume=state, on_step=on_step, **kw)
    return model, chunks, stored


def _known_unloaded(cfg: GenerateConfig) -> bool:
    """Whether a run whose chunks are all finished needs no model loaded: what it still takes of it, its frame
    rate (the outputs') and frame size (stage 3's default refiner), is read from its model folder's index or
    its preset (seconds and gigabytes of loading at full size, for outputs written from the run's frames).
    A hub id's says neither: it is loaded, as before."""
    return model_fps(cfg.model) is not None and model_frame_size(None, cfg.model) is not None


def _restart_stream(
    cfg: GenerateConfig,
    schedule: PromptSchedule,
    model: StreamingT2VModel,
    inputs: RunInputs,
    on_step: StepCallback | None,
) -> Iterator[Chunk]:
    inputs = inputs.planned(cfg.stream)  # whether any chunk streams (takes the anchor)
    return stream(
        model,
        schedule,
        cfg.stream,
        init_video=inputs.init_video,
        init_image=inputs.init_image,
        anchor_image=inputs.anchor if inputs.streams else None,  # unused, as generate() warned when it began
        on_step=on_step,
    )
