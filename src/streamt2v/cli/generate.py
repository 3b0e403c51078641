"""``streamt2v generate``: text (or an image / a video) → long video, with progress, preview and resume."""

from __future__ import annotations

import argparse
import sys

from streamt2v.arguments import logs_naming_flags
from streamt2v.cli import chosen_device, library_bars_off_if_quiet
from streamt2v.cli.flag_spellings import aliases_typed, spellings
from streamt2v.cli.flag_types import compile_backend_name, frame_rate, integer_at_least, number_in, typed_path
from streamt2v.cli.generate_prompt import check_prompt, prompt_text, schedule_file_or_text
from streamt2v.cli.launched import refuse_a_launch
from streamt2v.cli.setting_flags import ENHANCE_FLAGS, as_flags, typed_flags
from streamt2v.config import DTYPE_NAMES
from streamt2v.pipeline.setting_checks import SEED_LIMIT

# The type of --eta and --init-eta: DDIM's η, whose variance is NaN above 1 (StreamConfig's range).
_eta = number_in(0, 1, note="(0 = deterministic DDIM)")

# Flags --resume does not ignore (the rest come from the run's config.json).
_RESUME_FLAGS = {"resume", "no_progress", "overwrite", "func", "parser", "command", "verbose", "argv"}
# Flags --resume takes to continue on another device or in another precision, or with the run's model folder
# moved (resume_generate).
_CHANGED_ON_RESUME = ("device", "dtype", "compile", "model")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "generate",
        help="generate a long video from text (stages 1-2)",
        description="Generate a long video chunk by chunk (StreamingT2V stages 1-2), 16-frame chunks "
        "conditioned on 8 frames. Unset sampling options take the model folder's recommended settings "
        "(model_index.json; the shipped microworld model has its own, README), else the official release's: "
        "stage 1 DPM-Solver++ 50 steps, guidance 9; stage 2 DDIM 50 steps, eta 1, guidance 7.5.",
    )
    p.add_argument("prompt", nargs="?", help="the text prompt (or use --prompt-schedule)")
    p.add_argument(
        "--prompt",
        dest="prompt_option",
        type=prompt_text,
        metavar="PROMPT",
        help="the prompt as enhance takes it, instead of PROMPT; a file's name: as --prompt-schedule FILE",
    )
    p.add_argument(
        "--frames",
        "-n",
        "--num-frames",  # the Python API's and diffusers' name (num_frames)
        type=integer_at_least(1),
        default=80,
        help="number of output frames (default 80)",
    )
    p.add_argument(
        "--seed",
        type=integer_at_least(0, SEED_LIMIT),
        default=33,
        help="random seed, 0 to 2**64 - 1 (default 33)",
    )
    p.add_argument(
        "-o",
        "--output",
        "--out",  # train's and evaluate's name (an abbreviation of --output until now)
        type=typed_path,
        default="output.mp4",
        help="output .mp4 .gif .mov .mkv .webm .avi, or a folder for PNG frames (default output.mp4)",
    )
    p.add_argument(
        "--model",
        type=typed_path,
        help="model folder, hub id or preset (default: the shipped microworld model, also named by microworld)",
    )
    p.add_argument("--negative-prompt", default="", help="negative prompt for both stages")
    # Unset sampling options take the model's recommended settings (model_index.json "sampler"), else
    # the official defaults.
    p.add_argument(
        "--steps", type=integer_at_least(1), help="stage-2 denoising steps (default: the model's, else 50)"
    )
    p.add_argument(
        "--guidance",
        "--guidance-scale",  # enhance's and diffusers' name
        type=number_in(0),
        help="stage-2 guidance scale (default: the model's, else 7.5)",
    )
    p.add_argument(
        "--guidance-rescale",
        type=number_in(0, 1, note="(0 = off)"),
        help="stage-2 guidance rescale in [0, 1] (Lin et al. 2023; default: the model's, else 0 = off)",
    )
    p.add_argument("--eta", type=_eta, help="stage-2 DDIM eta in [0, 1] (default: the model's, else 1.0)")
    p.add_argument(
        "--init-eta",
        type=_eta,
        help="stage-1 DDIM eta in [0, 1], for --init-scheduler ddim (default: the model's, else 0)",
    )
    p.add_argument("--scheduler", help="stage-2 scheduler (default: the model's, else ddim)")
    p.add_argument(
        "--init-steps",
        type=integer_at_least(1),
        help="stage-1 denoising steps (default: the model's, else 50)",
    )
    p.add_argument(
        "--init-guidance", type=number_in(0), help="stage-1 guidance scale (default: the model's, else 9.0)"
    )
    p.add_argument(
        "--init-guidance-rescale",
        type=number_in(0, 1, note="(0 = off)"),
        help="stage-1 guidance rescale in [0, 1] (default: the model's, else 0 = off)",
    )
    p.add_argument("--init-scheduler", help="stage-1 scheduler (default: the model's, else dpm-multistep)")
    p.add_argument(
        "--noise-correlation",
        type=number_in(0, 1, below=True),
        help="stage-2 initial-noise correlation across a chunk's frames, in [0, 1) (default: the model's, else 0)",
    )
    p.add_argument(
        "--init-noise-correlation",
        type=number_in(0, 1, below=True),
        help="stage-1 initial-noise correlation across frames, in [0, 1) (default: the model's, else 0)",
    )
    p.add_argument(
        "--chunk-frames", type=integer_at_least(2), help="frames per chunk F (default: the model's, else 16)"
    )
    p.add_argument(
        "--cond-frames",
        type=integer_at_least(1),
        help="CAM conditioning frames F_cond (default: the model's, else 8)",
    )
    p.add_argument("--fps", type=frame_rate, help="output frame rate (default: the model's)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps (default auto)")
    p.add_argument("--cpu", action="store_true", help="--device cpu (train's name)")
    p.add_argument("--dtype", default="fp32", choices=DTYPE_NAMES, help="compute dtype (default fp32)")
    p.add_argument(
        "--run-dir", type=typed_path, help="run directory for resume (default: a new folder under ./runs/)"
    )
    p.add_argument(
        "--resume",
        type=typed_path,  # as typed: RunDir.open expands ~ and names both forms
        metavar="DIR",
        help="continue an interrupted run with its stored settings; --device (--cpu), --dtype and "
        "--compile/--no-compile may change them (e.g. bf16 after a float16 overflow), --model gives the new "
        "place of the run's model folder (moved, same weights) or names the run's own model, other options "
        "are ignored with a warning",
    )
    p.add_argument(
        "--prompt-schedule",
        type=schedule_file_or_text,
        metavar="FILE|INLINE",
        help="prompts over time, e.g. '0: a cat walks; 120: the cat runs'",
    )
    p.add_argument(
        "--init-video",
        type=typed_path,
        metavar="VIDEO",
        help="extend this video (its last frames condition the CAM)",
    )
    p.add_argument(
        "--init-image", type=typed_path, metavar="IMAGE", help="start from this image (first frame, anchor)"
    )
    p.add_argument(
        "--anchor", type=typed_path, metavar="IMAGE", help="APM anchor image (default: the first frame)"
    )
    p.add_argument(
        "--reanchor",
        action=argparse.BooleanOptionalAction,
        default=None,  # unset: the model's, else off
        help="re-anchor the APM when the scheduled prompt changes (default: the model's, else off)",
    )
    p.add_argument(
        "--cond-replacement",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="stage 2: hold each chunk's first F_cond latents at the noised latents of the conditioning "
        "frames (Ho et al. 2022's replacement method, on top of the CAM; default: the model's, else off)",
    )
    p.add_argument(
        "--anchor-colour-match",
        type=number_in(0, 1, note="(0 = off)"),
        metavar="S",
        help="stage 2: blend each new chunk under the anchor's prompt towards its colours histogram-matched "
        "to the anchor frame, "
        "in [0, 1] (0 = off, 1 = fully matched; default: the model's, else 0)",
    )
    p.add_argument(
        "--chunk-strength",
        type=number_in(0, 1, above=True, note="(1 = pure noise)"),
        metavar="S",
        help="stage 2: SDEdit strength of each chunk's start, in (0, 1]; below 1 the chunk starts from its "
        "conditioning frames (the new frames from the last one) noised that far instead of pure noise: "
        "objects and colours carry over, motion slows (default: the model's, else 1)",
    )
    p.add_argument(
        "--enhance",
        action=argparse.BooleanOptionalAction,  # --no-enhance: the default, which a user may type to be sure
        default=None,  # unset is off; None, as Python 3.10 appends "(default: False)" to the help otherwise
        help="run stage 3 (randomized-blending enhancement) on the result; the stage-2 video is kept "
        "as OUTPUT_STEM.lowres.SUFFIX (out.mp4: out.lowres.mp4; a PNG folder OUTPUT: OUTPUT-lowres)",
    )
    p.add_argument(
        "--refiner",
        type=typed_path,
        help="stage-3 refiner folder, local, or 'microworld' for the shipped one (default: the shipped "
        "refiner, for a model making 32x32 frames; other sizes need a refiner folder, or --random-refiner)",
    )
    p.add_argument(
        "--random-refiner",
        action="store_true",
        help="without --refiner, for a model whose frame size the shipped refiner is not for: a tiny "
        "random-weight refiner at twice its size (up to 256) stands in; it shows the pipeline working, its "
        "output is noise",
    )
    p.add_argument(
        "--enhance-steps",
        type=integer_at_least(1),
        help="stage-3 denoising steps (default: the refiner's, else 30)",
    )
    p.add_argument(
        "--enhance-start-step",
        type=integer_at_least(1),
        help="stage-3 SDEdit start t' (default: the refiner's, else 600)",
    )
    p.add_argument(
        "--enhance-chunk-frames",
        type=integer_at_least(1),
        help="stage-3 chunk frames (default: the refiner's, else 24)",
    )
    p.add_argument(
        "--enhance-overlap",
        type=integer_at_least(0),
        help="stage-3 chunk overlap (default: the refiner's, else 8)",
    )
    p.add_argument("--png-dir", type=typed_path, help="also write the frames as PNGs into this folder")
    p.add_argument("--gif", type=typed_path, help="also write a GIF")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace existing output files (and PNG folders holding only frames of an earlier output)",
    )
    p.add_argument(
        "--compile",
        nargs="?",
        const="inductor",
        type=compile_backend_name,
        metavar="BACKEND",
        help="torch.compile the UNets and VAE (backend default inductor; on the CPU it needs a C++ "
        "compiler): a one-off compile in the first steps, then faster steps (docs/generate.md); with --resume "
        "it changes the run's setting",
    )
    p.add_argument(
        "--no-compile",
        dest="compile",
        action="store_const",
        const=False,
        help="with --resume: continue a compiled run without torch.compile (the default of a new run)",
    )
    p.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress bars (the default when stderr is not a terminal)",
    )
    # the parser: its defaults tell which flags --resume ignores; the libraries' bars: run switches them
    p.set_defaults(func=run, parser=p, own_library_bars=True)


