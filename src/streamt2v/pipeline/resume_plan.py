"""A resumed run's chunk plan checked against what its manifest recorded (:func:`check_run_plan`).

The plan comes from ``config.json``'s num_frames, chunk_frames and cond_frames (every run stores the values
it was made with) after the frames given before it (the input video or image). A hand edit of them
changes the plan under the finished chunks: the run went on from its last finished chunk by the new plan's
frames, leaving frames between them never made, or made a chunk count its manifest did not record.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from streamt2v.arguments import Arg, ArgumentValueError
from streamt2v.pipeline.chunking import ChunkSpec, plan_chunks
from streamt2v.pipeline.run_folders import CONFIG, MANIFEST
from streamt2v.wording import counted, singular_or_plural

if TYPE_CHECKING:
    from streamt2v.pipeline.rundir import RunDir
    from streamt2v.pipeline.stream_config import StreamConfig


def run_prefix_frames(run: RunDir) -> int | None:
    """The frames given before the run's first sampled chunk, as its finished chunk 0 holds them (its input
    video's or image's, a stage-0 chunk; 0 for a stage-1 chunk); None while no chunk is finished."""
    if not run.num_finished:
        return None
    first = run.manifest["chunks"][0]
    return int(first["stop"]) if first.get("stage") == 0 else 0


def _began_with(run: RunDir) -> int | None:
    """The input frames a run starting over because its chunk 0 is damaged began with: the stop of that
    stage-0 chunk as the manifest recorded it (:attr:`RunDir.chunks_as_recorded`: opening the run cut the
    damaged chunks from ``run.manifest``). None where it is not known."""
    if run.num_finished or run.damaged is None or run.damaged[0] != 0:
        return None
    first = run.chunks_as_recorded[0]
    return int(first["stop"]) if first.get("stage") == 0 else None


def _refuse_input_frames(run: RunDir, prefix_frames: int, init_video: str, began: int) -> None:
    """Refuse a run starting over whose ``init_video`` has other frames than the run ``began`` with: its plan
    differs from the manifest's, and the settings were said to have changed where the input had."""
    raise ArgumentValueError(
        f"run {str(run.path)!r} cannot be resumed: {run.damaged[1]}, so the run makes its first chunk again from "
        "its ",
        Arg("init_video"),
        f" {init_video!r}, which now has {counted(prefix_frames, 'frame')} where the run began with {began}; put "
        "back the video it began with, or start a new run with this one",
    )


def check_run_plan(
    run: RunDir, stream: StreamConfig, prefix_frames: int, *, init_video: str | None = None
) -> None:
    """Refuse a run whose settings (``stream``, after ``prefix_frames`` given) plan other chunks than its
    manifest holds: another number of them, or other frames for a finished one. The message names
    ``config.json``, the setting that changed where the finished chunks show its value, and the manifest's
    chunks. ``init_video``: the input video, read now, that ``prefix_frames`` are of (a run starting over),
    named where it has other frames than the run began with."""
    config = str(run.path / CONFIG)
    began = _began_with(run) if init_video is not None else None
    if init_video is not None and began is not None and began != prefix_frames:
        _refuse_input_frames(run, prefix_frames, init_video, began)
    input_changed: tuple[object, ...] = ()
    if init_video is not None and began is None:  # what the run began with is not known: it may have changed
        input_changed = (
            "; or, if its ",
            Arg("init_video"),
            f" {init_video!r} changed since (it has "
            f"{counted(prefix_frames, 'frame')} now), put back the video the run began with",
        )
    try:
        plan = plan_chunks(
            stream.num_frames,
            chunk_frames=stream.chunk_frames,
            cond_frames=stream.cond_frames,
            prefix_frames=prefix_frames,
        )
    except ValueError as err:  # no run could be made so: a hand edit (num_frames within the input's), or
        # an input replaced by a longer one
        raise ArgumentValueError(f"{config!r} cannot be resumed: {err}", *input_changed) from None
    made = run.manifest["chunks"]
    num_chunks = run.manifest["num_chunks"]
    differs = next((i for i, entry in enumerate(made) if _frames(entry) != _planned(plan, i)), None)
    if len(plan) == num_chunks and differs is None:
        return
    settings = ", ".join(
        f"{name} {getattr(stream, name)}" for name in ("num_frames", "chunk_frames", "cond_frames")
    )
    if prefix_frames:
        settings += f", after the {counted(prefix_frames, 'input frame')}"
    said = f"by its stream settings ({settings}) the run has {counted(len(plan), 'chunk')}"
    held = f"where its {MANIFEST} holds {counted(num_chunks, 'chunk')}"
    if differs is not None:
        planned = _planned(plan, differs)
        said += f" and its chunk {differs + 1} makes " + (_shown(planned) if planned else "none")
        held += f", chunk {differs + 1} finished with {_shown(_frames(made[differs]))}"
    else:
        held += f" ({len(made)} finished as they plan them)" if made else " (none finished)"
    why = _changed(stream, prefix_frames, made, num_chunks)
    names = [name for names, _ in why for name in names] or ["num_frames", "chunk_frames", "cond_frames"]
    ask = "; ".join(reason for _, reason in why) + ("; " if why else "")
    ran = {name: value for names, _ in why for name, value in names.items() if value is not None}
    if len(ran) == len(names):  # every value the run was made with worked out: named
        listed = ", ".join(f"{name} back to {value}" for name, value in ran.items())
        ask += f"set {listed}"
    else:
        listed = ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else names[0]
        ask += f"set {listed} back to the {singular_or_plural(len(names), 'value')} the run was made with"
    raise ArgumentValueError(f"{config!r} cannot be resumed: {said}, {held}; {ask}", *input_changed)


