"""Shared fixtures: where the official reference data lives, deterministic torch settings, test videos,
a random-weight refiner and small stage-3 settings, the tiny model and run configs of the generate tests,
the tiny reference's architecture and stand-in files of the checkpoint conversion tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
import torch

if TYPE_CHECKING:
    from streamt2v.config import ModelConfig
    from streamt2v.pipeline.refiner import Refiner

REPO_ROOT = Path(__file__).resolve().parents[1]
# The reference data produced by running the official implementation lives beside the checkout.
REFERENCE_ROOT = REPO_ROOT.parent / "shared" / "reference"


def reference_cases(prefix: str = "official_modelscope") -> list[Path]:
    """Every reference folder ``<prefix>*`` (new cases are picked up without code changes)."""
    return sorted(p for p in REFERENCE_ROOT.glob(f"{prefix}*") if p.is_dir())


@pytest.fixture(autouse=True, scope="session")
def _ctrl_c_as_at_a_terminal():
    """The interrupt tests stop commands as Ctrl-C at a terminal does. A suite started in the background
    of a script (``cmd &``, no job control) inherits SIGINT ignored, and so would every command it starts
    (an ignored signal stays ignored across exec): the session gets Python's default handler instead."""
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        yield
        return
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.fixture(autouse=True)
def _torch_settings():
    torch.manual_seed(0)
    yield


def first_reference_case(prefix: str = "official_modelscope") -> Path:
    """The first reference folder; fails naming the path when the reference data is not beside the repo."""
    cases = reference_cases(prefix)
    if not cases:
        pytest.fail(
            f"no reference data: expected {REFERENCE_ROOT}/{prefix}* (the shared/ folder beside the repo)"
        )
    return cases[0]


@pytest.fixture(scope="session")
def encoders(tmp_path_factory):
    """``(vae, clip)`` folders of a tiny VAE and micro-CLIP trained for one step (16×16 frames)."""
    from streamt2v.train.clip_recipe import ClipRecipe
    from streamt2v.train.loop import TrainConfig, train
    from streamt2v.train.vae_recipe import VAERecipe

    root = tmp_path_factory.mktemp("enc")
    cfg = TrainConfig(steps=1, batch_size=2, lr=1e-3)
    vae = VAERecipe(
        size=16, block_out_channels=(8, 16, 16), norm_num_groups=4, frames_per_sample=1, scaling_samples=1
    )
    train(vae, cfg, root / "vae", progress=False)
    clip = ClipRecipe(
        size=16, image_size=16, hidden_size=32, num_heads=2, intermediate_size=64, projection_dim=32
    )
    train(clip, cfg, root / "clip", progress=False)
    return str(root / "vae" / "final" / "vae"), str(root / "clip" / "final")


def write_video(path, frames: int, h: int = 24, w: int = 32) -> None:
    """A red bar growing across the frame, written through the project's writer (replacing ``path``: tests
    rewrite their videos on purpose)."""
    from streamt2v.io import video as io_video

    video = np.zeros((frames, h, w, 3), np.uint8)
    for i in range(frames):
        video[i, :, : (i * 3) % w] = (200, 40, 40)
    io_video.write_video(path, io_video.from_uint8_frames(video), 8, overwrite=True)


# Stage-3 enhancer settings of a few small chunks (tests/test_enhance*.py).
SMALL = dict(chunk_frames=6, overlap=2, steps=3)


@pytest.fixture(scope="module")
def refiner() -> Refiner:
    """A refiner with random weights making 32×32 frames (stage 3 without the shipped weights)."""
    from streamt2v.pipeline.refiner import Refiner

    return Refiner.random((32, 32), seed=0)


# ------------------------------------------------------------------ generate (tests/test_generate*.py)
@pytest.fixture(scope="module")
def model():
    """The tiny preset with random weights on the CPU (seed 0)."""
    from streamt2v.models.bundle import StreamingT2VModel

    return StreamingT2VModel.from_preset("tiny", device="cpu", seed=0)


def cfg_for(tmp_path, name, n=40, **kw):
    """A generate config of ``n`` frames, 2 steps a stage: ``<name>.mp4``, its run in ``run-<name>``."""
    from streamt2v.pipeline.generate import GenerateConfig
    from streamt2v.pipeline.stream import StreamConfig

    return GenerateConfig(
        output=str(tmp_path / f"{name}.mp4"),
        stream=StreamConfig(num_frames=n, seed=7, steps=2, init_steps=2),
        prompt="a red circle",
        run_dir=str(tmp_path / f"run-{name}"),
        **kw,
    )