def _sampling_flags_unused(cfg, given: list[str]) -> str | None:
    """What is wrong with the sampling flags typed (``given``: their dests) for a stage the run does not have,
    or None: ``--steps`` on a video of one chunk (stage 1 alone, set by ``--init-steps``), ``--init-steps`` on
    one continuing an image or a video (no stage 1); ``pipe(...)`` warns of the same options."""
    from streamt2v.pipeline.sampling_stages import sampling_without_stage
    from streamt2v.wording import counted

    unused, stage = sampling_without_stage(given, cfg.stream, bool(cfg.init_video or cfg.init_image))
    if not unused:
        return None
    sets, them = ("sets", "it") if len(unused) == 1 else ("set", "them")
    if stage == 1:
        why = f"stage 1, which {'--init-video' if cfg.init_video else '--init-image'} takes the place of"
    else:
        why = (
            f"the streaming chunks (stage 2), and a video of {counted(cfg.stream.num_frames, 'frame')} is "
            "one stage-1 chunk (the --init-* flags set it)"
        )
    return f"{', '.join('--' + k.replace('_', '-') for k in unused)} {sets} {why}; ignoring {them}"


def _typed_with_resume(args: argparse.Namespace) -> dict[str, object]:
    """The settings typed with --resume and their values, whatever those are (:func:`typed_flags`): a value
    compared with the default would hide ``--frames 80`` (the default) typed to change a 40-frame run."""
    return {dest: value for dest, value in typed_flags(args, "generate").items() if dest not in _RESUME_FLAGS}