def _shown(frames: tuple[int, int]) -> str:
    return f"frames {frames[0]}-{frames[1] - 1}"


def _frames(entry: dict[str, Any]) -> tuple[int, int]:
    return int(entry["start"]), int(entry["stop"])


def _planned(plan: list[ChunkSpec], index: int) -> tuple[int, int] | None:
    return (plan[index].start, plan[index].stop) if index < len(plan) else None


def _changed(
    stream: StreamConfig, prefix: int, made: list[dict[str, Any]], num_chunks: int
) -> list[tuple[dict[str, int | None], str]]:
    """What the finished chunks show of the settings the run was made with, where a setting differs: its
    first chunk's length is chunk_frames (a stage-1 chunk the video goes on after), a streaming chunk's
    before the last is chunk_frames - cond_frames; and once both agree, the number of chunks bounds
    num_frames. Each setting is named with the run's value where the chunks show it (None: a range)."""
    chunk, cond = stream.chunk_frames, stream.cond_frames
    why: list[tuple[dict[str, int | None], str]] = []  # the settings named (their run's values), and why
    sizes_known = bool(prefix)  # after given frames chunk_frames sets no chunk's length alone
    if made and made[0].get("stage") == 1 and num_chunks > 1:
        first = _frames(made[0])[1]
        sizes_known = True
        if first != chunk:
            why.append(
                (
                    {"chunk_frames": first},
                    f"chunk_frames {chunk} is not the run's: its first chunk made {first} frames",
                )
            )
            chunk = first
    middle = [e for e in made if e.get("stage") == 2 and int(e["index"]) < num_chunks - 1]
    if not middle:
        return why
    start, stop = _frames(middle[0])
    new = stop - start
    if chunk - cond != new:
        if sizes_known and not prefix:
            said = f"cond_frames {cond} is not the run's: its streaming chunks made {new} new frames each"
            why.append(
                (
                    {"cond_frames": chunk - new},
                    f"{said} (cond_frames {chunk - new} with chunk_frames {chunk})",
                )
            )
        else:
            said = f"chunk_frames {chunk} and cond_frames {cond} make {chunk - cond} new frames a chunk"
            why.append(
                (
                    {"chunk_frames": None, "cond_frames": None},
                    f"{said}, where the run's streaming chunks made {new}",
                )
            )
        return why
    if why or not sizes_known:
        return why
    # every size agrees: num_chunks chunks of them hold num_frames within (low, high]
    first = prefix or chunk
    low, high = first + (num_chunks - 2) * new, first + (num_chunks - 1) * new
    if not low < stream.num_frames <= high:
        chunks = counted(num_chunks, "chunk")
        said = f"num_frames {stream.num_frames} is not the run's: {chunks} of these sizes make {low + 1} to {high}"
        why.append(({"num_frames": None}, f"{said} frames"))
    return why
