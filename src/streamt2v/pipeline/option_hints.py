"""The keyword arguments ``pipe(...)`` refuses, named with the ones meant: other video pipelines' options
(diffusers' names) with ours, a typo with the name meant (:func:`unknown_options_message`)."""

from __future__ import annotations

from dataclasses import fields

from streamt2v.pipeline.stream_config import StreamConfig
from streamt2v.wording import close_name

# What the options of other video pipelines (diffusers' names) are called here.
OPTION_HINTS = {
    "generator": "chunk noise is drawn from (seed, chunk index): pass seed=",
    "num_inference_steps": "pass steps= for stage 2 and init_steps= for stage 1",
    "guidance_scale": "pass guidance= for stage 2 and init_guidance= for stage 1",
    "callback": "pass on_step=, called as on_step(chunk, step, steps)",
    "callback_on_step_end": "pass on_step=, called as on_step(chunk, step, steps)",
    "output_type": "the video is a float tensor (1, 3, T, H, W) in [-1, 1]; "
    "streamt2v.io.video.to_uint8_frames(video) gives uint8 (T, H, W, 3) frames",
    "num_videos_per_prompt": "one video per call",
    "height": "the frame size is the model's (model.config.frame_size)",
    "width": "the frame size is the model's (model.config.frame_size)",
    "prompt_embeds": "prompts are given as text: pass the prompt (and negative_prompt=)",
    "negative_prompt_embeds": "prompts are given as text: pass negative_prompt=",
    "latents": "the initial noise comes from (seed, chunk index): pass seed=; continue a video with init_video=",
    "image": "pass init_image= to start from an image, anchor_image= for the APM anchor",
    "video": "pass init_video= to continue a video",
    "fps": "the frame rate is write_video's fps= (the model's is model.fps)",
}


def unknown_options_message(unknown: list[str]) -> str:
    """The error for keyword arguments :meth:`StreamingT2VPipeline.stream` does not take: other pipelines'
    names with ours (:data:`OPTION_HINTS`), a typo (``negative_promt``) with the name meant."""
    known = [f.name for f in fields(StreamConfig)] + [
        "init_video",
        "init_image",
        "anchor_image",
        "on_step",
        "resume",
    ]
    hints = []
    for name in unknown:
        close = close_name(name, known, cutoff=0.8)
        hint = OPTION_HINTS.get(name) or (f"{name}: did you mean {close}=?" if close else None)
        hints += [hint] if hint else []
    hint = f" ({'; '.join(hints)})" if hints else ""
    noun = "option" if len(unknown) == 1 else "options"
    return f"unknown sampling {noun}: {', '.join(unknown)}{hint}; see StreamConfig for the options"
