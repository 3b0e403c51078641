"""Optical flow between consecutive frames (paper §5.1, appendix "MAWE").

The paper computes its flow metrics at 720×720 with RAFT-large (official-facts §7.1). Here the default
backend is OpenCV DIS (no weights needed); OpenCV Farneback and RAFT-large (torchvision, optional) are
available too. Flows are ``float32`` arrays ``(T-1, 2, H, W)``: channel 0 = dx, channel 1 = dy, in pixels
at the working resolution, flow ``t`` maps frame ``t`` to frame ``t + 1``. The videos the metrics take:
:mod:`streamt2v.metrics.inputs`.
"""

from __future__ import annotations

import logging
import numbers
import os
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import torch

from streamt2v.arguments import Arg, ArgumentRuntimeError, ArgumentValueError
from streamt2v.io.folders import home_path
from streamt2v.metrics.inputs import VideoLike, as_uint8_frames
from streamt2v.progress_bars import progress_bar

logger = logging.getLogger(__name__)

FLOW_BACKENDS: tuple[str, ...] = ("dis", "farneback", "raft")
# Paper §5.1 / official mawe.py: flow metrics at 720×720.
DEFAULT_FLOW_SIZE = 720
# The Farneback parameters used for the official MAWE reference vectors (reference README §3).
FARNEBACK_PARAMS = dict(pyr_scale=0.5, levels=3, winsize=15, iterations=3, poly_n=5, poly_sigma=1.2, flags=0)


def _is_int(x: object) -> bool:
    return isinstance(x, numbers.Integral) and not isinstance(x, bool)


#: The largest flow side accepted (8K video); a larger one would only fail in OpenCV's allocator, after the
#: video was read (``--flow-size 100000``: a 30 GB frame).
MIN_FLOW_SIDE, MAX_FLOW_SIDE = 8, 8192


def check_flow_size(size: object, name: str = "flow_size") -> tuple[int, int] | None:
    """``size`` (``N``, ``(H, W)`` ints, or ``None``) as ``(H, W)`` or ``None``; raises unless each side is
    an int in [:data:`MIN_FLOW_SIDE`, :data:`MAX_FLOW_SIDE`]. ``name``: the caller's argument, as the error
    names it (``compute_flows``' and ``resize_frames``' ``size``)."""
    if size is None:
        return None
    if _is_int(size):
        h = w = int(size)
    elif isinstance(size, (tuple, list)) and len(size) == 2 and all(_is_int(v) for v in size):
        h, w = int(size[0]), int(size[1])
    else:
        raise TypeError(f"{name} must be an int, a (height, width) pair of ints or None, got {size!r}")
    if h < MIN_FLOW_SIDE or w < MIN_FLOW_SIDE:
        # 0 is the command line's word for the video's own size (--flow-size 0): in Python that is None
        native = " (None keeps the video's own size)" if 0 in (h, w) else ""
        raise ValueError(
            f"{name} must be at least {MIN_FLOW_SIDE}×{MIN_FLOW_SIDE} pixels, got {h}×{w}{native}"
        )
    if h > MAX_FLOW_SIDE or w > MAX_FLOW_SIDE:
        raise ValueError(
            f"{name} must be at most {MAX_FLOW_SIDE}×{MAX_FLOW_SIDE} pixels, got {h}×{w} "
            "(the paper's is 720; None, --flow-size 0 on the command line, keeps the video's own size)"
        )
    return h, w


#: OpenCV's DIS refuses frames whose larger side is under 12 pixels (``dis_flow.cpp``: "width or height >= 12").
DIS_MIN_SIDE = 12


def check_flow_frame_size(
    backend: str,
    height: int,
    width: int,
    where: str = "frames",
    names: tuple[str, str | None] = ("flow", "flow_size"),
) -> None:
    """Raise a ``ValueError`` naming the size when ``backend`` cannot compute flow on ``height × width``
    frames (DIS needs one side of at least :data:`DIS_MIN_SIDE` pixels; OpenCV's error is not one line).
    ``names``: the caller's arguments for the backend and the flow size (None: it takes no size), which the
    advice names (``flow_size`` to Python, ``--flow-size`` on the command line)."""
    if backend == "dis" and max(height, width) < DIS_MIN_SIDE:
        backend_arg, size_arg = names
        larger = ("a larger flow size (", Arg(size_arg), ")") if size_arg else ("larger frames",)
        raise ArgumentValueError(
            f"DIS optical flow needs {where} with a side of at least {DIS_MIN_SIDE} pixels, got "
            f"{width}x{height} (WxH); use ",
            *larger,
            " or ",
            Arg(backend_arg, "farneback"),
        )


def check_flow_backend(backend: object) -> None:
    """Refuse an unknown optical-flow backend, naming the ones there are."""
    if backend not in FLOW_BACKENDS:
        raise ValueError(f"unknown flow backend {backend!r}; choose one of {', '.join(FLOW_BACKENDS)}")


