"""A run's chunks written (stages 1-2, then stage 3): each finished chunk stored in the run directory, then
appended to the outputs, whose preview files are playable after every chunk; the final files appear only
when the video is complete (atomic rename). On an error or Ctrl-C the run is marked, the finished chunks
stay saved and the log says how to continue (:func:`how_to_resume`). For a new run
(:func:`~streamt2v.pipeline.generate.generate`) and a resumed one (:mod:`streamt2v.pipeline.resume`)."""

from __future__ import annotations

import logging
import os
import shlex
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from streamt2v.arguments import Arg, FlaggedArg
from streamt2v.io.folders import ExistingOutputError
from streamt2v.io.output_paths import output_kind, outputs_locked, preview_path_for
from streamt2v.io.streaming_writer import StreamingVideoWriter
from streamt2v.memory import dtype_name, resolve_device, resolve_dtype, supported_dtypes
from streamt2v.pipeline.model_loading import model_fps
from streamt2v.pipeline.preflight import lowres_path
from streamt2v.pipeline.run_outputs import output_identity
from streamt2v.pipeline.rundir import STAGE3_STATE, RunDir
from streamt2v.pipeline.stream import Chunk
from streamt2v.progress_lines import Clock, UnitRate
from streamt2v.sampling.schedulers import NonFiniteLatentsError
from streamt2v.signals import interrupts_held
from streamt2v.wording import counted

if TYPE_CHECKING:
    from streamt2v.models.bundle import StreamingT2VModel
    from streamt2v.pipeline.generate import GenerateConfig

logger = logging.getLogger(__name__)


@dataclass
class GenerateResult:
    """What a run wrote: ``output`` and the ``extra_outputs`` (PNG folder, GIF, the low-resolution video of a
    run with stage 3), in ``run_dir``; ``rewritten``: those this call wrote (all of them for a new run; none
    where a finished run was resumed with its outputs there as it left them)."""

    output: Path
    run_dir: Path
    num_frames: int
    extra_outputs: list[Path]
    rewritten: list[Path] | None = None

    def __post_init__(self) -> None:
        if self.rewritten is None:
            self.rewritten = [self.output, *self.extra_outputs]


def final_outputs(cfg: GenerateConfig) -> list[Path]:
    """A finished run's outputs in the order :class:`GenerateResult` names them: the output, the PNG folder
    and GIF, then with stage 3 the low-resolution video (made from the run's chunks; the others by stage 3)."""
    finals = [Path(cfg.output), *(Path(p) for p in (cfg.png_dir, cfg.gif) if p)]
    return finals + ([lowres_path(cfg.output)] if cfg.enhance is not None else [])


def outputs_left(cfg: GenerateConfig, run: RunDir) -> list[Path]:
    """Of a complete run's outputs, those not as the run left them (missing, or changed since: replaced
    only with ``overwrite``, :func:`check_replaces_its_own`), which a resume writes again."""
    return [path for path in final_outputs(cfg) if not run.wrote(path)]


class StoppedWhenComplete(KeyboardInterrupt):
    """A Ctrl-C (or a SIGTERM the caller turns into KeyboardInterrupt) that came while the finished run was
    being marked complete: it is held until the run is marked and unlocked, then taken. Every output is
    whole; ``result`` is what the call would have returned."""

    def __init__(self, result: GenerateResult) -> None:
        super().__init__("once the run was complete; its outputs are whole")
        self.result = result


ChunkCallback = Callable[[Chunk], None]


def how_to_resume(run_dir: str | os.PathLike, dtype: str | None = None) -> FlaggedArg:
    """What continues a run (in the precision ``dtype``, else its own), as each caller takes it:
    ``resume_generate('/abs/run')`` to a Python caller, ``streamt2v generate --resume /abs/run`` to paste into
    a shell (the folder absolute, as it may be run from elsewhere, and quoted: a name with spaces). Logged, the
    command line names it so (:func:`~streamt2v.arguments.logs_naming_flags`)."""
    path = str(Path(run_dir).resolve())
    call = f"resume_generate({path!r}" + (f", dtype={dtype!r})" if dtype else ")")
    command = f"streamt2v generate --resume {shlex.quote(path)}" + (f" --dtype {dtype}" if dtype else "")
    return FlaggedArg(call, flag=command)


