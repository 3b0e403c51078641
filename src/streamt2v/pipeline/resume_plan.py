"""A resumed run's chunk plan checked against what its manifest recorded (:func:`check_run_plan`).

The plan comes from ``config.json``'s num_frames, chunk_frames and cond_frames (every run stores the values
it was made with) after the frames given before it (the input video or image). A hand edit of them
changes the plan under the finished chunks: the run went on from its last finished chunk by the new plan's
frames, leaving frames between them never made, or made a chunk count its manifest did not record.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from streamt2v.pipeline.chunking import ChunkSpec, plan_chunks
from streamt2v.pipeline.run_folders import CONFIG, MANIFEST
from streamt2v.wording import counted

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


def check_run_plan(run: RunDir, stream: StreamConfig, prefix_frames: int) -> None:
    """Refuse a run whose settings (``stream``, after ``prefix_frames`` given) plan other chunks than its
    manifest holds: another number of them, or other frames for a finished one. The message names
    ``config.json``, the setting that changed where the finished chunks show its value, and the manifest's
    chunks."""
    config = str(run.path / CONFIG)
    try:
        plan = plan_chunks(
            stream.num_frames,
            chunk_frames=stream.chunk_frames,
            cond_frames=stream.cond_frames,
            prefix_frames=prefix_frames,
        )
    except ValueError as err:  # a hand edit no run could be made with (num_frames within the input's)
        raise ValueError(f"{config!r} cannot be resumed: {err}") from None
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
    listed = ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else names[0]
    ask += f"set {listed} back to the {'value' if len(names) == 1 else 'values'} the run was made with"
    raise ValueError(f"{config!r} cannot be resumed: {said}, {held}; {ask}")


def _shown(frames: tuple[int, int]) -> str:
    return f"frames {frames[0]}-{frames[1] - 1}"


def _frames(entry: dict[str, Any]) -> tuple[int, int]:
    return int(entry["start"]), int(entry["stop"])


def _planned(plan: list[ChunkSpec], index: int) -> tuple[int, int] | None:
    return (plan[index].start, plan[index].stop) if index < len(plan) else None


def _changed(
    stream: StreamConfig, prefix: int, made: list[dict[str, Any]], num_chunks: int
) -> list[tuple[list[str], str]]:
    """What the finished chunks show of the settings the run was made with, where a setting differs: its
    first chunk's length is chunk_frames (a stage-1 chunk the video goes on after), a streaming chunk's
    before the last is chunk_frames - cond_frames; and once both agree, the number of chunks bounds
    num_frames."""
    chunk, cond = stream.chunk_frames, stream.cond_frames
    why: list[tuple[list[str], str]] = []  # the settings named, and why
    sizes_known = bool(prefix)  # after given frames chunk_frames sets no chunk's length alone
    if made and made[0].get("stage") == 1 and num_chunks > 1:
        first = _frames(made[0])[1]
        sizes_known = True
        if first != chunk:
            why.append(
                (
                    ["chunk_frames"],
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
            why.append((["cond_frames"], f"{said} (cond_frames {chunk - new} with chunk_frames {chunk})"))
        else:
            said = f"chunk_frames {chunk} and cond_frames {cond} make {chunk - cond} new frames a chunk"
            why.append(
                (["chunk_frames", "cond_frames"], f"{said}, where the run's streaming chunks made {new}")
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
        why.append((["num_frames"], f"{said} frames"))
    return why