class Crash(Exception):
    """Raised from an ``on_chunk`` callback: a run that fails after a chunk."""


# A quick ``streamt2v generate`` of the tiny random-weight preset.
FAST_CLI = ["--model", "tiny", "--steps", "1", "--init-steps", "1", "--no-progress"]


# ------------------------------------------------------- official checkpoints (tests/test_checkpoint*.py)
def reference_config(case: Path) -> tuple[ModelConfig, int]:
    """The tiny reference architecture as our ModelConfig, and its open_clip head width."""
    import json

    from streamt2v.config import ModelConfig, StreamingConfig, UNetConfig

    cfg = json.loads((case / "tiny_config.json").read_text())
    sec = {k.split(" ")[0]: v for k, v in cfg.items() if isinstance(v, dict)}
    base = sec["base_model"]["constructor_args"]
    cam = sec["unet"]["from_unet_args"]
    res = sec["resampler"]["constructor_args"]
    enc = next(v for k, v in sec["image_encoder"].items() if k.startswith("open_clip_model_config"))
    step = sec["step"]
    unet = UNetConfig(
        in_channels=base["in_channels"],
        out_channels=base["out_channels"],
        block_out_channels=tuple(base["block_out_channels"]),
        down_block_types=tuple(base["down_block_types"]),
        up_block_types=tuple(base["up_block_types"]),
        layers_per_block=base["layers_per_block"],
        attention_head_dim=base["attention_head_dim"],
        cross_attention_dim=base["cross_attention_dim"],
        norm_num_groups=base["norm_num_groups"],
        norm_eps=base["norm_eps"],
        sample_size=base["sample_size"],
    )
    streaming = StreamingConfig(
        cond_embedding_channels=tuple(cam["conditioning_embedding_out_channels"]),
        num_cond_frames=step["cond_frames"],
        num_frames=step["frames"],
        image_embed_dim=enc["embed_dim"],
        resampler_inner_dim=res["inner_dim"],
        num_image_tokens=res["expansion_factor"],
    )
    size = step["cond_rgb_hw"][0]
    model = ModelConfig(
        "official-tiny", unet, streaming, frame_size=size, vae_scale_factor=size // step["latent_hw"][0]
    )
    return model, int(enc["vision_cfg"]["head_width"])


def tiny_reference_sd(case: Path) -> dict[str, torch.Tensor]:
    """The tiny reference checkpoint's official state dict, in float32."""
    from safetensors.torch import load_file

    return {k: v.float() for k, v in load_file(case / "tiny_state_dict.safetensors").items()}


def stage1_folder(
    root: Path, cfg: ModelConfig, *, variant: str | None = None, tokenizer: bool = True
) -> Path:
    """A ModelScope-style diffusers folder (unet/, tokenizer/, model_index.json) for ``cfg``, random weights."""
    import json

    from diffusers import UNet3DConditionModel

    from streamt2v.models.tokenizers import byte_level_clip_tokenizer

    torch.manual_seed(5)
    unet = UNet3DConditionModel(**cfg.unet.to_diffusers())
    if variant == "fp16":
        unet = unet.half()
    unet.save_pretrained(root / "unet", variant=variant)
    if tokenizer:
        byte_level_clip_tokenizer(cfg.streaming.num_text_tokens).save_pretrained(root / "tokenizer")
    index = {"_class_name": "TextToVideoSDPipeline", "unet": ["diffusers", "UNet3DConditionModel"]}
    (root / "model_index.json").write_text(json.dumps(index))
    return root


def tokenizer_folder(root: Path, cfg: ModelConfig | str = "tiny") -> Path:
    """A CLIP tokenizer folder for ``cfg`` (a preset's name or a config): a strict conversion needs one, as
    the checkpoint holds none."""
    from streamt2v.config import get_preset
    from streamt2v.models.tokenizers import byte_level_clip_tokenizer

    cfg = get_preset(cfg) if isinstance(cfg, str) else cfg
    if not (root / "tokenizer_config.json").is_file():
        byte_level_clip_tokenizer(cfg.streaming.num_text_tokens).save_pretrained(root)
    return root


def garbage_checkpoint(tmp_path: Path) -> Path:
    """A file that is no checkpoint yet starts as a pickle does, so that the check of its first bytes, made
    before anything slow, passes: errors raised before it is read name something else."""
    path = tmp_path / "never_read.ckpt"
    path.write_bytes(b"\x80\x02garbage")
    return path