def _refuse_standard_output(args: argparse.Namespace) -> None:
    """Refuse "-", a command's usual name for standard output, as ``-o``, ``--png-dir``, ``--gif`` or
    ``--run-dir`` (a folder named '-' was written; a video is written to a file, which its preview and final
    rename need): in one line, as enhance says it, by the flag as typed (``--out -``), before the imports of
    seconds."""
    typed = spellings(args.parser, args.argv[args.argv.index("generate") + 1 :])
    for dest, flag, example in (
        ("output", "-o", "out.mp4"),
        ("png_dir", "--png-dir", "frames"),
        ("gif", "--gif", "out.gif"),
        ("run_dir", "--run-dir", "runs/r1"),
    ):
        if getattr(args, dest) == "-":
            folder = "" if dest == "gif" else " (or ./- for a folder named '-')"
            raise ValueError(
                f"{typed.get(dest, flag)} -: generate writes files, not standard output; give a path such as "
                f"{example}{folder}"
            )


def run(args: argparse.Namespace) -> int:
    # a run is not split between a launch's processes: refused rather than made whole by each
    refuse_a_launch(
        "generate",
        "each process would make the whole video and write the same files; run it without the launcher, "
        "choosing its GPU with --device cuda:N",
    )
    if not args.resume:  # a resume writes where the run began: -o - is ignored with the other flags typed
        _refuse_standard_output(args)
        check_prompt(args)
    # model loading's bars off into a log: the libraries imported for it after the checks that need none
    with library_bars_off_if_quiet(args):
        return _generate(args)