def advice_after_nan(
    run_dir: str | os.PathLike, dtype: torch.dtype, supported: list[torch.dtype]
) -> tuple[object, ...]:
    """What to do about a run that sampling stopped with NaN latents, in parts (text and :class:`Arg`, as
    :func:`~streamt2v.arguments.spelled` joins them): float16 overflows, so its run may continue in one of the
    device's other ``supported`` dtypes; any other run's settings would give NaN again at the same chunk."""
    others = [dtype_name(d) for d in reversed(supported) if d != torch.float16]  # bf16 first where it runs
    if dtype != torch.float16 or not others:
        return ("a resume would stop at the same chunk; run again with other settings",)
    how: tuple[object, ...] = ("continue in another precision with: ", how_to_resume(run_dir, others[0]))
    for i, other in enumerate(others[1:]):
        how += (" (or " if i == 0 else " or ", Arg("dtype", other))
    return how + ((")",) if others[1:] else ())


def replaced(cfg: GenerateConfig) -> list[tuple[tuple[object, ...], Path, Path | None]]:
    """What a run writes over, each named for a message, with the preview renamed to it (a streamed output's;
    else None): its outputs, and the file previews of those written chunk by chunk (a PNG output's preview
    folder is the writer's own whenever it holds only frames)."""
    finals: list[tuple[object, Path]] = [("output", Path(cfg.output))]
    finals += [(Arg(name), Path(getattr(cfg, name))) for name in ("png_dir", "gif") if getattr(cfg, name)]
    streamed = [("low-resolution output", lowres_path(cfg.output))] if cfg.enhance is not None else finals
    outputs = [*streamed, *finals] if cfg.enhance is not None else finals
    renamed = {path for _, path in streamed}  # from their previews, once complete
    named = [
        ((what, f" {str(path)!r}"), path, preview_path_for(path) if path in renamed else None)
        for what, path in outputs
    ]
    for what, path in streamed:
        if output_kind(path) != "png-dir":
            preview = preview_path_for(path)
            named.append((("the preview ", f"{str(preview)!r} of ", what, f" {str(path)!r}"), preview, None))
    return named


def check_replaces_its_own(cfg: GenerateConfig, run: RunDir, *, overwrite: bool) -> None:
    """Refuse, unless ``overwrite``, to let a resumed run write over an output or preview that is not what it
    last left there (:meth:`RunDir.wrote`): a later run's, or a file the user put there since. A run of an
    earlier version recorded nothing: what is there and newer than its manifest may be anyone's, so it is
    refused the same way."""
    if overwrite:
        return
    for what, path, preview in replaced(cfg):
        if not path.exists() or (path.is_dir() and not any(path.iterdir())):  # nothing there to lose
            continue
        wrote = run.wrote(path, preview)
        if wrote:
            continue
        if wrote is None:
            why = (
                " exists, is newer than the run's manifest, and this run, made by an earlier version of "
                "streamt2v, recorded nothing of what it wrote; if it is this run's, pass "
            )
        else:
            why = (
                " is not what this run last left there (another run, or someone, may have written it since); "
                "pass "
            )
        raise ExistingOutputError(*what, why, Arg("overwrite", True), " to replace it")


class ChunkLines:
    """What a run's log says of each finished chunk: its frames and prompt (the input's frames kept, for an
    extension's first chunk, which takes no prompt), the time so far and the time left (before stage 3:
    ``then_stage3``). The time left is the chunks left at the time per streaming chunk made in this call,
    timed from the end of the first (:class:`~streamt2v.progress_lines.UnitRate`): stage 1's chunk (its
    own step count, another model call) and the first streaming one (compiling, the anchor's embedding) cost
    otherwise, and a resumed run's finished chunks, re-encoded before, are not timed. A chunk is the unit,
    not a frame: the last, trimmed to the frames asked for, is made whole and takes as long."""

    def __init__(self, *, then_stage3: bool = False, clock: Clock = time.monotonic) -> None:
        self.rate = UnitRate(clock)
        self.left_before = " before stage 3" if then_stage3 else ""

    def line(self, chunk: Chunk) -> str:
        """The line for ``chunk``, just finished."""
        if chunk.stage == 2:
            self.rate.done()
        last = chunk.stop - 1
        frames = f"frame {last}" if chunk.start == last else f"frames {chunk.start}-{last}"
        head = f"chunk {chunk.index + 1}/{chunk.num_chunks} done: {frames}"
        what = " of the input, kept unchanged" if chunk.stage == 0 else f", prompt {chunk.prompt!r}"
        times = self.rate.times(chunk.num_chunks - chunk.index - 1, self.left_before)
        return f"{head}{what} ({times})"


