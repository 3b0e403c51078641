"""Reproduce the shipped microworld models: train all five recipes, then assemble ``assets/``.

    python -m streamt2v.train.microworld_release --out runs/microworld --assets src/streamt2v/assets

Runs ``vae`` and ``clip``; then ``base`` beside ``vae-decoder`` (the VAE's decoder fine-tuned on the
frozen encoder); then ``stream`` (initialised from ``base``) beside ``base-2`` (``base`` trained further),
then ``base-3`` (``base-2`` trained further with joint image-video batches: the shipped stage-1 UNet)
beside ``stream-aug`` (``stream`` trained further with noised conditioning frames: the shipped stage-2
UNet); then ``vae-decoder-2`` and ``vae-decoder-edges`` (the decoder trained further, the last with
edge-weighted errors: the shipped stage-1/2 VAE); then ``refiner-decoder`` (the decoder fine-tuned
further at the refiner's 64×64) and ``refiner-low-noise`` (the refiner UNet, trained on the low noise
levels stage 3 samples it at), each on both cores; last ``refiner-restore`` (that UNet continued with
restoration training: the shipped refiner UNet), a GPU run, refused on a machine without CUDA unless
``--allow-cpu`` (DESIGN.md §6, docs/training.md), with the exact settings of the shipped weights
(:func:`release_runs`). A recipe whose ``final/`` folder exists is
skipped; an interrupted one resumes from its latest checkpoint (the same samples and random draws, see
``train/loop.py``).
Each run trains in a process of its own (``--only NAME``, its output in ``OUT/NAME.log``), with the torch
threads its :class:`RecipeRun` asks for; ``--cores 2`` starts it as soon as the runs it needs are finished
and its threads fit beside the running ones (the release: one thread per run, two runs at a time on a
2-core CPU, the last two runs on both), ``--cores 1`` trains them one at a time (:func:`train_all`).
Ctrl-C or SIGTERM stops the running ones the Ctrl-C way, keeping their checkpoints (exit 130, 143).
Then the models are assembled as fp16 safetensors:

- ``ASSETS/microworld/``: a :class:`~streamt2v.models.bundle.StreamingT2VModel` folder (stage-2 UNet =
  the stream-aug run, ``init_unet`` = the base-3 run, the vae-decoder-edges run's VAE, micro-CLIP
  text/image encoders, tokenizer, DDIM scheduler config, recommended sampler settings :data:`SAMPLER`);
- ``ASSETS/microworld-refiner/``: a :class:`~streamt2v.pipeline.refiner.Refiner` folder (the
  refiner-restore run's UNet, the refiner-decoder run's VAE);
- ``ASSETS/microworld-clip/``: the clip run's whole micro-CLIP (``CLIPModel`` + tokenizer, fp16), the
  CLIP-score model;
- ``ASSETS/MODEL_CARD.md`` (:mod:`streamt2v.train.model_card`) from the runs' logs, the VAE/CLIP quality
  and the behaviour figures (``ASSETS/behaviour.json``, and ``behaviour_more_seeds.json`` for the same
  prompts with more seeds; measured at assembly).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any

import torch

from streamt2v.cli.interrupts import sigterm_as_interrupt
from streamt2v.io.folders import atomic_write_file, home_path
from streamt2v.train.microworld_notes import NOTES
from streamt2v.train.microworld_settings import (
    ENHANCE,
    ORDER,
    REFINER_RUN,
    REFINER_SCHEDULER,
    SAMPLER,
    STAGE1_RUN,
    STREAM_RUN,
    VAE_RUN,
    RecipeRun,
    release_runs,
)
from streamt2v.train.release_processes import (
    RunFailed,
    ended,
    exit_status,
    last_error,
    stop_runs_for,
)
from streamt2v.wording import singular_or_plural

logger = logging.getLogger(__name__)


# Further held-out seeds per behaviour prompt measured at assembly (the card's seed spread).
MORE_SEEDS = 2


def run_done(out: Path, name: str) -> bool:
    return (out / name / "final").is_dir()


# The runs whose final/ folders the assembly reads (the card reads every run's log, a missing one as n/a).
ASSEMBLY_RUNS: tuple[str, ...] = tuple(
    n for n in ORDER if n in {"vae", "clip", STAGE1_RUN, STREAM_RUN, VAE_RUN, "refiner-decoder", REFINER_RUN}
)


def unfinished_assembly_runs(out: Path) -> list[str]:
    """The runs of :data:`ASSEMBLY_RUNS` not finished in ``out`` (no ``final/`` folder: :func:`run_done`)."""
    return [n for n in ASSEMBLY_RUNS if not run_done(out, n)]


def runs_are(names: list[str]) -> str:
    """``run refiner-restore is`` or ``runs vae, clip are``: the subject of a message about ``names``."""
    run, verb = singular_or_plural(len(names), "run"), singular_or_plural(len(names), "is", "are")
    return f"{run} {', '.join(names)} {verb}"


def check_gpu_runs(names: list[str], runs: dict[str, RecipeRun], allow_cpu: bool) -> None:
    """Refuse, before anything starts, to train GPU runs (``RecipeRun.gpu``) on a machine without CUDA."""
    cpu_only = [n for n in names if runs[n].gpu]
    if cpu_only and not allow_cpu and not torch.cuda.is_available():
        raise RuntimeError(
            f"{runs_are(cpu_only)} sized for a GPU and no CUDA device is available here; on 2 CPU cores "
            "that takes many hours (see microworld_settings.release_runs). Train on a machine with a GPU, or "
            "pass --allow-cpu to train on the CPU anyway."
        )


def train_settings(name: str, run: RecipeRun) -> dict[str, Any]:
    """The loop settings run ``name`` trains with here: ``run.train``, but in fp32 (``mixed_precision``
    "no") where it asks for mixed precision and trains on the CPU: bf16 autocast on a CPU without bf16
    instructions is about 10× slower than fp32 (refiner-restore's steps, sized for a GPU; 2 AMD EPYC cores),
    and the CPU times the docs give are fp32's (bench/results/train_cpu.md). Decided at each start: a run
    resumed on the other kind of machine takes that machine's precision (its weights and optimizer state are
    fp32 either way), and the loop warns of the change as of any other changed setting."""
    from streamt2v.train.train_config import trains_on_the_cpu

    settings = dict(run.train)
    asked = settings.get("mixed_precision", "no")
    if asked != "no" and trains_on_the_cpu(bool(settings.get("cpu", False))):
        logger.info(
            "%s: trains in fp32 on the CPU (mixed_precision 'no', not its %r: many times slower there)",
            name,
            asked,
        )
        settings["mixed_precision"] = "no"
    return settings


def train_one(
    out: Path, name: str, allow_cpu: bool = False, runs: dict[str, RecipeRun] | None = None
) -> None:
    """Train (or resume) run ``name`` of ``runs`` (:func:`release_runs` of ``out`` if not given) into
    ``out/NAME`` with :func:`train_settings`; a finished run is left alone."""
    from streamt2v.train.loop import TrainConfig, train
    from streamt2v.train.recipes import make_recipe

    runs = release_runs(out) if runs is None else runs
    run = runs[name]
    if run_done(out, name):
        logger.info("%s: already finished (%s)", name, out / name / "final")
        return
    check_gpu_runs([name], runs, allow_cpu)
    for need in run.needs:
        if not run_done(out, need):
            raise RuntimeError(f"run {name!r} needs the finished {need!r} run in {out / need}")
    torch.set_num_threads(run.threads)
    t0 = time.perf_counter()
    result = train(
        make_recipe(run.recipe, **run.options),
        TrainConfig(**train_settings(name, run)),
        out / name,
        resume=True,
        progress=False,
    )
    logger.info("%s: step %d in %.0f s", name, result.step, time.perf_counter() - t0)


def startable(
    pending: list[str], running: list[str], runs: dict[str, RecipeRun], done: set[str], cores: int
) -> list[str]:
    """The pending runs (in order) to start now: every run they need is done and their threads fit in
    ``cores`` beside the running ones; a run asking for more than ``cores`` starts only on idle cores."""
    busy = sum(runs[r].threads for r in running)
    start: list[str] = []
    for n in pending:
        fits = busy + runs[n].threads <= cores or (busy == 0 and not start)
        if fits and all(d in done for d in runs[n].needs):
            start.append(n)
            busy += runs[n].threads
    return start


def train_given_run(out: str, name: str, run_json: str, allow_cpu: str) -> int:
    """The process of a run :func:`train_all` was given (``runs=``): :func:`train_one` of the run whose
    :class:`RecipeRun` fields are ``run_json``; its messages on its log, as the command line's."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    fields = json.loads(run_json)
    run = RecipeRun(**{**fields, "needs": tuple(fields["needs"])})
    return exit_status(lambda: train_one(Path(out), name, allow_cpu == "1", {name: run}))


