"""``streamt2v enhance``: stage 3, randomized-blending enhancement of a video file (paper §4.3)."""

from __future__ import annotations

import argparse
import os
import shlex
from contextlib import AbstractContextManager
from pathlib import Path

from streamt2v.arguments import NAME_ONLY, Arg, logs_with_args, naming_arguments
from streamt2v.cli import chosen_device, library_bars_off_if_quiet
from streamt2v.cli.flag_types import frame_rate, integer_at_least, number_in, typed_path, user_path
from streamt2v.cli.launched import refuse_a_launch
from streamt2v.config import DTYPE_NAMES
from streamt2v.pipeline.setting_checks import SEED_LIMIT
from streamt2v.wording import counted

# The flag of each EnhanceConfig setting that has one: messages name the settings by these (by its field
# names, as Python and ``generate --enhance`` give them, they would be another command's: --enhance-steps).
FLAGS = {
    "chunk_frames": "--chunk-frames",
    "overlap": "--overlap",
    "mode": "--mode",
    "blend": "--blend",
    "start_step": "--start-step",
    "steps": "--steps",
    "scheduler": "--scheduler",
    "guidance": "--guidance-scale",
    "guidance_rescale": "--guidance-rescale",
    "negative_prompt": "--negative-prompt",
    "max_batch_chunks": "--max-batch-chunks",
    "resolution": "--resolution",
    "pad_to_aspect": "--pad-to-aspect",
    "fps": "--fps",
}


def _size(text: str) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HxW such as 720x1280, got {text!r}") from None
    return h, w


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "enhance",
        help="upscale and refine a (long) video with randomized blending (stage 3)",
        description="SDEdit a low-resolution video with a high-resolution video model over overlapping "
        "chunks that share noise, merged every step by randomized blending (paper §4.3). Settings left "
        "unset take the refiner folder's recommended ones (the shipped refiner: one DDIM step from t'=1, no "
        "CFG), else the official defaults named below.",
    )
    p.add_argument("input", type=user_path, help="input video file (mp4, gif, ... or a folder of PNG frames)")
    p.add_argument(
        "--prompt",
        required=True,
        help="text prompt for the refiner, or an inline schedule such as '0: a cat; 48: a dog' (each chunk is "
        "refined with the prompt at its middle frame; an entry no chunk uses is warned about)",
    )
    p.add_argument(
        "-o",
        "--output",
        "--out",  # train's and evaluate's name (an abbreviation of --output until now)
        type=user_path,
        required=True,
        help="output .mp4, .gif, .mov, .mkv, .webm or .avi, or a folder for PNG frames (written atomically; "
        "see --overwrite)",
    )
    p.add_argument(
        "--model",
        type=typed_path,  # ~ expanded where it is read: refusals name it as typed (check_refiner_folder)
        default=None,
        help="diffusers-format refiner folder (unet/ vae/ text_encoder/ tokenizer/ scheduler/), or "
        "'microworld' for the shipped one; default: the shipped microworld refiner, for 32x32 inputs (it "
        "makes 64x64); other sizes need a refiner folder, or --random-refiner",
    )
    p.add_argument(
        "--random-refiner",
        action="store_true",
        help="without --model, for an input the shipped refiner is not for: a tiny random-weight refiner at "
        "twice its size (even sides up to 256) stands in; it shows the pipeline working, its output is noise",
    )
    # Unset sampling options take the refiner's recommended settings, else the official defaults.
    p.add_argument(
        "--negative-prompt", help="the unconditional branch of classifier-free guidance (default: empty)"
    )
    p.add_argument("--steps", type=integer_at_least(1), help="denoising steps (official default 30)")
    p.add_argument(
        "--start-step", type=integer_at_least(1), help="SDEdit start t' of 1000 (official default 600)"
    )
    p.add_argument("--chunk-frames", type=integer_at_least(1), help="frames per chunk F (default 24)")
    p.add_argument("--overlap", type=integer_at_least(0), help="overlap O between chunks (default 8)")
    p.add_argument("--mode", choices=["independent", "shared-noise", "randomized"], help="default randomized")
    p.add_argument(
        "--blend",
        choices=["latents", "x0"],
        help="blend x_{t-1} after each step (paper, default) or x0 predictions (official code)",
    )
    p.add_argument("--scheduler", help="official default dpmpp-2m-sde")
    p.add_argument(
        "--guidance-scale",
        "--guidance",
        type=number_in(1),
        help="official default 7.5 (--guidance: generate's name)",
    )
    p.add_argument("--guidance-rescale", type=number_in(0, 1), help="default 0")
    p.add_argument(
        "--max-batch-chunks", type=integer_at_least(1), help="chunks per UNet call (memory cap, default 8)"
    )
    p.add_argument("--resolution", type=_size, default=None, help="canvas HxW (default: the refiner's)")
    p.add_argument(
        "--pad-to-aspect",
        action="store_true",
        default=None,
        help="fit frames inside the canvas, pad with black, crop back at the end",
    )
    p.add_argument(
        "--max-frames",
        "--frames",  # generate's names for the output's length
        "-n",
        type=integer_at_least(1),
        default=None,
        help="enhance the first N frames of the input (all when it has fewer; default: all)",
    )
    p.add_argument("--fps", type=frame_rate, default=None, help="output fps (default: the input's)")
    p.add_argument(
        "--seed",
        type=integer_at_least(0, SEED_LIMIT),
        default=0,
        help="random seed, 0 to 2**64 - 1 (default 0)",
    )
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps (default auto)")
    p.add_argument("--cpu", action="store_true", help="--device cpu (train's name)")
    p.add_argument("--dtype", default="fp32", choices=DTYPE_NAMES, help="compute dtype (default fp32)")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing output file (or a folder holding only an earlier output's frames)",
    )
    p.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress bars (the default when stderr is not a terminal)",
    )
    p.lacks(
        "--resume",
        "enhance has no --resume: a stopped enhance continues after its last finished step when the same "
        "command is run again (the same input, prompt, settings and -o: its state is kept beside the output, "
        "in .NAME.stage3.pt); generate --resume DIR continues a generate run, stage 3 included",
    )
    # run switches the libraries' bars; the parser reads which flag was typed by which name (flag_spellings)
    p.set_defaults(func=run, parser=p, own_library_bars=True)
    return p