# ------------------------------------------------------------------ evaluate (tests/test_evaluate*.py)
def write_x264_video(path, frames, fps=8):
    """``frames`` (T, H, W, 3 uint8) as an H.264 file of PyAV's own RGB->YUV conversion (crf 12)."""
    import av

    # Deliberately not streamt2v.io.video.write_video: this probe threshold was set on swscale's RGB->YUV
    # conversion. Both centre the chroma samples, but swscale filters rows with [1, 3, 3, 1] / 8 where our
    # writer (deterministic, for byte-identical resume) averages 2x2 blocks; on these frames ours is closer
    # to the RGB (mean error 2.5 vs 2.9) yet the small shapes' caption agreement is 0.875 vs 0.958.
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=fps)
        s.width, s.height, s.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        s.options = {"crf": "12"}
        for f in frames:
            for p in s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)


@pytest.fixture(scope="module")
def video_dir(tmp_path_factory):
    """A folder of a clean 40-frame video, one with a scene cut at frame 20, and a file that is no video."""
    from test_metrics_probes import OBJS, make_video

    d = tmp_path_factory.mktemp("videos")
    clean = make_video(OBJS, t=40)
    write_x264_video(d / "a_clean.mp4", clean)
    cut = np.concatenate([make_video(OBJS, t=20), make_video(OBJS, bg="green", pattern="checker", t=20)])
    write_x264_video(d / "b_cut.mp4", cut)
    (d / "c_broken.mp4").write_bytes(b"not a video at all")
    return d


def two_process_launch() -> list[str]:
    """``python -m torch.distributed.run`` for 2 processes on a free local port (CPU, gloo): the command
    to put before ``-m streamt2v ...`` or a script."""
    import socket
    import sys

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_port",
        str(port),
    ]


@contextmanager
def one_torch_thread():
    """Torch at one thread, as the subprocess runs compared with (float sums depend on the thread count)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def tiny_vae():
    """The 16×16 two-block VAE recipe of the training-loop tests (a step takes milliseconds)."""
    from streamt2v.train.vae_recipe import VAERecipe

    return VAERecipe(
        size=16, block_out_channels=(8, 16), norm_num_groups=4, frames_per_sample=2, scaling_samples=2
    )


def sigterm_when(path: Path, cmd: list[str], log: Path, timeout: float = 120) -> subprocess.Popen:
    """Run ``cmd`` in its own process group (one torch thread, its output in ``log``) until ``path`` exists,
    then send SIGTERM to the whole group, as a job supervisor stops a job; return the ended process (the
    group is killed if it has not ended ``timeout`` seconds later)."""
    with log.open("w") as f:
        proc = subprocess.Popen(
            cmd,
            env={**os.environ, "OMP_NUM_THREADS": "1"},
            stdout=f,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for(path, proc, log=log)
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=timeout)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    return proc


def wait_for(path: Path, proc, timeout: float = 120, log: Path | None = None) -> None:
    """Wait until ``path`` exists while the subprocess ``proc`` runs (fail if it ends first, showing ``log``,
    its output file, when given, or after ``timeout`` seconds)."""
    import time

    end = time.monotonic() + timeout
    while not path.exists():
        said = log.read_text() if log is not None else ""
        assert proc.poll() is None, f"the command ended ({proc.returncode}) before {path} appeared\n{said}"
        assert time.monotonic() < end, f"{path} did not appear in {timeout} s"
        time.sleep(0.1)


def stderr_at_a_terminal_of_no_size(script: str) -> bytes:
    """What the Python ``script`` shows on its stderr, a pseudo-terminal that reports 0 columns and 0 lines
    (as one given no size does: ``script`` in a batch job, some CI runners)."""
    import fcntl
    import struct
    import termios

    main, child_end = os.openpty()
    try:
        fcntl.ioctl(child_end, termios.TIOCSWINSZ, struct.pack("HHHH", 0, 0, 0, 0))
        assert tuple(os.get_terminal_size(child_end)) == (0, 0)
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        env.pop("COLUMNS", None)
        env.pop("LINES", None)
        subprocess.run([sys.executable, "-c", script], stderr=child_end, env=env, timeout=120, check=True)
    finally:
        os.close(child_end)
    shown = b""
    with suppress(OSError):  # EIO once the terminal's other end is closed and read out
        while chunk := os.read(main, 4096):
            shown += chunk
    os.close(main)
    return shown


class WriteCalls:
    """A stdout or stderr recording each ``write()`` call, as a write-through stream passes each on to the
    file (where another process's output can land between two of them)."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def write(self, text: str) -> int:
        self.calls.append(text)
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False
