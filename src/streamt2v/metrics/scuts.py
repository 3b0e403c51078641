"""SCuts — number of scene cuts (paper §5.1; official-facts §7.2).

PySceneDetect's ``AdaptiveDetector`` with its default parameters, counting *cuts* (a video with one
scene has 0 cuts). Frames in memory go through the same steps as ``SceneManager.detect_scenes`` on a
file (RGB → BGR, the manager's automatic downscale to a width of about 256 with linear
interpolation), so a file and its decoded frames give the same count. Note the detector's default
minimum scene length (15 frames): cuts closer than that to the previous one are not reported.

PySceneDetect (and PyAV, which it loads) is imported when cuts are counted, not with this module:
``import streamt2v.metrics`` stays fast for the other metrics.
"""

from __future__ import annotations

import logging
import os

import cv2

from streamt2v.io.folders import home_path
from streamt2v.io.frame_rates import DEFAULT_FPS
from streamt2v.metrics.inputs import VideoLike, as_uint8_frames, check_positive

logger = logging.getLogger(__name__)


def scene_cuts_from_frames(frames: VideoLike, fps: float = DEFAULT_FPS) -> list[int]:
    """Frame indices at which ``AdaptiveDetector`` (default parameters) detects a cut."""
    from scenedetect import AdaptiveDetector, FrameTimecode
    from scenedetect.scene_manager import compute_downscale_factor

    fps = check_positive(fps, "fps")  # scenedetect's FrameTimecode fails obscurely on nan/inf
    frames = as_uint8_frames(frames, min_frames=1)
    detector = AdaptiveDetector()
    factor = compute_downscale_factor(frames.shape[2])
    cuts: list[FrameTimecode] = []
    for i, frame in enumerate(frames):
        im = cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)
        if factor > 1.0:
            size = (max(1, round(im.shape[1] / factor)), max(1, round(im.shape[0] / factor)))
            im = cv2.resize(im, size, interpolation=cv2.INTER_LINEAR)
        cuts += detector.process_frame(FrameTimecode(i, fps), im)
    cuts += detector.post_process(FrameTimecode(len(frames) - 1, fps))
    return [int(c.frame_num) for c in cuts]


def scene_cuts_from_file(path: str | os.PathLike) -> list[int]:
    """Frame indices of cuts in a video file, read by PySceneDetect itself (``open_video``); a
    ``ValueError`` naming the file when it is no readable video."""
    from scenedetect import AdaptiveDetector, SceneManager, VideoOpenFailure, open_video

    from streamt2v.io.decoding import decode_frames

    path = home_path(path)  # ~/v.mp4, as the other metrics take it
    if not path.is_file():
        raise FileNotFoundError(f"video file not found: {str(path)!r}")
    # One frame through our decoder first: PySceneDetect's failure names no file, ends in a newline and
    # comes after OpenCV's own lines on stderr.
    decode_frames(path, max_frames=1)
    try:
        video = open_video(str(path))
    except VideoOpenFailure as err:
        reason = " ".join(str(err).split()) or "no reason given"
        raise ValueError(f"PySceneDetect cannot open video {str(path)!r}: {reason}") from None
    manager = SceneManager()
    manager.add_detector(AdaptiveDetector())
    manager.detect_scenes(video, show_progress=False)
    return [int(c.frame_num) for c in manager.get_cut_list(show_warning=False)]


def scuts(video: VideoLike, fps: float = DEFAULT_FPS) -> int:
    """Number of scene cuts in one video (paper §5.1; lower is better). ``fps`` is used for frames in
    memory only (it does not change the count for the default, frame-based parameters)."""
    check_positive(fps, "fps")  # checked for files too: a bad value is a bug wherever it goes
    if isinstance(video, (str, os.PathLike)) and not home_path(video).is_dir():
        return len(scene_cuts_from_file(video))
    # frames in memory, or a folder of frame images (read as the other metrics read it)
    return len(scene_cuts_from_frames(video, fps=fps))
