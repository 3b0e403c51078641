"""A ``generate`` run folder given to ``streamt2v evaluate``: its output, scored with the chunk boundaries its
manifest records (:func:`run_output`).

A video file does not name the run that made it (the output and the run folder are two paths of the user's
choosing, and nothing in the video points back), so the plan is taken only where the run folder itself is
given. The recorded plan is the one that matters for the jump ratio of an extended video (``--init-video``:
its first chunk is the input's frames) or of other chunk settings, which the default 16, 24, 32, ... misses.
"""

from __future__ import annotations

import os
from pathlib import Path

from streamt2v.io.folders import home_path, read_json_object
from streamt2v.io.output_paths import preview_path_for
from streamt2v.pipeline.run_folders import MANIFEST, is_run
from streamt2v.pipeline.run_outputs import left_there


def is_run_folder(target: str | os.PathLike) -> bool:
    """Whether ``target`` is a ``generate`` run folder (``config.json`` and ``manifest.json``)."""
    path = home_path(target)
    return path.is_dir() and is_run(path)


def run_output(run: str | os.PathLike) -> tuple[Path, list[int]]:
    """The output of the complete run in the folder ``run`` and its chunk boundaries (the first frame of each
    chunk after the first, as its manifest records them). Refused, naming the run, when the run is not
    complete or its output is gone or was replaced since the run wrote it (its plan is then no longer the
    video's)."""
    path = home_path(run)
    manifest = read_json_object(path / MANIFEST, "run manifest")
    status, output, chunks = manifest.get("status"), manifest.get("output"), manifest.get("chunks")
    if status != "complete":
        raise ValueError(
            f"run folder {str(run)!r} has no finished output to score: its run is {status!r}, not complete; "
            f"finish it (streamt2v generate --resume {str(run)!r}) or pass its preview by its path"
        )
    starts = [c.get("start") for c in chunks] if isinstance(chunks, list) else []
    if not isinstance(output, str) or not starts or not all(isinstance(s, int) for s in starts):
        raise ValueError(f"{str(path / MANIFEST)!r} is damaged: it names no output or no chunks' frames")
    video = Path(output)
    if not video.exists():
        raise FileNotFoundError(
            f"the output {output!r} of run folder {str(run)!r} is gone (moved or removed)"
        )
    try:
        preview = preview_path_for(video)
    except ValueError:
        preview = None
    if not left_there(manifest, path / MANIFEST, video, preview):
        raise ValueError(
            f"the output {output!r} of run folder {str(run)!r} was replaced since the run wrote it, so the "
            "run's chunks are not its frames; pass the video by its path to score it"
        )
    return video, starts[1:]
