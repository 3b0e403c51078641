"""The Python API of long video generation (paper §4, Fig. 2, stages 1–2): :class:`StreamingT2VPipeline`
(the video or its chunks in memory) and :func:`generate` (a :class:`GenerateConfig` into files through a run
directory, checked before any model loads).

:func:`generate` consumes :func:`~streamt2v.pipeline.stream.stream` through
:func:`~streamt2v.pipeline.run_writing.consume`, which stores every finished chunk in the run directory and
appends it to the outputs; on Ctrl-C the run can continue with
:func:`~streamt2v.pipeline.resume.resume_generate`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from streamt2v.arguments import Arg, ArgumentValueError
from streamt2v.io.folders import home_path
from streamt2v.io.frame_rates import fps_number, stored_fps
from streamt2v.io.output_paths import output_kind
from streamt2v.io.video import check_crf
from streamt2v.memory import one_dtype
from streamt2v.pipeline.dtype_setting import dtype_field, stored_dtype
from streamt2v.pipeline.model_fingerprint import local_model_folder, model_fingerprint
from streamt2v.pipeline.model_loading import (
    load_compiled,
    load_model,
    sampler_before_loading,
    schedule_length,
)
from streamt2v.pipeline.option_hints import unknown_options_message
from streamt2v.pipeline.preflight import (
    PROMPT_ARG,
    check_default_refiner_for,
    check_inputs,
    check_run_dir_apart,
    output_targets,
    warn_rate_change,
)
from streamt2v.pipeline.prompts import PromptSchedule, as_schedule, load_schedule
from streamt2v.pipeline.run_folders import default_run_dir, reserve_run_dir
from streamt2v.pipeline.run_inputs import RunInputs, read_run_inputs
from streamt2v.pipeline.run_writing import ChunkCallback, GenerateResult, consume, how_to_resume, replaced

# generate() raises it (a stop that came as the run finished): importable with it, as docs/generate.md says
from streamt2v.pipeline.run_writing import StoppedWhenComplete as StoppedWhenComplete
from streamt2v.pipeline.rundir import RunDir
from streamt2v.pipeline.sampling_stages import sampling_without_stage
from streamt2v.pipeline.setting_checks import SettingError
from streamt2v.pipeline.step_counts import check_step_counts, recommended_note
from streamt2v.pipeline.stream import Chunk, StepCallback, StreamConfig, StreamState, stream
from streamt2v.pipeline.stream_config import OFFICIAL_SAMPLING
from streamt2v.typed_values import is_number, plain_number
from streamt2v.wording import counted

if TYPE_CHECKING:
    from streamt2v.models.bundle import StreamingT2VModel

logger = logging.getLogger(__name__)


class StreamingT2VPipeline:
    """Text → long video (paper §4). ``pipe(prompt, num_frames=N)`` returns ``(1, 3, N, H, W)`` in
    ``[-1, 1]`` on the CPU; ``pipe.stream(...)`` yields the chunks as they are finished.

    Keyword arguments of both: those of :class:`StreamConfig` (``seed``, ``negative_prompt``, ``steps``,
    ``guidance``, ``guidance_rescale``, ``scheduler``, ``eta``, ``init_steps``, ``init_guidance``,
    ``init_guidance_rescale``, ``init_scheduler``, ``init_eta``, ``noise_correlation``, ``init_noise_correlation``,
    ``chunk_frames``, ``cond_frames``, ``reanchor``, ``cond_replacement``, ``anchor_colour_match``,
    ``chunk_strength``) and
    ``init_video``, ``init_image``, ``anchor_image`` (tensors), ``on_step``. ``prompt`` may be a
    :class:`PromptSchedule` or a schedule string ``"0: a cat walks; 120: the cat runs"``.
    """

    def __init__(self, model: StreamingT2VModel) -> None:
        from streamt2v.models.bundle import StreamingT2VModel

        if not isinstance(model, StreamingT2VModel):  # a path here failed only at the first call
            raise TypeError(
                f"StreamingT2VPipeline(model) takes a StreamingT2VModel, got {type(model).__name__}; load a "
                "model folder, hub id or preset with StreamingT2VPipeline.from_pretrained(...)"
            )
        self.model = model

    def __repr__(self) -> str:
        return f"StreamingT2VPipeline(model={self.model!r})"

    @property
    def device(self) -> torch.device:
        return self.model.device

    @property
    def dtype(self) -> torch.dtype:
        return self.model.dtype

    def to(
        self, device: torch.device | str | torch.dtype | None = None, dtype: torch.dtype | None = None
    ) -> StreamingT2VPipeline:
        """Move the model (:meth:`StreamingT2VModel.to`: ``"auto"``, a device, a dtype or both); in place."""
        self.model.to(device, dtype)
        return self

    @classmethod
    def from_pretrained(
        cls,
        path_or_preset: str | os.PathLike | None = None,
        *,
        device: str | torch.device = "auto",
        dtype: str | torch.dtype | None = None,
        torch_dtype: str | torch.dtype | None = None,
    ) -> StreamingT2VPipeline:
        """A pipeline of the model :func:`load_model` loads: a model folder or hub id, a preset name
        (random weights, with a warning), or None / ``"microworld"`` for the shipped model; on ``device``
        (``"auto"``: a GPU if there is one) in ``dtype`` (or ``torch_dtype``, diffusers' name; default
        float32), checked against the device before anything loads."""
        chosen = one_dtype(torch_dtype, dtype)
        return cls(load_model(path_or_preset, device=device, dtype="fp32" if chosen is None else chosen))

    def stream(
        self,
        prompt: str | PromptSchedule,
        num_frames: int,
        *,
        init_video: torch.Tensor | None = None,
        init_image: torch.Tensor | None = None,
        anchor_image: torch.Tensor | None = None,
        on_step: StepCallback | None = None,
        resume: StreamState | None = None,
        **options: Any,
    ) -> Iterator[Chunk]:
        """The chunks (:class:`~streamt2v.pipeline.stream.Chunk`) as they are finished: the video of ``pipe(...)``
        in pieces, each ``chunk.frames`` ``(1, 3, n, H, W)`` in ``[-1, 1]`` on the CPU, ``chunk.start`` its first
        frame. Every argument is checked when it is called, before any chunk is sampled.

        ``prompt``: a prompt, or a schedule (``"0: a cat walks; 120: the cat runs"``, a :class:`PromptSchedule`;
        each chunk takes the prompt at its first new frame); ``num_frames``: the video's length. Keyword
        arguments:

        - ``init_video`` ``(1, 3, L, H, W)`` or ``init_image`` ``(1, 3, H, W)``, tensors in ``[-1, 1]``: the video
          continues them (they take stage 1's place; chunk 0 is them, unchanged); ``anchor_image``
          ``(1, 3, H, W)``: the APM anchor (default: the first frame).
        - ``on_step(chunk, step, steps)``: called after every denoising step.
        - ``resume``: continue from a :class:`StreamState` (the ``tail``/``anchor``/``anchor_prompt`` of the last
          chunk received, ``next_chunk`` = its index + 1) with the same prompt, length and options.
        - ``**options``: :class:`StreamConfig`'s sampling settings (``help(StreamConfig)``); those not given take
          the model's recommended values (``model.sampler``), else the official release's: ``seed`` (33),
          ``negative_prompt``; stage 2 (the streaming chunks) ``steps``, ``guidance``, ``guidance_rescale``,
          ``scheduler``, ``eta``, ``noise_correlation``, ``cond_replacement``, ``anchor_colour_match``,
          ``chunk_strength``; stage 1 (the first chunk) ``init_steps``, ``init_guidance``,
          ``init_guidance_rescale``, ``init_scheduler``, ``init_eta``, ``init_noise_correlation``; the chunk plan
          ``chunk_frames``, ``cond_frames``, ``reanchor``. An option of a stage the video has not (``steps=`` on
          a video of one chunk) is named in a warning; an unknown one is refused (diffusers' names with ours).
        """
        unknown = sorted(set(options) - {f.name for f in fields(StreamConfig)})
        if unknown:
            raise TypeError(unknown_options_message(unknown))
        # The model's recommended settings for its weights where the caller gives none, as generate() takes them.
        try:
            config = StreamConfig(num_frames=num_frames, **options).resolved(self.model.sampler)
            chunks = stream(
                self.model,
                as_schedule(prompt),
                config,
                init_video=init_video,
                init_image=init_image,
                anchor_image=anchor_image,
                resume=resume,
                on_step=on_step,
            )
        except SettingError as err:  # a constraint from a setting the caller never gave is named as such
            note = recommended_note(err, self.model.sampler, [*options, "num_frames"])
            raise SettingError(f"{err}{note}") from None
        continues = "init_video" if init_video is not None else "init_image" if init_image is not None else ""
        unused, stage = sampling_without_stage(list(options), config, bool(continues))
        if unused and resume is None:  # as the command line warns of its flags (a resume keeps the run's)
            why = (
                f"stage 1, which {continues} takes the place of"
                if stage == 1
                else f"the streaming chunks (stage 2), and a video of {counted(num_frames, 'frame')} is one "
                "stage-1 chunk (the init_* options set it)"
            )
            # by the arguments as given (steps=3), as the command line names its flags
            said = ", ".join(str(Arg(name, options[name])) for name in unused)
            one = len(unused) == 1
            logger.warning(
                "%s %s %s; %s not used", said, "sets" if one else "set", why, "it is" if one else "they are"
            )
        return chunks

    def __call__(self, prompt: str | PromptSchedule, num_frames: int, **kwargs: Any) -> torch.Tensor:
        """The whole video, ``(1, 3, num_frames, H, W)`` float32 in ``[-1, 1]`` on the CPU: the chunks of
        :meth:`stream`, joined (with ``resume=``, the frames from the resumed chunk on).

        The keyword arguments are :meth:`stream`'s (``help(pipe.stream)``): ``init_video``, ``init_image``,
        ``anchor_image`` (tensors), ``on_step``, ``resume``, and the sampling settings of :class:`StreamConfig`
        (``seed``, ``negative_prompt``, ``steps``, ``guidance``, ``init_steps``, ``init_guidance``, ...; those not
        given take the model's recommended values)."""
        video: torch.Tensor | None = None
        first = 0
        for chunk in self.stream(prompt, num_frames, **kwargs):
            if video is None:  # from the resumed chunk on, with resume=
                first = chunk.start
                shape = (1, 3, num_frames - first, *chunk.frames.shape[-2:])
                video = torch.empty(shape, dtype=chunk.frames.dtype)
            video[:, :, chunk.start - first : chunk.stop - first] = chunk.frames
        if video is None:  # resumed after its last chunk: no frames are left to make
            size = self.model.config.frame_size
            return torch.empty((1, 3, 0, size, size))
        return video


@dataclass(frozen=True)
class GenerateConfig:
    """Everything ``streamt2v generate`` needs, for :func:`generate`; stored as ``config.json`` in the run
    directory. Paths are str or os.PathLike (``~`` is the home folder); inputs are files, not tensors (a run
    reads them again when it resumes): ``pipe(...)`` takes tensors.

    - ``output``: the video (``.mp4 .gif .mov .mkv .webm .avi``), or a folder for PNG frames; ``png_dir``,
      ``gif``: the frames as PNGs, a GIF, besides; ``overwrite``: replace existing output files.
    - ``stream``: the :class:`StreamConfig` (``num_frames``, ``seed``, the sampling settings). Its settings left
      None take the model's recommended ones (a local folder's, read before it loads for the checks; a hub
      id's once it is loaded; a ``model=`` given to :func:`generate`, its ``sampler``), else the official
      release's, as in ``pipe(...)``; the values given are kept. ``config.json`` stores them all.
    - ``prompt``, or ``prompt_schedule``: an inline schedule (``"0: a cat walks; 120: the cat runs"``) or its
      file's path (read at the start, stored resolved).
    - ``model``: a model folder, hub id or preset (None: the shipped model); ``device`` (``"auto"``, ``"cpu"``,
      ``"cuda:1"``, a torch.device); ``dtype``: ``"fp32"``, ``"fp16"``, ``"bf16"`` (or ``"half"``,
      ``torch.bfloat16``, ...; the run records the name); ``compile``: a torch.compile backend (None: eager).
    - ``init_video`` (a video file or PNG folder: extend it), ``init_image`` (an image file: start from it),
      ``anchor`` (an image file: the APM anchor, default the first frame).
    - ``fps``: the outputs' frame rate (default: the model's); ``crf``: their quality (0 lossless to 51).
    - ``run_dir``: the run directory (default: a new folder under ``./runs/``), from which
      :func:`~streamt2v.pipeline.resume.resume_generate` continues the run.
    - Stage 3 (paper §4.3): ``enhance``, a dict of :class:`~streamt2v.pipeline.enhance_config.EnhanceConfig`'s
      fields (``{}``: its defaults), or None for stages 1-2 only; ``refiner``: a local refiner folder (None: the
      shipped one, for the model's frame size); ``random_refiner``: where the shipped refiner is not for the
      model's frame size and no folder is given, a random-weight one stands in (its output is noise; False
      refuses such a run). Without ``enhance`` both are ignored, with a warning.
    """

    output: str
    stream: StreamConfig
    prompt: str | None = None
    # inline schedule or a file path (read at start, stored resolved)
    prompt_schedule: str | os.PathLike | None = None
    model: str | os.PathLike | None = None
    device: str | torch.device = "auto"  # a torch.device is kept as its name, which config.json stores
    dtype: str | torch.dtype | None = "fp32"  # kept as its short name (None: fp32), which config.json stores
    fps: float | None = None
    init_video: str | os.PathLike | None = None
    init_image: str | os.PathLike | None = None
    anchor: str | os.PathLike | None = None
    png_dir: str | os.PathLike | None = None
    gif: str | os.PathLike | None = None
    run_dir: str | os.PathLike | None = None
    crf: int = 18
    overwrite: bool = False  # replace existing output files (a resume takes its own: resume_generate)
    # Stage 3 (paper §4.3): EnhanceConfig fields, or None for stages 1-2 only. With it, the low-resolution
    # video is kept as ``<output stem>.lowres<suffix>`` and ``output`` receives the enhanced video.
    enhance: dict[str, Any] | None = None
    # a local refiner folder; None: the shipped one, for the model's frame size
    refiner: str | os.PathLike | None = None
    # without a refiner folder, for a model whose frame size the shipped refiner is not for: a random-weight
    # refiner stands in (its output is noise); False refuses such a run before the model loads
    random_refiner: bool = False
    # torch.compile backend for the models this run loads (streamt2v.compiling), None: eager
    compile: str | None = None
    schedule_entries: tuple = field(default=(), compare=False)  # resolved schedule (filled by prepare)

    def __post_init__(self) -> None:
        if not isinstance(self.stream, StreamConfig):  # a dict failed only inside generate(), on an attribute
            raise TypeError(
                f"GenerateConfig's stream must be a StreamConfig, got {type(self.stream).__name__}: pass "
                "StreamConfig(num_frames=N, ...), or GenerateConfig.from_dict(...) for a saved config.json"
            )
        if not isinstance(self.random_refiner, bool):
            raise TypeError(f"random_refiner must be True or False, got {self.random_refiner!r}")
        if isinstance(self.device, torch.device):  # by its name, as config.json stores it
            object.__setattr__(self, "device", str(self.device))
        object.__setattr__(self, "dtype", dtype_field(self.dtype))
        # refused here, as the other fields are (a resume takes the crf its run's encoder used: run_config);
        # numpy's numbers as Python's, which config.json stores
        object.__setattr__(self, "crf", check_crf(self.crf))
        if is_number(self.fps):  # a bool is refused by its name as given (np.True_)
            object.__setattr__(self, "fps", plain_number(self.fps))
        if self.fps is not None:  # a number, its range checked with the outputs' kinds (preflight)
            number = fps_number(self.fps)
            # a tensor, a Decimal: no JSON, which config.json takes as the float checked
            if not isinstance(self.fps, (int, float)):
                object.__setattr__(self, "fps", number)
        if isinstance(self.enhance, dict):  # np.int64(3) failed as the run's config.json was written
            object.__setattr__(self, "enhance", {k: plain_number(v) for k, v in self.enhance.items()})
        for name in _NAMED_FILES:
            value = getattr(self, name)
            if isinstance(value, os.PathLike):  # as the run's config.json stores it (a Path is no JSON)
                value = os.fspath(value)
                object.__setattr__(self, name, value)
            if value is not None and not isinstance(value, str):
                raise TypeError(_not_a_path(name, value))

    def schedule(self) -> PromptSchedule:
        if self.schedule_entries:
            return PromptSchedule.from_json(list(self.schedule_entries))
        if self.prompt_schedule is not None:
            return load_schedule(self.prompt_schedule)
        if self.prompt is None:  # the command line refuses its PROMPT missing before this
            raise ArgumentValueError("give ", PROMPT_ARG, " or ", Arg("prompt_schedule"))
        return as_schedule(self.prompt)  # "0: a cat; 120: a dog" is a schedule, as in pipe(...)

    def to_dict(self) -> dict[str, Any]:
        from streamt2v.pipeline.enhance_config import stored_form

        d = asdict(self)
        d["schedule_entries"] = [list(e) for e in self.schedule_entries]
        if self.enhance is not None:  # by the earlier names, which every version reads (as read_stored)
            d["enhance"] = stored_form(self.enhance)
        # Written only where it refuses the stand-in from_dict would infer (stage 3 without a refiner folder):
        # the versions before it refuse the key, so the other runs stay resumable by them; elsewhere it is
        # the inferred True, or unused (no stage 3, or a refiner folder) and read back as False. Where it is
        # written, the run was checked to be at the shipped refiner's frame size, where True would run the
        # same refiner: it is kept (at the cost of the version before it) so that a resume by a version whose
        # shipped refiner is for another size refuses the run, as its start would, instead of finishing it
        # with a random-weight refiner (noise).
        if d["random_refiner"] or not _random_refiner_unstored(d):
            del d["random_refiner"]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> GenerateConfig:
        known = {f.name for f in fields(cls)}
        # The runs of one earlier version kept their model folder's fingerprint here, of another kind than the
        # one the manifest holds now (rundir.MODEL_FINGERPRINT): as runs that recorded none, they resume.
        unknown = sorted(set(d) - known - {"model_fingerprint"})
        if unknown:
            noun = "key" if len(unknown) == 1 else "keys"
            raise ValueError(f"unknown generate config {noun}: {', '.join(unknown)}")
        d = {k: v for k, v in d.items() if k in known}
        if "fps" in d:
            d["fps"] = stored_fps(d["fps"])
        if not isinstance(d.get("stream"), dict):
            raise ValueError(
                f"the generate config has no stream settings (an object), got {d.get('stream')!r}"
            )
        stream = dict(d["stream"])
        unknown = sorted(set(stream) - {f.name for f in fields(StreamConfig)})
        if unknown:
            noun = "setting" if len(unknown) == 1 else "settings"
            raise ValueError(f"unknown stream {noun} in the generate config: {', '.join(unknown)}")
        # Runs saved before stage 1 had its own η sampled it with stage 2's: resume them as they began.
        stream.setdefault("init_eta", stream.get("eta", OFFICIAL_SAMPLING["eta"]))
        # A setting added since the run was saved: it ran with the official value (a run stores them all).
        stream = {**OFFICIAL_SAMPLING, **stream}
        d.setdefault("random_refiner", _random_refiner_unstored(d))
        if isinstance(d.get("enhance"), dict):  # stage 3's settings as any version stored them
            from streamt2v.pipeline.enhance_config import read_stored

            d["enhance"] = read_stored(d["enhance"], "the generate config's enhance settings")
            if "fps" in d["enhance"]:
                d["enhance"]["fps"] = stored_fps(d["enhance"]["fps"])
        d["stream"] = StreamConfig(**stream)
        if "dtype" in d:  # named as the config's key, not as dtype= given
            d["dtype"] = stored_dtype(d["dtype"])
        d["schedule_entries"] = tuple(tuple(e) for e in d.get("schedule_entries", ()))
        if not d["schedule_entries"] and d.get("prompt") is None and d.get("prompt_schedule") is None:
            # a run stores its prompts resolved; no prompt= or prompt_schedule= would change it (as resumed)
            raise ValueError(
                "the generate config holds no prompt (prompt and prompt_schedule null, schedule_entries empty)"
            )
        return cls(**d)


# generate()'s on_start(cfg, num_chunks): the run's settings resolved and its number of chunks, before the first
StartCallback = Callable[[GenerateConfig, int], None]


def _random_refiner_unstored(d: dict[str, Any]) -> bool:
    """``random_refiner`` of a stored config ``d`` without the key. Runs saved before it took the
    random-weight stand-in, unasked, wherever stage 3 ran without a refiner folder and the shipped one was not
    for their size: resumed as they began. Elsewhere it is unused (False, the default)."""
    return d.get("enhance") is not None and d.get("refiner") is None


# GenerateConfig's fields that are paths of files or folders (the model and the refiner may be names too)
_PATHS = ("output", "png_dir", "gif", "init_video", "init_image", "anchor", "run_dir")
# Its fields that name a file, a folder or a model (a schedule's text, or its file): text (an os.PathLike is
# taken as its path)
_NAMED_FILES = (*_PATHS, "model", "refiner", "prompt_schedule")
# what pipe(...) takes as a tensor for each input file
_TENSOR_ARGUMENTS = {"init_video": "init_video", "init_image": "init_image", "anchor": "anchor_image"}


def _not_a_path(name: str, value: object) -> str:
    """The refusal of GenerateConfig's ``name=`` given ``value``, which is no path (a tensor: pipe's input)."""
    what = "a schedule ('0: a cat; 120: a dog') or its file's path" if name == "prompt_schedule" else "a path"
    said = f"GenerateConfig's {name}= takes {what} (a str or os.PathLike), got {type(value).__name__}"
    if name not in _TENSOR_ARGUMENTS:
        return said
    # a run stores its inputs' paths (a resume reads them again before its first chunk is finished)
    how = " (streamt2v.io.video.write_video(path, video, fps))" if name == "init_video" else ""
    tensor = _TENSOR_ARGUMENTS[name]
    return f"{said}: write it to a file first{how}, or pass the tensor to pipe(..., {tensor}=tensor)"


def _home_expanded(cfg: GenerateConfig) -> GenerateConfig:
    """``cfg`` with a leading ``~`` of its paths as the home folder, as the command line's flags take it
    (``output="~/g.mp4"`` wrote ``./~/g.mp4``); the model and the refiner are expanded by their loaders."""
    changes: dict[str, Any] = {}
    for name in _PATHS:  # a prompt_schedule file's name: load_schedule's
        value = getattr(cfg, name)
        if value and os.fspath(value).startswith("~"):
            changes[name] = os.path.expanduser(os.fspath(value))
    return replace(cfg, **changes) if changes else cfg


def _warn_of_stage3_settings(cfg: GenerateConfig) -> None:
    """Say that a run without stage 3 (``enhance`` None) does not use its refiner settings, as the command line
    says of its flags."""
    unused = [Arg("refiner")] if cfg.refiner is not None else []
    unused += [Arg("random_refiner", True)] if cfg.random_refiner else []
    if len(unused) == 1:
        logger.warning("%s only applies with stage 3 (%s); ignoring it", *unused, Arg("enhance"))
    elif unused:
        logger.warning("%s and %s only apply with stage 3 (%s); ignoring them", *unused, Arg("enhance"))


def _absolute(cfg: GenerateConfig) -> GenerateConfig:
    """``cfg`` with its local paths made absolute, so ``--resume`` from another folder finds them."""
    changes: dict[str, Any] = {}
    for name in _PATHS:
        value = getattr(cfg, name)
        if value:
            changes[name] = str(home_path(value).resolve())
    for name in ("model", "refiner"):
        value = getattr(cfg, name)
        if value and home_path(value).exists():
            changes[name] = str(home_path(value).resolve())
    return replace(cfg, **changes)


def _given(stream: StreamConfig) -> list[str]:
    """The settings of ``stream`` the caller gave (the rest are left None to the model)."""
    return [f.name for f in fields(StreamConfig) if getattr(stream, f.name) is not None]


def _planned(
    cfg: GenerateConfig,
    given: StreamConfig,
    inputs: RunInputs,
    recommended: dict[str, Any],
    timesteps: int,
) -> tuple[GenerateConfig, RunInputs]:
    """``cfg`` with the settings ``given`` leaves None set to the ``recommended`` ones (a model's, as
    :meth:`StreamConfig.resolved` sets them), and ``inputs`` with their chunk plan, its step counts checked on
    a noise schedule of ``timesteps``; a refusal of a value the model recommended says so."""
    try:
        cfg = replace(cfg, stream=given.resolved(recommended))
        inputs = inputs.planned(cfg.stream)
        check_step_counts(cfg.stream, inputs.plan, timesteps)  # stream() checks again
    except SettingError as err:
        raise SettingError(f"{err}{recommended_note(err, recommended, _given(given))}") from None
    return cfg, inputs


def generate(
    cfg: GenerateConfig,
    *,
    model: StreamingT2VModel | None = None,
    on_step: StepCallback | None = None,
    on_chunk: ChunkCallback | None = None,
    on_start: StartCallback | None = None,
    progress: bool = False,
) -> GenerateResult:
    """Run a new generation (see module docstring). ``model`` overrides ``cfg.model`` (already placed). The
    sampling settings ``cfg.stream`` leaves None take the model's recommended ones (:class:`GenerateConfig`).

    Every input, output path and the run directory are checked before any model is loaded (the chunk plan
    and step counts too, where the model's recommended settings are known before it loads: not a hub id's);
    an existing output file is replaced only with ``cfg.overwrite``. The outputs are stored as absolute paths
    in the run config, so ``--resume`` works from any folder. ``on_start(cfg, num_chunks)`` is called once
    the run is planned, with its settings resolved (``cfg.stream``) and its number of chunks: before the model
    loads where its recommendation is known before (after, for a hub id; again should the loaded model
    recommend other settings than its folder did), and before the checks that need the model.
    ``progress=True``: stage 3's progress bars (none unasked, as for every library call; stages 1–2 report
    through ``on_step``/``on_chunk``)."""
    schedule = check_inputs(cfg, model=model)  # its paths named as given (~/x), expanded at use
    as_given, cfg = cfg, _home_expanded(cfg)
    if cfg.enhance is None:
        _warn_of_stage3_settings(cfg)
    given, given_model = cfg.stream, model
    # What the model recommends, where it is known before loading (a hub id's is read once it is loaded)
    recommended = sampler_before_loading(cfg.model) if model is None else model.sampler
    cfg = replace(cfg, schedule_entries=tuple(schedule.entries))
    inputs = read_run_inputs(cfg, plan=False)
    if recommended is not None:  # planned and checked before loading the model
        timesteps = (
            schedule_length(cfg.model)
            if model is None
            else int(model.scheduler_config.get("num_train_timesteps", 1000))
        )
        cfg, inputs = _planned(cfg, given, inputs, recommended, timesteps)
        if on_start is not None:  # told now: a check after this may refuse the run
            on_start(cfg, len(inputs.plan))
    # named as given (~/run), as the outputs it is checked against are
    typed_run_dir = as_given.run_dir or default_run_dir(schedule.entries[0][1])
    run_path = RunDir.check_new(typed_run_dir)
    check_run_dir_apart(as_given, typed_run_dir, chosen=bool(cfg.run_dir))
    if model is None:
        model = load_compiled(cfg)
        if model.sampler != recommended:  # a hub id's (or a folder changed meanwhile): the model's own
            timesteps = int(model.scheduler_config.get("num_train_timesteps", 1000))
            cfg, inputs = _planned(cfg, given, inputs, model.sampler, timesteps)
            if on_start is not None:
                on_start(cfg, len(inputs.plan))
    plan, anchor = inputs.plan, inputs.anchor
    assert plan is not None  # planned above, before or after loading
    if anchor is not None and not inputs.streams:
        logger.warning(
            "%s is not used: the APM anchor conditions streaming chunks only, and %s need none",
            Arg("anchor"),  # GenerateConfig's anchor=; --anchor on the command line (logs_naming_flags)
            counted(cfg.stream.num_frames, "frame"),
        )
        anchor = None  # named here as the caller gave it; stream() would name it again
    check_default_refiner_for(cfg, model)
    if inputs.init_fps is not None and cfg.fps is None:
        gif = any(output_kind(path) == "gif" for _, path in output_targets(cfg))
        warn_rate_change(
            as_given.init_video, inputs.init_fps, float(model.fps), inputs.prefix_frames, gif=gif
        )
    # Checks that need the model (conditioning frames, frame sizes) raise here, before the run directory.
    try:
        chunks = stream(
            model,
            schedule,
            cfg.stream,
            init_video=inputs.init_video,
            init_image=inputs.init_image,
            anchor_image=anchor,
            on_step=on_step,
        )
    except SettingError as err:  # a constraint from a setting the caller never gave is named as such
        raise SettingError(f"{err}{recommended_note(err, model.sampler, _given(given))}") from None
    if not cfg.run_dir:  # the default name: taken now, atomically (another run may have chosen it too)
        run_path = reserve_run_dir(run_path)
    cfg = _absolute(replace(cfg, run_dir=str(run_path)))
    run_path = Path(cfg.run_dir)  # absolute, as the outputs: the result and the messages name it so
    folder = local_model_folder(cfg.model) if given_model is None else None  # a model given may be any
    run = RunDir.create(
        run_path,
        cfg.to_dict(),
        num_chunks=len(plan),
        # what is there now is the run's to replace (the checks above let it be there): its resume takes it
        outputs=[path for _, path, _ in replaced(cfg)],
        model_fingerprint=None if folder is None else model_fingerprint(folder),
    )
    logger.info(
        "run directory %s (%s); continue an interrupted run with: %s",
        run_path,
        counted(len(plan), "chunk"),
        how_to_resume(run_path),  # resume_generate(...) to a Python caller, the command on the command line
    )
    return consume(cfg, run, model, chunks, 0, on_chunk, new_run=True, progress=progress)