def _check_not_the_input(source: Path, output: Path) -> None:
    """Refuse an output that would replace the input video (or a folder of PNG frames holding it), even with
    --overwrite: the low-resolution original would be lost, and with it the way to enhance it again."""
    src, out = source.resolve(), output.resolve()
    if src == out or out in src.parents:
        raise ValueError(
            f"-o {str(output)!r} would replace the input {str(source)!r}; write the enhanced video elsewhere"
        )


def _flags_without_effect(given: dict, config) -> list[str]:
    """Warnings for the flags typed (``given``: EnhanceConfig fields) that the settings as they will run
    (``config``) leave without effect: the negative prompt and the guidance rescale need CFG (a guidance
    scale other than 1; the shipped refiner recommends 1), the blend target the randomized mode."""
    warnings = []
    # a value that changes nothing even with CFG (an empty negative prompt, rescale 0) is not worth a warning
    cfg = [FLAGS[k] for k in ("negative_prompt", "guidance_rescale") if given.get(k) not in (None, "", 0)]
    if config.guidance == 1 and cfg:
        they, them = ("they act", "them") if len(cfg) > 1 else ("it acts", "it")
        scale = "--guidance-scale 1" + ("" if "guidance" in given else " (the refiner's recommendation)")
        warnings.append(
            f"ignoring {' and '.join(cfg)}: {they} only with classifier-free guidance, which {scale} turns "
            f"off; set --guidance-scale to another value (7.5 is the official one) to use {them}"
        )
    if "blend" in given and config.mode != "randomized":
        warnings.append(
            f"ignoring --blend: it acts only with --mode randomized, and this run's is {config.mode}"
        )
    return warnings


