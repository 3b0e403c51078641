"""Heavy libraries are imported where they are used: ``import streamt2v.metrics`` loads no PySceneDetect
(nor the PyAV it loads), and ``streamt2v evaluate`` into a log (stderr not a terminal) loads neither
diffusers nor transformers, which it used to import only to switch their progress bars off (seconds).

Each check runs in a fresh interpreter, since this test process has imported everything already."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch

from streamt2v.io.video import write_video

HEAVY = ("scenedetect", "av", "diffusers", "transformers", "accelerate")


def _loaded_after(code: str, cwd: Path | None = None) -> set[str]:
    """The modules of :data:`HEAVY` that ``code`` leaves imported, run in a new interpreter whose stderr
    is a pipe (not a terminal)."""
    code += f"\nimport sys; print('loaded:', *(m for m in {HEAVY!r} if m in sys.modules))"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    last = done.stdout.splitlines()[-1].split()
    assert last[0] == "loaded:", done.stdout
    return set(last[1:])


def test_import_metrics_loads_no_scenedetect_and_scuts_is_still_the_function():
    code = "import streamt2v.metrics as m; assert callable(m.scuts) and m.scuts.__name__ == 'scuts', m.scuts"
    assert _loaded_after(code) == set()


def test_probes_and_mawe_load_no_scenedetect():
    code = (
        "import numpy as np\n"
        "from streamt2v.metrics import mawe, probe_video\n"
        "frames = np.random.default_rng(0).integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)\n"
        "probe_video(frames)\n"
        "mawe(frames, flow_size=None)\n"
    )
    assert _loaded_after(code) == set()


def test_evaluate_into_a_log_loads_neither_diffusers_nor_transformers(tmp_path):
    video = write_video(
        tmp_path / "v.mp4", torch.rand(1, 3, 12, 32, 32, generator=torch.Generator().manual_seed(0)), 8
    )
    code = (
        "from streamt2v.cli import main\n"
        f"assert main(['evaluate', {str(video)!r}, '--metrics', 'mawe,probes', '--flow-size', '0']) == 0\n"
    )
    # (PyAV decodes the video: it is used here)
    assert _loaded_after(code, cwd=tmp_path) - {"av"} == set()