def consume(
    cfg: GenerateConfig,
    run: RunDir,
    model: StreamingT2VModel | None,
    chunks: Iterator[Chunk],
    stored: int,
    on_chunk: ChunkCallback | None,
    *,
    new_run: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    only: list[Path] | None = None,
) -> GenerateResult:
    """Store each of ``chunks`` in ``run`` and append it to the outputs (after the ``stored`` chunks the run
    holds already), then run stage 3 if ``cfg`` has it; on an error or Ctrl-C mark the run and log how to
    continue. For a new run (``new_run``) and a resumed one (:mod:`streamt2v.pipeline.resume`), which writes
    over what is not its own only with ``overwrite`` (:func:`check_replaces_its_own`). The run records what
    it leaves at each output and preview (:meth:`RunDir.record_outputs`). ``model`` None: a resumed run with
    every chunk finished, whose model was not loaded (:func:`~streamt2v.pipeline.resume.resume_generate`).
    ``only``: the outputs to write (a complete run's missing ones, :func:`outputs_left`), the others kept;
    stage 3 runs again only for a missing output of its own."""
    # without the model, the rate its model folder or preset records (model_fps: known, or it was loaded)
    fps = cfg.fps or (float(model.fps) if model is not None else model_fps(cfg.model))
    extras = [Path(p) for p in (cfg.png_dir, cfg.gif) if p]
    # With stage 3 the chunks stream into the low-resolution video; the final outputs come after it.
    targets = [lowres_path(cfg.output)] if cfg.enhance is not None else [Path(cfg.output), *extras]
    # Outputs were checked before any work (a resumed run replaces its own); here they are replaced.
    finals = [Path(cfg.output), *extras]
    kept: list[Path] = []
    if only is not None:  # a complete run: what is there as it left it is kept
        kept = [p for p in final_outputs(cfg) if p not in only]
        targets, finals = [p for p in targets if p in only], [p for p in finals if p in only]

    def append(frames: torch.Tensor) -> None:
        for w in writers:
            w.append(frames)
            # at once, not after every writer's append: a kill meanwhile finds this preview recorded
            run.record_outputs([w.preview_path])

    def record_previews() -> None:
        # those the writers left (the rest hold what was there; a finished one's was renamed to its output)
        run.record_outputs([w.preview_path for w in writers if w.num_frames and w.preview_path.exists()])

    writers: list[StreamingVideoWriter] = []
    n = 0
    in_stage3 = False
    # without a progress bar (a batch job's log) a line per chunk says how far the run got
    lines = ChunkLines(then_stage3=cfg.enhance is not None and bool(finals))
    held = ExitStack()  # with stage 3, the final outputs' locks: no other writer starts on them meanwhile
    shield = ExitStack()  # once the work ends, Ctrl-C and SIGTERM held until the run is marked and unlocked
    result: GenerateResult | None = None  # once the run is marked complete
    before_stage3: dict[Path, object] = {}  # the final outputs as stage 3 found them
    if not new_run:  # checked before the model loaded; again now, as another run may have written since
        try:  # before the run is marked: refused, it stays as it was
            check_replaces_its_own(cfg, run, overwrite=overwrite)
            # what it took as its own recorded at once: a run of an earlier version, stopped before its
            # writers record theirs, would find a record naming only them and refuse the rest next time
            run.record_outputs([path for _, path, _ in replaced(cfg)])
        except BaseException:
            run.unlock()
            raise
    try:
        final_locks = held.enter_context(outputs_locked(finals)) if cfg.enhance is not None else []
        for p in targets:
            # what a writer renames to its preview is recorded first: killed after the rename, the run's still
            writers.append(
                StreamingVideoWriter(p, fps, crf=cfg.crf, overwrite=True, before_replace=run.record_coming)
            )
        for i in range(stored if writers else 0):  # re-encode finished chunks from the run, one at a time
            s = run.load_chunk(i)
            append(s.frames)
            n = s.stop
        run.set_status("running")
        for chunk in chunks:
            run.save_chunk(chunk)
            append(chunk.frames)
            n = chunk.stop
            logger.log(logging.DEBUG if progress else logging.INFO, "%s", lines.line(chunk))
            if on_chunk is not None:
                on_chunk(chunk)
        n = n if writers else cfg.stream.num_frames  # a complete run writing stage 3's outputs alone
        if n != cfg.stream.num_frames:
            raise RuntimeError(f"internal error: produced {n} frames, expected {cfg.stream.num_frames}")
        outputs = []
        for w in writers:  # each recorded once renamed (killed before, its preview's record stands for it)
            outputs.append(w.finish())
            run.record_outputs([w.preview_path, w.path])
        if cfg.enhance is not None and finals:
            in_stage3 = True
            before_stage3 = {p: output_identity(p) for p in finals}
            enhanced = _enhance_stage(cfg, run, fps, finals, final_locks, progress)
            run.record_outputs(enhanced)
            outputs = enhanced + outputs
    except BaseException as err:
        # a Ctrl-C now (an impatient user's second) waits until the run is marked and unlocked
        shield.enter_context(interrupts_held())
        interrupted = isinstance(err, KeyboardInterrupt)
        for w in writers:
            w.abort()
        with suppress(OSError):  # a full disk: the error said is the one that stopped the run
            record_previews()  # a Ctrl-C may have come between a preview's rename and its record
            # what stage 3 finished before it stopped (the outputs are locked by this run through it)
            run.record_outputs([p for p, was in before_stage3.items() if output_identity(p) != was])
        if new_run and not interrupted and run.remove_if_empty():
            raise  # nothing was finished: no run directory is left to resume
        run.set_status("interrupted" if interrupted else "failed", error=repr(err))
        _log_how_to_continue(cfg, run, err, in_stage3)
        raise
    else:
        shield.enter_context(interrupts_held())
        # resolved, as generate's own run paths are (_absolute): resume_generate('runs/x') returned 'runs/x'
        if kept:  # named in their usual order, the kept ones with those written again
            every = final_outputs(cfg)
            result = GenerateResult(every[0], run.path.resolve(), n, every[1:], rewritten=outputs)
        else:
            result = GenerateResult(outputs[0], run.path.resolve(), n, outputs[1:])
        run.set_status("complete", output=str(result.output))
    finally:
        try:
            with shield:
                held.close()
                run.unlock()
        except KeyboardInterrupt as stop:  # held, and taken as the shield ends
            if result is None:
                raise
            raise StoppedWhenComplete(result) from stop
    return result


