"""Heavy libraries are imported where they are used: ``import streamt2v.metrics`` loads no PySceneDetect
(nor the PyAV it loads), and ``streamt2v evaluate`` into a log (stderr not a terminal) loads neither
diffusers nor transformers, which it used to import only to switch their progress bars off (seconds), nor
does a command failing before it loads a model import transformers: its bars follow huggingface_hub's switch.

Each check runs in a fresh interpreter, since this test process has imported everything already."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from streamt2v.io.video import write_video

HEAVY = ("scenedetect", "av", "diffusers", "transformers", "accelerate")


def _loaded_after(
    code: str, cwd: Path | None = None, err: list[str] | None = None, env: dict[str, str] | None = None
) -> set[str]:
    """The modules of :data:`HEAVY` that ``code`` leaves imported, run in a new interpreter whose stderr
    is a pipe (not a terminal) and whose environment has ``env`` added; what it wrote there is appended to
    ``err``."""
    code += f"\nimport sys; print('loaded:', *(m for m in {HEAVY!r} if m in sys.modules))"
    env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    env.pop("HF_HUB_DISABLE_PROGRESS_BARS", None)  # the bars start on, as a user's do
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    if err is not None:
        err.append(done.stderr)
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


def test_a_command_failing_into_a_log_before_its_model_imports_no_transformers(tmp_path):
    """The command line imported diffusers and transformers before any command to switch their bars off,
    when stderr is not a terminal: transformers took its seconds even where the command failed before
    loading a model. Diffusers is still imported there, as generate imports it for its pipeline anyway."""
    err: list[str] = []
    code = (
        "from streamt2v.cli import main\n"
        f"assert main(['generate', 'a red circle', '--model', {str(tmp_path / 'missing')!r}]) == 2\n"
    )
    assert "transformers" not in _loaded_after(code, cwd=tmp_path, err=err)
    assert "error: model folder" in err[0]


@pytest.mark.parametrize(
    ("argv", "env", "said"),
    [
        (["generate"], {}, "error: give a PROMPT or --prompt-schedule"),
        (["generate", "a cat", "-o", "-"], {}, "error: -o -: generate writes files"),
        (
            ["enhance", "in.mp4", "--prompt", " ", "-o", "o.mp4"],
            {},
            "error: --prompt must be a non-empty text",
        ),
        (["evaluate", "v.mp4", "--resume"], {}, "error: --resume continues a stopped run"),
        # a launch's process, refused before the conversion's imports
        (
            ["convert", "missing.ckpt", "out"],
            {"WORLD_SIZE": "2", "LOCAL_RANK": "0"},
            "error: convert runs as one process",
        ),
        (
            ["assemble", "model", "out", "--unet", "missing"],
            {"WORLD_SIZE": "2", "LOCAL_RANK": "0"},
            "error: assemble runs as one process",
        ),
    ],
)
def test_a_command_refusing_its_arguments_into_a_log_imports_no_torch(tmp_path, argv, env, said):
    """The command line imported diffusers (and so torch) before any command into a log (stderr not a
    terminal), to switch its bars off: a refusal of the arguments waited seconds for it. Generate, enhance,
    convert and assemble switch the bars off themselves, after their first checks, made before their imports
    (as evaluate's check of --resume now is)."""
    err: list[str] = []
    code = (
        "import sys\n"
        "from streamt2v.cli import main\n"
        f"assert main({argv!r}) == 2\n"
        "assert 'torch' not in sys.modules\n"
    )
    assert _loaded_after(code, cwd=tmp_path, err=err, env=env) == set()
    assert said in err[0]


def test_transformers_imported_while_library_bars_are_off_has_its_bars_off_and_on_again_after():
    """What lets the command line leave transformers unimported: imported while huggingface_hub's bars are
    off, its bars are off (it reads hub's switch as it is imported); they are on again after the command, as
    they were before it (``main`` may run again in this process)."""
    code = (
        "from streamt2v.cli import library_bars_off\n"
        "with library_bars_off():\n"
        "    import transformers.utils.logging as bars\n"
        "    assert not bars.is_progress_bar_enabled()\n"
        "assert bars.is_progress_bar_enabled()\n"
    )
    assert "transformers" in _loaded_after(code)