def _generate(args: argparse.Namespace) -> int:
    from streamt2v.cli.enhance import logs_advising_enhance
    from streamt2v.cli.generate_progress import StepBar
    from streamt2v.pipeline.generate import GenerateConfig, StoppedWhenComplete, generate
    from streamt2v.pipeline.resume import resume_generate, run_config
    from streamt2v.pipeline.sampling_stages import STAGE1_SAMPLING, STAGE2_SAMPLING
    from streamt2v.pipeline.setting_checks import EnhanceSettingError, SettingError
    from streamt2v.pipeline.step_counts import recommended_note
    from streamt2v.pipeline.stream import StreamConfig
    from streamt2v.pipeline.stream_config import OFFICIAL_SAMPLING
    from streamt2v.wording import counted

    bar = StepBar(shown=not args.no_progress)
    generate_argv = args.argv[args.argv.index("generate") + 1 :]

    def flags_error(err: SettingError) -> ValueError:
        """A refusal as the command line says it: its flags (a value the user did not type, the model's or
        the refiner's recommendation, stage 3's official default, is named so by the library). Stage 3's
        settings are named by its own flags (ENHANCE_FLAGS: chunk_frames is --enhance-chunk-frames there)."""
        if isinstance(err, EnhanceSettingError):  # --resume: the run's settings, no flag changes them
            from streamt2v.pipeline.preflight import lowres_path

            note = err.note(ENHANCE_FLAGS, settable=not args.resume)
            # a stage-3 setting generate has no flag for: enhance's, on the stage-2 video kept
            lowres = lowres_path(cfg.output)
            flags = {**ENHANCE_FLAGS, "resolution": f"--resolution HxW (of streamt2v enhance on {lowres})"}
            return ValueError(as_flags(err.message, flags) + note)
        # --frames left out is argparse's default, which the library cannot tell from one typed: named so
        # (not on --resume: the run's own frame count is refused, and it records none as typed)
        frames = {} if args.resume else {"num_frames": args.frames}
        given = ["num_frames"] if "frames" in spellings(args.parser, generate_argv) else []
        note = recommended_note(err, frames, given, "the default")
        # a flag by the name typed: -n's refusal named --frames
        return ValueError(as_flags(f"{err}{note}", typed=aliases_typed(args.parser, generate_argv)))

    if args.resume:
        from streamt2v.pipeline.rundir import RunDir

        run_dir = RunDir.open(args.resume)  # a folder that is no run is named before the flags typed with it
        cfg = run_config(run_dir)
        typed = _typed_with_resume(args)
        if typed.pop("cpu", False):  # --cpu is --device cpu, which a resume takes
            typed["device"] = chosen_device(args)
        resumed_on = {dest: typed.pop(dest) for dest in _CHANGED_ON_RESUME if dest in typed}
        # each flag as typed (--num-frames, -o: the warning named --frames, --output)
        named = {"prompt": "PROMPT", **spellings(args.parser, generate_argv)}
        ignored = [named.get(dest, "--" + dest.replace("_", "-")) for dest in typed]
        if ignored:
            print(
                f"warning: --resume continues the run with its stored settings; ignoring {', '.join(ignored)}",
                file=sys.stderr,
            )
        # Counted from the run as its lock finds it (read again if another resume changed it since it was
        # opened): resume_generate goes on from there, and takes the lock held.
        cfg = run_config(run_dir.lock())
        bar.start(cfg, run_dir.manifest["num_chunks"], done=run_dir.num_finished)
        # stopped in stage 3 or while its outputs were written (a complete run: resume_generate says what it
        # writes again, only what is missing, if anything)
        if run_dir.num_finished >= run_dir.manifest["num_chunks"] and run_dir.status != "complete":
            # a plain --enhance stores {}: stage 3 runs whenever it is not None
            stage3 = "stage 3 continues from its last finished step, then " if cfg.enhance is not None else ""
            note = f"has all its chunks; {stage3}its outputs are written from its frames"
            print(f"note: run {str(run_dir.path.resolve())!r} {note}", file=sys.stderr)
    else:
        stage3 = ["--refiner", *(f for f in ENHANCE_FLAGS.values() if f.startswith("--enhance-"))]
        unused = [f for f in stage3 if getattr(args, f[2:].replace("-", "_")) is not None]
        unused += ["--random-refiner"] if args.random_refiner else []
        if unused and not args.enhance:
            verb, them = ("applies", "it") if len(unused) == 1 else ("apply", "them")
            print(
                f"warning: {', '.join(unused)} only {verb} with --enhance; ignoring {them}", file=sys.stderr
            )
        # the sampling flags typed, named as StreamConfig's fields (their dests); the rest are left None for
        # generate() to take the model's recommended ones (a hub id's are known once it is loaded)
        sampling = {k: getattr(args, k) for k in (*STAGE2_SAMPLING, *STAGE1_SAMPLING)}
        given = [k for k, v in sampling.items() if v is not None]
        try:
            stream_cfg = StreamConfig(
                num_frames=args.frames,
                seed=args.seed,
                negative_prompt=args.negative_prompt,
                chunk_frames=args.chunk_frames,
                cond_frames=args.cond_frames,
                reanchor=args.reanchor,
                **{k: sampling[k] for k in given},
            )
        except SettingError as err:
            raise flags_error(err) from None
        enhance = {
            "steps": args.enhance_steps,
            "start_step": args.enhance_start_step,
            "chunk_frames": args.enhance_chunk_frames,
            "overlap": args.enhance_overlap,
            "negative_prompt": args.negative_prompt or None,
        }
        cfg = GenerateConfig(
            output=args.output,
            stream=stream_cfg,
            prompt=args.prompt,
            prompt_schedule=args.prompt_schedule,
            model=args.model,
            device=chosen_device(args),
            dtype=args.dtype,
            fps=args.fps,
            init_video=args.init_video,
            init_image=args.init_image,
            anchor=args.anchor,
            png_dir=args.png_dir,
            gif=args.gif,
            run_dir=args.run_dir,
            enhance={k: v for k, v in enhance.items() if v is not None} if args.enhance else None,
            # without --enhance: ignored, as warned above (generate() would warn of them again)
            refiner=args.refiner if args.enhance else None,
            random_refiner=args.random_refiner and bool(args.enhance),
            compile=args.compile or None,  # --no-compile: eager, as without the flag
            overwrite=args.overwrite,
        )

    # a new run's sampling settings left unset that took the model's recommendation (not the official
    # default), which stream()'s warnings name as such, as its refusals do (recommended_note)
    recommended: dict[str, object] = {}

    def on_start(resolved: GenerateConfig, num_chunks: int) -> None:
        """A new run's plan, its settings resolved (the model loaded): the bar's total, the settings the
        model recommended, and the sampling flags typed for a stage the run does not have."""
        bar.start(resolved, num_chunks)
        recommended.clear()
        for name, official in OFFICIAL_SAMPLING.items():
            value = getattr(resolved.stream, name)
            if getattr(cfg.stream, name) is None and value != official:
                recommended[name] = value
        unused_sampling = _sampling_flags_unused(resolved, given)
        if unused_sampling:
            print(f"warning: {unused_sampling}", file=sys.stderr)

    def unset_note(text: str) -> str:
        """The end of a warning naming a setting the model recommended: '--anchor-colour-match 0.5 is the
        model's recommended setting (set --anchor-colour-match to change it)', once flags name them."""
        return recommended_note(SettingError(text), recommended, ())

    stopped = None  # a Ctrl-C or SIGTERM that came as the finished run was marked complete
    try:
        # stage-1/2 messages name settings by their field names ("init_video is 64x64; ..."), the checks before
        # any work and the advice after a stop the arguments they carry (random_refiner=True, resume_generate):
        # here, by flags; stage 3's advice a setting generate has no flag for (pad_to_aspect) as the enhance
        # command that takes it
        with (
            logs_naming_flags(
                "streamt2v.pipeline.stream", rename=lambda text: as_flags(text + unset_note(text))
            ),
            logs_naming_flags(
                "streamt2v.pipeline.preflight",
                "streamt2v.pipeline.generate",
                "streamt2v.pipeline.run_writing",
            ),
            logs_advising_enhance(cfg.output),
        ):
            if args.resume:
                result = resume_generate(  # the run opened above: opening again would hash every chunk again
                    run_dir,
                    on_step=bar.on_step,
                    on_chunk=bar.on_chunk,
                    progress=not args.no_progress,
                    overwrite=args.overwrite,
                    **resumed_on,
                )
            else:
                result = generate(
                    cfg,
                    on_step=bar.on_step,
                    on_chunk=bar.on_chunk,
                    on_start=on_start,
                    progress=not args.no_progress,
                )
    except SettingError as err:
        raise flags_error(err) from None
    except StoppedWhenComplete as stop:
        result, stopped = stop.result, stop
    finally:
        bar.close()
    if result.output in result.rewritten:  # a finished run resumed keeps what is there as it left it
        print(f"wrote {counted(result.num_frames, 'frame')} to {result.output}")
    for extra in result.extra_outputs:
        if extra in result.rewritten:
            print(f"wrote {extra}")
    # absolute, as the wrote lines' paths (a run resumed by a relative path is opened by it)
    print(f"run directory: {result.run_dir.resolve()}")
    if stopped is not None:  # still the stop's exit code (130, SIGTERM 143): a script should not go on
        raise stopped
    return 0