_TRAIN_GIVEN_RUN = (
    "import sys; from streamt2v.train.microworld_release import train_given_run; "
    "sys.exit(train_given_run(*sys.argv[1:]))"
)


def run_command(out: Path, name: str, allow_cpu: bool, given: RecipeRun | None) -> list[str]:
    """The command line of a process training run ``name``: ``--only NAME`` for the release's, the
    :class:`RecipeRun` ``given`` as JSON for another (:func:`train_given_run`)."""
    if given is None:
        only = ["--out", str(out), "--only", name, *(["--allow-cpu"] if allow_cpu else [])]
        return [sys.executable, "-m", "streamt2v.train.microworld_release", *only]
    run_json = json.dumps(dataclasses.asdict(given))
    return [sys.executable, "-c", _TRAIN_GIVEN_RUN, str(out), name, run_json, "1" if allow_cpu else "0"]


def train_all(
    out: Path,
    cores: int = 2,
    poll_s: float = 5.0,
    allow_cpu: bool = False,
    runs: dict[str, RecipeRun] | None = None,
) -> None:
    """Train every unfinished recipe, each in a process of its own (its output in ``out/NAME.log``), started
    as soon as the runs it needs are finished and its torch threads fit in ``cores`` beside the running
    ones (a run asking for more threads than ``cores`` runs alone; ``cores <= 1``: one run at a time). A
    process of its own: accelerate keeps the precision and device of a process's first run to its end, so
    one process training every run refused refiner-restore's bf16 after the fp32 runs. GPU runs on a
    machine without CUDA are refused up front unless ``allow_cpu`` (:func:`check_gpu_runs`), and so is a
    run needing one that is neither finished nor to be trained. ``runs``: the runs to train,
    :func:`release_runs` of ``out`` if not given (in :data:`ORDER`); others in their order. A failed run,
    or Ctrl-C (:class:`ReleaseInterrupted`), stops the running ones the Ctrl-C way (:func:`stop_runs`).
    SIGTERM is taken as Ctrl-C while it runs where the caller left SIGTERM's default (which ended the
    process and left the runs, each in a session of its own, training); a caller's own handler
    (:func:`exit_status`) is kept."""
    # not nested in another sigterm_as_interrupt: that one would not learn the SIGTERM came (exit 143)
    own_handler = signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
    with sigterm_as_interrupt() if own_handler else contextlib.nullcontext():
        _train_all(out, cores, poll_s, allow_cpu, runs)