def require_raft(weights: str | os.PathLike | None, name: str = "flow") -> None:
    """Refuse RAFT where torchvision cannot be imported, or a weights file that is not there (before any
    video is read). ``name``: the caller's argument for the backend, which the advice names."""
    try:
        import torchvision.models.optical_flow  # noqa: F401
    except ImportError as err:
        raise ArgumentRuntimeError(
            "flow backend 'raft' needs torchvision (RAFT-large), which is not importable here "
            f"({err}). Install a torchvision build matching your torch, or use ",
            Arg(name, "dis"),
            " or ",
            Arg(name, "farneback"),
            ".",
        ) from err
    if weights is not None and not home_path(weights).is_file():
        raise FileNotFoundError(f"RAFT weights not found: {str(weights)!r}")


def check_flow_settings(
    backend: str, size: object, names: tuple[str, str] = ("flow", "flow_size")
) -> tuple[int, int] | None:
    """The backend known, ``check_flow_size(size)``, and whether ``backend`` can work at that size (before
    any frame is read); ``names``: the caller's arguments for them (:func:`check_flow_frame_size`)."""
    check_flow_backend(backend)
    hw = check_flow_size(size, names[1])
    if hw is not None:
        check_flow_frame_size(backend, hw[0], hw[1], "a flow size", names)
    return hw