def run(args: argparse.Namespace) -> int:
    # stage 3 is not split between a launch's processes: refused rather than run whole by each
    refuse_a_launch(
        "enhance",
        "each process would enhance the whole video and write the same -o; run it without the launcher, "
        "choosing its GPU with --device cuda:N",
    )
    from streamt2v.arguments import logs_naming_flags
    from streamt2v.cli.flag_spellings import aliases_typed, spellings
    from streamt2v.cli.setting_flags import as_flags
    from streamt2v.pipeline.prompts import names_a_file
    from streamt2v.pipeline.setting_checks import EnhanceSettingError

    # checked before the imports of seconds
    if not args.prompt.strip():
        raise ValueError(f"--prompt must be a non-empty text, got {args.prompt!r}")
    if names_a_file(args.prompt):  # a schedule file's name: the library would take it as the prompt's text
        raise ValueError(
            f"--prompt {args.prompt!r} is a file, not a prompt: give the prompt's text, or a prompt schedule "
            f'inline (--prompt "$(cat {shlex.quote(args.prompt)})" for a file of FRAME: prompt lines)'
        )
    argv = args.argv[args.argv.index("enhance") + 1 :]
    if args.output == "-":  # the usual "standard output": it made a folder of PNG frames named '-'
        raise ValueError(
            f"{spellings(args.parser, argv).get('output', '-o')} -: enhance writes a file or a folder, not "
            "standard output; give a path such as out.mp4 (or ./- "
            "for a folder named '-')"
        )
    try:
        # stage 3's warnings name the arguments they advise (pad_to_aspect=True) as this command's flags; model
        # loading's bars are off into a log (the libraries imported for it after the checks above)
        with (
            logs_naming_flags("streamt2v.pipeline.enhance", "streamt2v.pipeline.enhance_canvas"),
            library_bars_off_if_quiet(args),
        ):
            return _run(args)
    except EnhanceSettingError as err:  # named by this command's flags, not EnhanceConfig's fields
        # each by the name typed (--guidance for --guidance-scale), as generate names its flags
        typed = aliases_typed(args.parser, argv)
        flags = {name: typed.get(flag, flag) for name, flag in FLAGS.items()}
        raise ValueError(as_flags(err.message, flags) + err.note(flags)) from None


def logs_advising_enhance(output: str | os.PathLike) -> AbstractContextManager:
    """While within, stage 3's warnings on ``generate --enhance``'s command line advise a setting generate has
    no flag for (``pad_to_aspect``, ``resolution``) as this command's flag, passed to it on the low-resolution
    video of the run writing ``output``: ``pass --pad-to-aspect to `streamt2v enhance` on the low-resolution
    video out.lowres.mp4``. A setting named without a value (one a Python caller gave the run) keeps its
    name."""

    def advise(arg: object) -> object:
        if not isinstance(arg, Arg):
            return arg
        if arg.value is NAME_ONLY:
            return str(arg)
        # the path made here, at a warning: an -o generate refuses (-o .) has none, and is refused first
        from streamt2v.pipeline.preflight import lowres_path

        return f"{arg.flag} to `streamt2v enhance` on the low-resolution video {lowres_path(output)}"

    return logs_with_args(advise, "streamt2v.pipeline.enhance", "streamt2v.pipeline.enhance_canvas")