def _train_all(
    out: Path, cores: int, poll_s: float, allow_cpu: bool, runs: dict[str, RecipeRun] | None
) -> None:
    given = runs is not None
    order = tuple(runs) if runs is not None else ORDER  # the release's in ORDER, others as given
    runs = release_runs(out) if runs is None else runs
    pending = [n for n in order if not run_done(out, n)]
    check_gpu_runs(pending, runs, allow_cpu)
    for n in pending:
        for need in runs[n].needs:
            if not run_done(out, need) and need not in pending:
                raise RuntimeError(f"run {n!r} needs the finished {need!r} run in {out / need}")
    out.mkdir(parents=True, exist_ok=True)  # for the logs (main makes it; a Python caller may not have)
    running: dict[str, tuple[subprocess.Popen, IO[str]]] = {}
    starts: dict[str, int] = {}  # where each run's output of this attempt begins in its log
    try:
        while pending or running:
            done = {n for n in runs if run_done(out, n)}
            for n in startable(pending, list(running), runs, done, max(cores, 1)):
                env = {**os.environ, "OMP_NUM_THREADS": str(runs[n].threads)}
                cmd = run_command(out, n, allow_cpu, runs[n] if given else None)
                log = open(out / f"{n}.log", "a")  # noqa: SIM115 (closed when the process ends)
                starts[n] = log.tell()
                logger.info("starting %s (log %s)", n, out / f"{n}.log")
                # a session of its own: a Ctrl-C at the terminal reaches this process alone, which stops the
                # runs with one SIGTERM each (stop_runs)
                proc = subprocess.Popen(
                    cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
                )
                running[n] = (proc, log)
                pending.remove(n)
            if not running:
                raise RuntimeError(f"cannot start {', '.join(pending)}: the runs they need are missing")
            time.sleep(poll_s)
            for n, (proc, log) in list(running.items()):
                if proc.poll() is None:
                    continue
                log.close()
                del running[n]
                if proc.returncode != 0:
                    error = last_error(out / f"{n}.log", starts[n])
                    raise RunFailed(
                        f"training {n!r} {ended(proc.returncode)}{f': {error}' if error else ''}; "
                        f"see {out / f'{n}.log'}"
                    )
                logger.info("%s finished", n)
    except BaseException as err:
        stop_runs_for(err, running)
        raise