def _bilinear_taps(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Source rows (or columns) ``lo``, ``hi`` and the integer weight of ``hi`` over ``den`` for each of
    ``n_out`` outputs: half-pixel centres (``align_corners=False``), the position ``(d + ½)·n_in/n_out − ½``
    clamped at 0 as ``F.interpolate`` clamps it, written as the exact fraction ``num / (2·n_out)``."""
    den = 2 * n_out
    num = np.maximum((2 * np.arange(n_out, dtype=np.int64) + 1) * n_in - n_out, 0)
    lo = np.minimum(num // den, n_in - 1)
    hi = np.minimum(lo + 1, n_in - 1)
    return lo, hi, np.where(hi > lo, num - lo * den, 0), den


def resize_frames(frames: np.ndarray, size: int | tuple[int, int] | None) -> np.ndarray:
    """Resize ``(T, H, W, 3)`` frames to ``size`` (``N`` → N×N, or ``(H, W)``); ``None`` keeps them.

    Bilinear without antialiasing, as the official ``F.resize(..., antialias=False)`` resizes the uint8
    video (half-pixel centres, rounded half to even), but computed exactly: the weights are fractions
    ``k / (2·size)``, so the sums are integers, exact in float64, and one division rounds them. The result
    is the same on every machine and thread count. (torchvision's float32 ``F.interpolate`` differed by
    ~5e-5 with the torch thread count, which flipped the rounding of some pixels at the many exact ties
    and moved DIS flow, hence MAWE, by ~0.5%; OpenCV's fixed-point ``INTER_LINEAR`` is one level off on
    about 11% of the values.)
    """
    hw = check_flow_size(size, "size")
    if hw is None:
        return frames
    h, w = hw
    if frames.shape[1:3] == (h, w):
        return frames
    y0, y1, wy, dy = _bilinear_taps(frames.shape[1], h)
    x0, x1, wx, dx = _bilinear_taps(frames.shape[2], w)
    # integer weights as float64: the largest sum, 255·(2·8192)², is far below 2**53 (exact)
    wx0, wx1 = (dx - wx).astype(np.float64)[:, None], wx.astype(np.float64)[:, None]
    wy0, wy1 = (dy - wy).astype(np.float64)[:, None, None], wy.astype(np.float64)[:, None, None]
    out = np.empty((len(frames), h, w, frames.shape[3]), np.uint8)
    for i, f in enumerate(frames):  # one frame at a time: 240 float frames at 720x720 would be 3 GB
        f = f.astype(np.float64)
        rows = f[:, x0] * wx0 + f[:, x1] * wx1  # (H_in, w, 3), times dx
        # a tie stays a tie: sum / (dx·dy) is correctly rounded and another fraction of that denominator
        # lies ≥ 1/(dx·dy) from k + ½, so rint rounds the exact value half to even
        out[i] = np.rint((rows[y0] * wy0 + rows[y1] * wy1) / (dx * dy))
    return out


#: The most Farneback's flow may upscale a frame by (per side) and still find its motion: beyond it the frame
#: is too smooth at the polynomial expansion's scale and the flow next to zero (a 32x32 microworld video at
#: 720: mean |flow| 1e-4 px against DIS's 16, MAWE ~1e5 against 0.8; docs/metrics.md).
FARNEBACK_MAX_UPSCALE = 2.0


def note_farneback_upscale(height: int, width: int, size: int | tuple[int, int] | None, name: str) -> bool:
    """Warn (and return True) when Farneback's flow would see ``height`` x ``width`` frames (of the video
    ``name``) upscaled to ``size`` by more than :data:`FARNEBACK_MAX_UPSCALE`: its MAWE is then far too large."""
    target = check_flow_size(size)
    factor = 0.0 if target is None else max(target[0] / height, target[1] / width)
    if factor <= FARNEBACK_MAX_UPSCALE:
        return False
    logger.warning(
        "MAWE by Farneback of %r: its %dx%d frames are upscaled %.3gx to the flow size, where Farneback finds next "
        "to no motion (an upscaled frame is too smooth at its window's scale), so the MAWE comes out orders of "
        "magnitude too large (microworld videos at 720: ~1e5, by DIS ~0.8); use %s, or %s at most twice the "
        "video's side (said once)",
        name,
        width,
        height,
        factor,
        Arg("flow", "dis"),
        Arg("flow_size"),
    )
    return True


def _gray(frame: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)


class _OpenCVFlow:
    def __init__(self, backend: str) -> None:
        self.backend = backend
        if backend == "dis":
            self._dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)

    def __call__(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        ga, gb = _gray(a), _gray(b)
        # make_flow_fn's frames (mawe and compute_flows check theirs first, naming their arguments)
        check_flow_frame_size(self.backend, *ga.shape[:2], names=("backend", None))
        if self.backend == "dis":
            flow = self._dis.calc(ga, gb, None)
        else:
            flow = cv2.calcOpticalFlowFarneback(ga, gb, None, **FARNEBACK_PARAMS)
        return np.ascontiguousarray(flow.transpose(2, 0, 1), dtype=np.float32)  # (2, H, W)


class _RaftFlow:
    """RAFT-large from torchvision (the official MAWE flow, official-facts §7.1)."""

    def __init__(self, weights: str | os.PathLike | None, device: str | torch.device | None) -> None:
        require_raft(weights, "backend")  # make_flow_fn's (mawe and compute_flows check first)
        from torchvision.models.optical_flow import Raft_Large_Weights, raft_large

        from streamt2v.metrics.devices import raft_device

        self.device = raft_device(device)  # where a report says it ran
        model = raft_large(weights=None, progress=False)
        if weights is not None:
            wpath = home_path(weights)  # there: require_raft refused a missing file
            if wpath.suffix == ".safetensors":
                from safetensors.torch import load_file

                state = load_file(str(wpath))
            else:
                state = torch.load(str(wpath), map_location="cpu", weights_only=True)
        else:
            w = Raft_Large_Weights.DEFAULT
            try:
                state = torch.hub.load_state_dict_from_url(w.url, progress=False, map_location="cpu")
            except Exception as err:  # offline and not cached
                cache = Path(torch.hub.get_dir()) / "checkpoints"
                raise RuntimeError(
                    f"RAFT-large weights are neither given nor cached in {str(cache)!r} and could not be "
                    f"downloaded from {w.url} ({err}). Download that file once (on a machine with internet) "
                    "into the cache folder, or pass its path as raft_weights=/--raft-weights."
                ) from err
        model.load_state_dict(state)
        self.model = model.eval().to(self.device)

    @torch.no_grad()
    def __call__(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        h, w = a.shape[:2]
        if h % 8 or w % 8:
            raise ValueError(f"RAFT needs frame sides divisible by 8, got {h}×{w}; choose another flow size")

        def prep(x: np.ndarray) -> torch.Tensor:  # RAFT preset: [0, 255] → [-1, 1]
            t = torch.from_numpy(x).permute(2, 0, 1)[None].float().to(self.device)
            return t / 127.5 - 1.0

        flows = self.model(prep(a), prep(b))
        return flows[-1][0].float().cpu().numpy()  # (2, H, W), last iteration


def make_flow_fn(
    backend: str = "dis",
    raft_weights: str | os.PathLike | None = None,
    device: str | torch.device | None = None,
) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """A function ``(frame_a, frame_b)`` (uint8 ``(H, W, 3)``) → flow ``(2, H, W)`` float32."""
    check_flow_backend(backend)
    if backend == "raft":
        return _RaftFlow(raft_weights, device)
    return _OpenCVFlow(backend)


def compute_flows(
    video: VideoLike,
    backend: str = "dis",
    size: int | tuple[int, int] | None = DEFAULT_FLOW_SIZE,
    progress: bool = False,
    raft_weights: str | os.PathLike | None = None,
    device: str | torch.device | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Flow between each pair of consecutive frames at ``size`` (720×720 by default, paper §5.1).

    Returns ``(frames, flows)``: the resized ``uint8 (T, H, W, 3)`` frames the flow was computed on and
    ``float32 (T-1, 2, H, W)`` flows. Pairs are processed one at a time (memory stays at two frames
    of flow work plus the output).
    """
    names = ("backend", "size")
    check_flow_settings(backend, size, names)  # before a (possibly long) decode
    if backend == "raft":
        require_raft(raft_weights, "backend")
    frames = resize_frames(as_uint8_frames(video, min_frames=2), size)
    check_flow_frame_size(backend, *frames.shape[1:3], "the video's frames", names)  # at their own size
    fn = make_flow_fn(backend, raft_weights=raft_weights, device=device)
    t, h, w, _ = frames.shape
    flows = np.empty((t - 1, 2, h, w), dtype=np.float32)
    for i in progress_bar(range(t - 1), desc=f"flow ({backend})", disable=not progress, leave=False):
        flows[i] = fn(frames[i], frames[i + 1])
    return frames, flows
