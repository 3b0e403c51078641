"""``streamt2v evaluate``: score videos with MAWE, SCuts, CLIP score and the microworld probes.

Prints a per-video table with the mean (paper Table 1 style) and optionally writes JSON or CSV.
Videos that cannot be read are reported (once each) and skipped; the command fails (exit 1) only when none
could be scored. Bad settings are one error (exit 2) before any video is scored. Ctrl-C prints the table of
the videos scored so far (``--out`` is written for complete runs only).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

from streamt2v.cli import chosen_device, library_bars_off_if_quiet
from streamt2v.cli.flag_types import number_in, typed_path, user_path
from streamt2v.cli.launched import refuse_a_launch
from streamt2v.wording import counted, first_few, singular_or_plural

# The MAWE flags' defaults: one given otherwise while MAWE is not asked for is said to be unused.
MAWE_DEFAULTS = {"flow": "dis", "flow_size": 720, "mawe_definition": "official", "mawe_coeff": 9.5}


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate",
        help="score videos (MAWE, SCuts, CLIP score, microworld probes)",
        description="Score videos (files, folders of frames, folders of videos) with the paper's metrics (§5.1).",
    )
    # the videos and --clip-model as typed: the library expands ~ and names them so ('~/x' ('/home/me/x'))
    p.add_argument(
        "target",
        type=typed_path,
        metavar="VIDEO_OR_DIR",
        help="a video file, a folder of frames, a folder of videos (its videos in name order) or a generate run "
        "folder (its output, with the chunk boundaries its manifest records)",
    )
    p.add_argument(
        "more",
        nargs="*",
        default=[],  # else Python before 3.13 counts it as required: "required: VIDEO_OR_DIR, VIDEO_OR_DIR"
        type=typed_path,
        metavar="VIDEO_OR_DIR",
        help="more of them (a shell glob such as outputs/*.mp4 works), scored in the order given",
    )
    p.add_argument(
        "--prompts",
        type=user_path,
        metavar="FILE",
        help="prompts: one per line in the order the videos are scored; a JSON list or {path or file name: "
        "prompt}; JSONL or CSV (.csv, .tsv) entries with a file and a prompt (or caption), the file optional; "
        "used by clip and probes (without it, a run folder of one prompt is scored with its own)",
    )
    p.add_argument(
        "--metrics",
        default=None,
        help="comma-separated subset of mawe,scuts,clip,probes "
        "(default: mawe,scuts, plus clip when --clip-model is given)",
    )
    p.add_argument(
        "--clip-model",
        type=typed_path,
        metavar="PATH",
        help="CLIP folder or hub id for the clip metric; 'microworld': the shipped micro-CLIP (microworld videos)",
    )
    p.add_argument(
        "--flow",
        default=MAWE_DEFAULTS["flow"],
        choices=["dis", "farneback", "raft"],
        help="optical-flow backend (default: %(default)s)",
    )
    p.add_argument(
        "--flow-size",
        type=_flow_size,
        default=MAWE_DEFAULTS["flow_size"],
        metavar="N",
        help="resize frames to N×N for MAWE, N from 8 to 8192 (default: %(default)s, the paper's); 0 keeps the "
        "native size",
    )
    p.add_argument(
        "--raft-weights", type=user_path, metavar="FILE", help="RAFT-large weights for --flow raft"
    )
    p.add_argument(
        "--mawe-definition",
        default=MAWE_DEFAULTS["mawe_definition"],
        choices=["official", "paper"],
        help="official code (W/(c·|flow|), c=9.5) or paper-v2 appendix (W/mean |flow|²) (default: %(default)s)",
    )
    p.add_argument(
        "--mawe-coeff",
        type=_mawe_coeff,
        default=MAWE_DEFAULTS["mawe_coeff"],
        metavar="C",
        help="c of the official MAWE, from 1e-6 to 1e6 (default 9.5)",
    )
    p.add_argument(
        "--boundaries",
        type=_boundaries,
        metavar="I,J,...",
        help="chunk-boundary frame indices for the probes, for every video (default: a run folder's as its "
        "manifest records them, else 16,24,32,...); 'none': no chunks (the jump ratio is then nan)",
    )
    p.add_argument(
        "--device",
        default="auto",
        help="where the CLIP and RAFT networks run: auto, cpu, cuda, cuda:N or mps (default auto: the GPU when "
        "there is one); the other metrics run on the CPU",
    )
    p.add_argument("--cpu", action="store_true", help="--device cpu (train's name)")
    p.add_argument(
        "-o",  # generate's and enhance's names, the same messages naming the flag
        "--output",
        "--out",
        dest="out",
        type=user_path,
        metavar="FILE",
        help="write results to .json or .csv (see --overwrite)",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing --out file (and start over from a stopped run's --out FILE.partial)",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue a stopped run: the scores it kept in --out FILE.partial are taken back for the videos "
        "unchanged since, and the rest are scored",
    )
    p.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress bars (the default when stderr is not a terminal): a line per video is logged instead, "
        "as generate logs its chunks",
    )
    # main leaves the libraries' bars to run: importing diffusers for its switch alone took seconds
    p.set_defaults(func=run, own_library_bars=True)


# The numeric flags are checked by argparse, whose error names the flag (the library's would speak of its own
# parameters), whether or not the metric that uses them is chosen: a bad value is a bad value.
def _flow_size(text: str) -> int:
    """``type=`` of ``--flow-size``: 0 (the video's own size) or a side the library takes
    (``check_flow_size``). Whether DIS can work at that size (a side of 12) depends on ``--flow``, and is
    checked by the library."""
    from streamt2v.metrics.flow import MAX_FLOW_SIDE, MIN_FLOW_SIDE, check_flow_size  # torch: only when given

    try:
        value = int(text)
        if value != 0:
            check_flow_size(value)
    except ValueError:  # not an integer, or a side the library refuses
        raise argparse.ArgumentTypeError(
            f"expected an integer from {MIN_FLOW_SIDE} to {MAX_FLOW_SIDE} (pixels a side), or 0 for the video's "
            f"own size, got {text!r}"
        ) from None
    return value


def _given_as(video: str, target: str) -> str:
    """How ``video`` came in, for the twice-given error: as the name ``target`` on the command line (a run
    folder, a folder of frames given itself), or as a video of the folder ``target``."""
    from streamt2v.io.folders import home_path  # target as typed (~/d), video as found

    return (
        repr(str(target))
        if home_path(video) == home_path(target)
        else f"a video of the folder {str(target)!r}"
    )


def _prompts_of(path: Path, targets) -> list[str | None]:
    """The prompts file ``path`` read for ``targets`` (:class:`~streamt2v.metrics.run_target.RunTargets`): a run
    that cannot be scored keeps its line, its prompt None."""
    from streamt2v.metrics.prompts_file import read_prompts

    skipped, given = set(targets.unscorable), len(targets.videos)
    prompts = read_prompts(path, [Path(v) for v in targets.videos], skipped)
    if skipped and len(prompts) != given:  # a file in order: its lines counted with the runs skipped
        raise ValueError(
            f"got {counted(given, 'video')} (with {counted(len(skipped), 'run folder')} that cannot "
            f"be scored, which {singular_or_plural(len(skipped), 'keeps its line', 'keep their lines')}: "
            f"{', '.join(targets.runs[k] for k in sorted(skipped))}) but "
            f"{counted(len(prompts), 'prompt')}; give one prompt per video"
        )
    return [None if k in skipped else p for k, p in enumerate(prompts)]


def _listed(frames: list[int], at_most: int = 8) -> str:
    """Frame indices for a line of output: ``frames 20, 28, 36``, the first few of many, or ``none``."""
    if not frames:
        return "none: one chunk"
    count = f" ({len(frames)} in all)" if len(frames) > at_most else ""
    return "frames " + first_few([str(f) for f in frames], at_most) + count


def _mawe_coeff(text: str) -> float:
    """``type=`` of ``--mawe-coeff``: a number in the library's range (``check_coeff``: ``inf`` would make
    every MAWE 0, ``nan`` nan), refused as every number flag is (:func:`number_in`)."""
    from streamt2v.metrics.mawe import COEFF_RANGE

    return number_in(*COEFF_RANGE)(text)


def _boundaries(text: str) -> list[int]:
    """``type=`` of ``--boundaries``: comma-separated frame indices >= 1, or ``none`` (``[]``: no chunks)."""
    if text.strip().lower() == "none":
        return []
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        values = []
    if not values or min(values) < 1:  # ',' or '' once meant no chunks unsaid: that is 'none' now
        raise argparse.ArgumentTypeError(
            f"expected comma-separated frame indices >= 1 (such as 16,24,32), or 'none' for no chunks, got {text!r}"
        )
    return values


def run(args: argparse.Namespace) -> int:
    # not split between a launch's processes (one --out, one partial file for --resume): refused rather than
    # run whole by each
    refuse_a_launch(
        "evaluate",
        "each process would score every video and write the same --out; run it without the launcher, "
        "choosing its GPU with --device cuda:N",
    )
    if args.resume and not args.out:  # before the imports of seconds
        raise ValueError("--resume continues a stopped run from its --out FILE.partial: give the same --out")
    from streamt2v.arguments import logs_naming_flags
    from streamt2v.io.folders import refuse_existing
    from streamt2v.memory import resolve_device
    from streamt2v.metrics.evaluate import (
        EvaluationInterrupted,
        check_report_path,
        checked_prompts,
        clip_refusal,
        evaluate_videos,
        evaluation_config,
        parse_metrics,
    )
    from streamt2v.metrics.partial_report import partial_path
    from streamt2v.metrics.run_target import is_run_folder, runs_as_outputs
    from streamt2v.metrics.video_search import find_videos

    device = chosen_device(args)
    resolve_device(device)  # an absent GPU named before any file is read or written
    if args.out:  # before any scoring, as generate and enhance check their outputs
        check_report_path(args.out)
        if (
            args.resume
            and not args.overwrite
            and Path(args.out).exists()
            and not partial_path(args.out).exists()
        ):
            # a finished run: "pass --overwrite" alone read as the way to continue it
            raise FileExistsError(
                f"nothing to resume: {str(args.out)!r} exists and no stopped run's scores are kept beside it "
                f"({str(partial_path(args.out))!r}; an evaluation that finished removes it); to score the videos "
                "again and replace it, pass --overwrite instead of --resume"
            )
        refuse_existing(args.out, args.overwrite)
        if partial_path(args.out).exists() and not (args.resume or args.overwrite):
            raise FileExistsError(
                f"{str(partial_path(args.out))!r} holds the scores of a stopped run into {str(args.out)!r}: "
                "continue it with --resume, or start over with --overwrite"
            )
    targets = [args.target, *args.more]
    # evaluate_videos is given a run folder as typed (it scores the run's output at the chunk boundaries its
    # manifest records, with its own prompt, or skips it in its place with why) and any other target as the
    # videos found in it; what the command line says and checks first reads the runs as the library does
    given, came_in = [], []
    for target in targets:
        found = [str(target)] if is_run_folder(target) else map(str, find_videos(target, also_given=targets))
        for entry in found:
            given.append(entry)
            came_in.append(_given_as(entry, target))
    # a run given twice, or with its output, refused; and one video twice, which would count twice in the mean
    # (and shift the prompts)
    run_targets = runs_as_outputs(given, came_in, each_video_once=True)
    # the videos that will be read (a run that cannot be scored is skipped in its place, as evaluate_videos does)
    live = [k for k in range(len(given)) if k not in run_targets.unscorable]
    if args.metrics is None:
        metrics = ("mawe", "scuts", "clip") if args.clip_model else ("mawe", "scuts")
    else:
        metrics = parse_metrics(args.metrics)
    uses_prompts = bool({"clip", "probes"} & set(metrics))
    mawe_flags = [("--" + k.replace("_", "-"), getattr(args, k) != v) for k, v in MAWE_DEFAULTS.items()]
    unused = [
        f"{flag} ({why})"
        for flag, given, why in (
            ("--prompts", args.prompts and not uses_prompts, "clip and probes use it"),
            ("--clip-model", args.clip_model and "clip" not in metrics, "clip uses it"),
            ("--boundaries", args.boundaries is not None and "probes" not in metrics, "probes use it"),
            *((flag, given and "mawe" not in metrics, "mawe uses it") for flag, given in mawe_flags),
            (
                "--mawe-coeff",
                "mawe" in metrics and dict(mawe_flags)["--mawe-coeff"] and args.mawe_definition == "paper",
                "the official MAWE definition uses it, not --mawe-definition paper",
            ),
            (
                "--raft-weights",
                args.raft_weights and ("mawe" not in metrics or args.flow != "raft"),
                "mawe with --flow raft uses them",
            ),
            (
                "--cpu" if args.cpu else "--device",
                device != "auto" and "clip" not in metrics and ("mawe" not in metrics or args.flow != "raft"),
                "clip and mawe with --flow raft run on it",
            ),
        )
        if given
    ]
    if unused:  # given for nothing: a metric left out of --metrics by mistake, or a stale flag
        chosen = f"metric{'s' if len(metrics) > 1 else ''} {', '.join(metrics)}"
        print(f"warning: not used by the {chosen}: {'; '.join(unused)}", file=sys.stderr)
    # read only for the metrics that use them: a file said to be unused cannot stop the run
    prompts = _prompts_of(args.prompts, run_targets) if args.prompts and uses_prompts else None
    if prompts is not None:  # a count not one per video first, as evaluate_videos checks it (clip_refusal)
        prompts = checked_prompts(prompts, len(given))
    if uses_prompts:  # no --prompts: each run's own, as evaluate_videos takes it
        prompts = run_targets.with_own_prompts(prompts)
    # in evaluate_videos' order, before --overwrite removes a stopped run's scores
    if "clip" in metrics and (refusal := clip_refusal(args.clip_model, run_targets, prompts)):
        raise refusal
    # given, the boundaries are every video's; else each video's: its run's, or the default plan (None)
    plans = None
    if args.boundaries is None and run_targets.plans and "probes" in metrics:
        plans = [run_targets.plans.get(k) for k in live]
    for k, recorded in run_targets.plans.items():  # the file scored, and the plan it is scored at
        at = f" at the chunk boundaries its manifest records ({_listed(recorded)})" if plans else ""
        if "probes" in metrics and args.boundaries not in (None, recorded):  # given for every video
            typed = ",".join(map(str, args.boundaries)) or "none"
            at = f" at --boundaries {typed}, not its manifest's {_listed(recorded).removeprefix('frames ')}"
        if args.prompts is None and uses_prompts and k in run_targets.prompts:  # the caption and CLIP prompt
            at += f", with the prompt its config records ({run_targets.prompts[k]!r})"
        elif args.prompts is None and "probes" in metrics and k in run_targets.schedules:  # its caption nan
            at += (
                ", without a caption for the probes: no one prompt of its schedule describes the whole video"
            )
        output = run_targets.videos[k]
        print(f"run folder {run_targets.runs[k]}: scoring its output {str(output)!r}{at}", file=sys.stderr)
    settings = dict(
        metrics=metrics,
        clip_model=args.clip_model,
        flow=args.flow,
        flow_size=args.flow_size or None,
        mawe_coeff=args.mawe_coeff,
        mawe_definition=args.mawe_definition,
        boundaries=args.boundaries,  # as given: each video's own plan is kept with it (the stamps)
        raft_weights=args.raft_weights,
        device=device,  # recorded in the config (where CLIP and RAFT ran), and compared by --resume
    )
    config = evaluation_config(**settings)
    videos = [Path(run_targets.videos[k]) for k in live]
    # with --out, the scores are kept after every video for --resume (its partial file)
    kept = None
    if args.out:
        kept = _KeptScores(
            args.out, videos, None if prompts is None else [prompts[k] for k in live], config, plans
        )
    reuse = kept.resume() if kept is not None and args.resume else None
    if kept is not None and args.overwrite and not args.resume:
        # starting over, every argument checked: a stop before the first score must not leave the old ones
        partial_path(args.out).unlink(missing_ok=True)
    # CLIP (transformers, maybe a hub download) is the only model loaded here
    loading = ("transformers",) if "clip" in metrics else ()
    try:
        # the library's log lines name the flags (--flow dis), as its errors do
        with (
            library_bars_off_if_quiet(args, loading),
            logs_naming_flags("streamt2v.metrics.flow"),
        ):
            report = evaluate_videos(
                given,
                prompts=prompts,
                **settings,
                progress=not args.no_progress,
                reuse=reuse,
                on_video=None if kept is None else kept.save,
            )
    except EvaluationInterrupted as stop:
        # the videos scored before Ctrl-C are printed, and kept in --out's partial file for --resume
        above = "; their results are above" if stop.report.records else ""
        how = "" if kept is None else kept.how_to_continue()
        said = KeyboardInterrupt(f"{stop}{above}{how}")
        try:
            _report(stop.report.as_flags())  # the skipped videos' reasons name this command's flags
        finally:  # also when the table's reader is gone: the stop, and how to continue, are the news
            raise said from None
    # the skipped videos' reasons name this command's flags (--flow-size, not flow_size), on stderr and in --out
    report = report.as_flags()
    # with none scored too: the file holds the skipped videos and why, for a script; written (and the partial
    # file removed) before the table, so that a stdout that fails (a closed pipe) loses no result and leaves
    # no partial file that the next run would ask to --resume
    # --out was checked before any scoring (refused without --overwrite, or a stopped run's to --resume)
    saved = report.save(args.out, overwrite=args.overwrite or args.resume) if kept is not None else None
    if kept is not None:
        kept.finished()
    if not report.records:
        _report(report)  # the skipped videos, on stderr
        failed = (
            f"the {'run folder' if run_targets.unscorable else 'video'} could not be scored"
            if len(given) == 1
            else f"none of the {run_targets.counted()} could be scored"  # as a stop says them
        )
        print(f"error: {failed}", file=sys.stderr)
        # the failure is the news, also when the reader of stdout is gone (it was exit 141, no error line)
        with contextlib.suppress(BrokenPipeError):
            if kept is not None:
                print(f"wrote {saved.resolve()}", flush=True)
        return 1
    _report(report)
    if kept is not None:
        print(f"wrote {saved.resolve()}")  # absolute, as generate's and enhance's wrote lines
    return 0


class _KeptScores:
    """The scores of a run with ``--out``, kept in its partial file after every video (for ``--resume``)."""

    def __init__(
        self,
        out: Path,
        videos: list[Path],
        prompts: list[str] | None,
        config: dict,
        plans: list[list[int] | None] | None = None,
    ) -> None:
        from streamt2v.metrics.partial_report import video_stamp

        self.out, self.config = out, config
        # each video's own chunk plan (its run's; None: the default) is kept with its score, not by its place
        # in the config: a video added, left out or moved keeps the others' scores, a changed plan drops its own
        # (only where a video has one: a partial file of a version without plans keeps its other scores)
        self.stamps = {
            str(v): {
                "video": video_stamp(v),
                "prompt": None if prompts is None else prompts[i],
                **({} if plans is None or plans[i] is None else {"boundaries": plans[i]}),
            }
            for i, v in enumerate(videos)
        }
        self.reused: dict[str, dict] = {}  # the scores the partial file held, by video
        self.written = 0  # the records the report had at the last write
        self.kept = 0  # the scores in the partial file

    def resume(self) -> dict[str, dict]:
        from streamt2v.metrics.partial_report import load_partial, partial_path

        reuse, dropped = load_partial(self.out, self.config, self.stamps)
        self.reused, self.kept = reuse, len(reuse)
        again = (
            f"; {dropped} scored for a video since changed, left out of the set or given another prompt or "
            "chunk plan"
            if dropped
            else ""
        )
        print(
            f"resuming from {partial_path(self.out)}: {counted(len(reuse), 'video')} already scored{again}",
            file=sys.stderr,
        )
        return reuse

    def save(self, report) -> None:
        """After each video: the file again when a video was scored (not skipped, nor taken from the file)."""
        from streamt2v.metrics.partial_report import save_partial

        newest = str(report.records[-1]["path"]) if report.records else None
        if len(report.records) != self.written and newest not in self.reused:
            # with the scores taken back that the run has not reached yet: they are kept until it does
            done = {str(r["path"]) for r in report.records}
            kept = [*report.records, *(r for path, r in self.reused.items() if path not in done)]
            save_partial(self.out, self.config, kept, self.stamps)
            self.written, self.kept = len(report.records), len(kept)

    def how_to_continue(self) -> str:
        """The end of the interrupted line: where the scores are and how to go on."""
        from streamt2v.metrics.partial_report import partial_path

        if not self.kept:
            return f"; {str(self.out)!r} not written"
        return (
            f"; {str(self.out)!r} not written, the {counted(self.kept, 'video', one='one')} scored "
            f"{'is' if self.kept == 1 else 'are'} kept in {str(partial_path(self.out))!r}: "
            "continue with the same command and --resume"
        )

    def finished(self) -> None:
        """Once ``--out`` is written: the partial file goes, with what killed writers of it left."""
        from streamt2v.metrics.partial_report import remove_partial

        remove_partial(self.out)


def _report(report) -> None:
    """The skipped videos on stderr (the library only logs them at debug level), the table on stdout."""
    for s in report.skipped:
        print(f"skipped {s['path']}: {s['error']}", file=sys.stderr)
    if report.records:
        print(report.table(), flush=True)