# ------------------------------------------------------------------------------------------ assembly
def shipped_vae_dir(out: Path, run: str = VAE_RUN) -> Path:
    """The VAE of decoder fine-tuning run ``run`` (``VAE_RUN``: stages 1–2, ``refiner-decoder``: the
    refiner), after checking that its encoder is the one the UNets trained on."""
    from safetensors.torch import load_file

    src, dst = out / "vae" / "final" / "vae", out / run / "final" / "vae"
    files = [sorted(p.glob("*.safetensors")) for p in (src, dst)]
    for p, found in zip((src, dst), files):
        if not found:  # was "generator raised StopIteration"
            raise FileNotFoundError(f"no VAE weights (*.safetensors) in {p}")
    a, b = (load_file(str(found[0])) for found in files)
    frozen = [k for k in a if k.startswith(("encoder.", "quant_conv."))]
    changed = [k for k in frozen if not torch.equal(a[k], b[k])]
    if not frozen or changed:
        raise RuntimeError(
            f"{dst} does not share the encoder of {src} (differing: {', '.join(changed[:3]) or 'none'})"
        )
    return dst


def assemble_shipped_model(out: Path, dest: Path) -> Path:
    """``StreamingT2VModel`` folder (fp16) from the base, stream, vae and clip runs."""
    from streamt2v.train import assemble

    stage1 = out / STAGE1_RUN / "final"
    return assemble.assemble_model(
        dest,
        unet=out / STREAM_RUN / "final" / "unet",
        init_unet=stage1 / "unet",
        vae=shipped_vae_dir(out),
        clip=out / "clip" / "final",
        scheduler=stage1 / "scheduler",
        sampler=SAMPLER,
        name="microworld",
        sources={
            "weights": "trained on the microworld (python -m streamt2v.train.microworld_release)",
            "model_card": "streamt2v/assets/MODEL_CARD.md",
        },
        dtype=torch.float16,
        overwrite=True,
    )


def assemble_shipped_refiner(out: Path, dest: Path) -> Path:
    """``Refiner`` folder (fp16) from the refiner, refiner-decoder and clip runs."""
    from streamt2v.train import assemble

    return assemble.assemble_refiner(
        dest,
        unet=out / REFINER_RUN / "final" / "unet",
        vae=shipped_vae_dir(out, "refiner-decoder"),
        clip=out / "clip" / "final",
        scheduler_overrides=REFINER_SCHEDULER,
        enhance=ENHANCE,
        dtype=torch.float16,
        overwrite=True,
    )


def assemble_shipped_clip(out: Path, dest: Path) -> Path:
    """The clip run's whole micro-CLIP (``CLIPModel`` + tokenizer, fp16): the CLIP-score model."""
    from transformers import AutoTokenizer, CLIPModel

    from streamt2v.io.folders import atomic_folder
    from streamt2v.models.strict_loading import from_pretrained_strict

    src = out / "clip" / "final" / "clip"
    with atomic_folder(dest, overwrite=True) as tmp:
        clip = from_pretrained_strict(
            CLIPModel, src, "micro-CLIP run's final/clip folder", dtype=torch.float16
        )
        clip.save_pretrained(tmp, safe_serialization=True)
        AutoTokenizer.from_pretrained(src).save_pretrained(tmp)
    return dest


def assemble_assets(out: Path, assets: Path, measure: bool = True) -> None:
    """Write both shipped folders, then (``measure``) the quality and behaviour figures and the card."""
    from streamt2v.train.model_card import (
        MORE_SEEDS_FILE,
        folder_mb,
        write_behaviour,
        write_model_card,
        write_reference,
    )

    missing = unfinished_assembly_runs(out)
    if missing:  # before anything is written
        raise RuntimeError(f"{runs_are(missing)} not finished in {out} (no final/ folder)")
    assets.mkdir(parents=True, exist_ok=True)
    model = assemble_shipped_model(out, assets / "microworld")
    refiner = assemble_shipped_refiner(out, assets / "microworld-refiner")
    clip = assemble_shipped_clip(out, assets / "microworld-clip")
    total = folder_mb(model) + folder_mb(refiner) + folder_mb(clip)
    logger.info(
        "assets: model %.1f MB, refiner %.1f MB, clip %.1f MB",
        folder_mb(model),
        folder_mb(refiner),
        folder_mb(clip),
    )
    if total > 40:
        raise RuntimeError(f"shipped weights are {total:.1f} MB, over the 40 MB budget")
    if measure:
        from streamt2v.microworld import behaviour
        from streamt2v.microworld.quality import clip_quality, refiner_quality, vae_quality
        from streamt2v.models.bundle import StreamingT2VModel

        quality = {
            "vae": vae_quality(shipped_vae_dir(out), sizes=(32, 64)),
            "refiner_vae": vae_quality(shipped_vae_dir(out, "refiner-decoder"), sizes=(64,)),
            "refiner": refiner_quality(refiner),
            "refiner_through_vae": refiner_quality(refiner, through_vae=shipped_vae_dir(out)),
            "clip": clip_quality(out / "clip" / "final"),
        }
        # minutes of measurement: written whole or not at all
        atomic_write_file(
            out / "quality.json", lambda tmp: tmp.write_text(json.dumps(quality, indent=1) + "\n")
        )
        shipped = StreamingT2VModel.from_pretrained(model, torch_dtype=torch.float32)
        tested = behaviour.behaviour_prompts()
        write_behaviour(assets, behaviour.measure(shipped, tested))
        more_seeds = behaviour.more_seeds(tested, MORE_SEEDS)
        more = behaviour.measure(shipped, more_seeds, ablation=False)
        write_behaviour(assets, more, MORE_SEEDS_FILE)
        rendered = behaviour.measure_reference(tested + more_seeds)
        write_reference(
            assets, rendered, behaviour.measure_reference(tested + more_seeds, autoencoder=shipped.vae)
        )
    write_model_card(out, assets, release_runs(out), SAMPLER, ENHANCE, VAE_RUN, NOTES)