def _run(args: argparse.Namespace) -> int:
    import sys

    import torch

    from streamt2v.io.frame_rates import check_gif_fps
    from streamt2v.io.output_paths import check_output_path, output_kind, outputs_locked
    from streamt2v.io.video import read_video
    from streamt2v.memory import resolve_device, resolve_dtype
    from streamt2v.pipeline.default_refiner import (
        STAND_IN_ARG,
        check_default_refiner,
        check_shipped_refiner_fits,
        load_refiner,
        names_shipped_refiner,
    )
    from streamt2v.pipeline.enhance_output import enhance_to_files
    from streamt2v.pipeline.enhance_state import remove_stale_state_temporaries, remove_state_file
    from streamt2v.pipeline.refiner import checked_config

    given = {
        "chunk_frames": args.chunk_frames,
        "overlap": args.overlap,
        "mode": args.mode,
        "blend": args.blend,
        "start_step": args.start_step,
        "steps": args.steps,
        "scheduler": args.scheduler,
        "guidance": args.guidance_scale,
        "guidance_rescale": args.guidance_rescale,
        "negative_prompt": args.negative_prompt,
        "max_batch_chunks": args.max_batch_chunks,
        "resolution": args.resolution,
        "pad_to_aspect": args.pad_to_aspect,
        "fps": args.fps,
    }
    given = {k: v for k, v in given.items() if v is not None}
    # Bad values fail before anything is read or loaded: the settings as they will run (over the refiner's
    # recommended ones), against the refiner folder's noise schedule.
    device = resolve_device(chosen_device(args))
    dtype = resolve_dtype(args.dtype, device)  # fp16 on a CPU refused before the video is read
    if args.model is not None:
        if args.random_refiner:
            raise ValueError("--random-refiner stands in for a refiner folder: give either it or --model")
        if names_shipped_refiner(args.model):  # for one input size: checked on the first frame
            size = tuple(read_video(args.input, max_frames=1)[0].shape[-2:])
            check_shipped_refiner_fits(
                args.model, size, subject=f"input frames are {size[1]}x{size[0]}", folder_arg=Arg("model")
            )
        with naming_arguments("model") as (model,):  # its refusals name --model, as generate's do
            settings = checked_config(given, args.model, what=model)
    check_output_path(args.output, overwrite=args.overwrite)
    _check_not_the_input(Path(args.input), Path(args.output))
    if args.model is None:  # from the first frame: a size no default refiner is for fails before the read
        size = tuple(read_video(args.input, max_frames=1)[0].shape[-2:])
        folder = check_default_refiner(
            size, stand_in=args.random_refiner, folder_arg=Arg("model", "DIR"), stand_in_arg=STAND_IN_ARG
        )
        if args.random_refiner and folder is not None:  # the shipped refiner runs: the flag changes nothing
            print(
                "warning: ignoring --random-refiner: the shipped refiner is for this "
                f"{size[1]}x{size[0]} input",
                file=sys.stderr,
            )
        settings = checked_config(given, folder)
    for warning in _flags_without_effect(given, settings):  # before the work, as generate's are
        print(f"warning: {warning}", file=sys.stderr)
    # the output is written at the input's average rate
    video, fps = read_video(args.input, max_frames=args.max_frames, warn_variable_rate=True)
    if output_kind(Path(args.output)) == "gif":  # before the work, not when its result is written
        check_gif_fps(settings.fps or fps, "--fps" if settings.fps else "the input's frame rate")
    refiner = load_refiner(args.model, tuple(video.shape[-2:]), device=device, dtype=dtype)
    config = refiner.config(**given)  # = settings: the folder's recommendation is the loaded refiner's
    # The output is taken for this process until it is written: a second enhance to it is refused now, not
    # after its own hours, and the state kept beside it (the same command continues a stopped run) has one
    # writer, whose killed predecessors' temporaries can go.
    with outputs_locked([args.output]) as (lock,):
        state = Path(args.output).with_name(f".{Path(args.output).name}.stage3.pt")
        remove_stale_state_temporaries(state)
        try:  # written as it is decoded, a slice at a time (the whole video is never held)
            (writer,) = enhance_to_files(
                video,
                args.prompt,
                refiner,
                config,
                [args.output],
                config.fps or fps,
                locks=[lock],
                overwrite=args.overwrite,
                generator=torch.Generator().manual_seed(args.seed),
                progress=not args.no_progress,
                state_file=state,
            )
        except KeyboardInterrupt:
            if state.is_file():
                print(
                    f"stage 3 stopped; its last finished step is kept in {state}: the same command "
                    "continues from there",
                    file=sys.stderr,
                )
            raise
        remove_state_file(state)
    n, (h, w) = writer.num_frames, writer.frame_size
    frames = counted(n, "frame")  # a still image enhanced: "1 frame"
    # generate's form: the path ends the line (README, "Command line")
    print(f"wrote {frames} of {w}x{h} (width x height) to {writer.path.resolve()}")
    return 0