def _log_how_to_continue(cfg: GenerateConfig, run: RunDir, err: BaseException, in_stage3: bool) -> None:
    """Say what a stopped run holds and how to continue it (:func:`how_to_resume`), or after NaN latents in
    another precision (or other settings, where a resume would stop at the same chunk)."""
    if isinstance(err, NonFiniteLatentsError):
        dtype = resolve_dtype(cfg.dtype, None)
        how = advice_after_nan(run.path, dtype, supported_dtypes(resolve_device(cfg.device)))
    else:
        how = ("continue with: ", how_to_resume(run.path))
    kept = ""
    if in_stage3:  # stage 3 keeps its state after each step in the run: a resume continues from there
        kept = "; stage 3's last finished step is kept there too"
        if not (run.path / STAGE3_STATE).is_file():
            kept = "; stage 3 had finished no step yet"
    # the parts of the advice as arguments: the command line names its Arg as flags (logs_naming_flags)
    logger.warning(
        "stopped %safter %s (%s saved in the run directory%s); " + "%s" * len(how),
        "in stage 3 " if in_stage3 else "",
        counted(run.num_finished, "finished chunk"),
        counted(run.num_frames_saved, "frame"),
        kept,
        *how,
    )


def _enhance_stage(
    cfg: GenerateConfig,
    run: RunDir,
    fps: float,
    targets: list[Path],
    target_locks: list,
    progress: bool,
) -> list[Path]:
    """Stage 3 (paper §4.3) on the finished low-resolution video, read back from the run directory."""
    from streamt2v.pipeline.default_refiner import load_refiner
    from streamt2v.pipeline.enhance_canvas import logs_advising_run_settings
    from streamt2v.pipeline.enhance_output import enhance_to_files
    from streamt2v.pipeline.enhance_state import remove_state_file

    video = run.read_video()  # (1, 3, T, H, W)
    schedule = cfg.schedule()
    # in the run's precision, as stages 1-2 (at full size stage 3 is the larger part of the work)
    refiner = load_refiner(
        cfg.refiner, tuple(video.shape[-2:]), device=resolve_device(cfg.device), dtype=cfg.dtype
    )
    if cfg.compile is not None:
        refiner.compile(cfg.compile)
    # The user's settings over the refiner's recommended ones (over the official defaults).
    config = refiner.config(**{k: tuple(v) if isinstance(v, list) else v for k, v in cfg.enhance.items()})
    logger.info("stage 3: enhancing %s with randomized blending", counted(video.shape[2], "frame"))
    # its state after each step is kept in the run: a resume continues from the last finished step
    state = run.path / STAGE3_STATE
    # each output written as the video is decoded, a slice at a time (the whole video is never held); its
    # warnings advise a setting as a key of the run's enhance dict, there being no refiner object to call
    with logs_advising_run_settings():
        writers = enhance_to_files(
            video,
            schedule,
            refiner,
            config,
            targets,
            config.fps or fps,
            locks=target_locks,
            overwrite=True,
            before_replace=run.record_coming,  # each output recorded before it is renamed into place
            seed=cfg.stream.seed,
            progress=progress,
            state_file=state,
        )
    remove_state_file(state)
    return [writer.path for writer in writers]