def measure_long(assets: Path, num_frames: int) -> Path:
    """The shipped model's behaviour over ``num_frames``-frame videos (the tested prompts and seeds and
    their :data:`MORE_SEEDS` further seeds), per window, into ``assets``; the card shows it when written."""
    from streamt2v.microworld import behaviour
    from streamt2v.models.bundle import StreamingT2VModel
    from streamt2v.train.model_card import write_long_behaviour

    model = StreamingT2VModel.from_pretrained(assets / "microworld")
    tested = behaviour.behaviour_prompts()
    rows = behaviour.measure_long(model, tested + behaviour.more_seeds(tested, MORE_SEEDS), num_frames)
    return write_long_behaviour(assets, rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    # ~ expanded as the shell leaves it in --out=~/runs (a folder named ~ was made)
    p.add_argument(
        "--out", type=home_path, default=Path("runs/microworld"), help="folder of the training runs"
    )
    p.add_argument(
        "--assets", type=home_path, default=None, help="write the shipped folders + model card here"
    )
    p.add_argument(
        "--cores",
        type=int,
        default=2,
        help="CPU cores to share among the training runs (1: one run at a time)",
    )
    p.add_argument(
        "--only",
        choices=sorted(release_runs(Path("."))),
        help="train just this run (a recipe run such as base-2)",
    )
    p.add_argument("--skip-train", action="store_true", help="only assemble from finished runs")
    p.add_argument("--no-measure", action="store_true", help="assemble without the behaviour figures")
    p.add_argument(
        "--allow-cpu", action="store_true", help="train the GPU runs (refiner-restore) on the CPU too (hours)"
    )
    p.add_argument(
        "--measure-long",
        type=int,
        metavar="FRAMES",
        help="only measure the shipped model in --assets on FRAMES-frame videos of the behaviour prompts and "
        "seeds, per 80-frame window, into ASSETS/behaviour_long.json (1200 frames: ~3 min per video on 2 CPU "
        "cores, 12 videos)",
    )
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if a.measure_long is not None:
        if a.assets is None:
            p.error("--measure-long needs --assets (the folder holding the shipped model)")
        # as the training: an error, Ctrl-C or SIGTERM one line (they were tracebacks)
        return exit_status(lambda: measure_long(a.assets, a.measure_long))
    if a.skip_train and a.assets is None:
        p.error(
            "--skip-train needs --assets (it only assembles the shipped folders there from finished runs)"
        )

    def work() -> None:
        if not a.skip_train:  # GPU runs on a machine without CUDA: refused before --out is created
            runs = release_runs(a.out)
            check_gpu_runs(
                [a.only] if a.only else [n for n in runs if not run_done(a.out, n)], runs, a.allow_cpu
            )
        elif unfinished_assembly_runs(a.out):  # refused before --out is created
            raise RuntimeError(
                f"--skip-train: {runs_are(unfinished_assembly_runs(a.out))} not finished in {a.out}"
            )
        a.out.mkdir(parents=True, exist_ok=True)
        if a.only:
            train_one(a.out, a.only, a.allow_cpu)
            return
        if not a.skip_train:
            train_all(a.out, a.cores, allow_cpu=a.allow_cpu)
        if a.assets is not None:
            assemble_assets(a.out, a.assets, measure=not a.no_measure)

    return exit_status(work)


if __name__ == "__main__":
    raise SystemExit(main())
