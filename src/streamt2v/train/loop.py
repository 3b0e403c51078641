"""The training loop shared by every recipe, on ``accelerate`` (CPU, one GPU, several GPUs).

The official StreamingT2V release has no training code; this loop follows the paper's appendix
(AdamW, EMA of weights, mixed precision on GPU) with the usual diffusion-training machinery:
gradient accumulation, gradient clipping, linear warm-up, checkpoints that carry their config,
``resume`` with bit-exact continuation (the samples and draws of each step:
:mod:`streamt2v.train.step_draws`), a tqdm progress bar (log lines in a batch job's log,
:mod:`streamt2v.train.progress`), a JSONL loss log and sample hooks.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from streamt2v.arguments import Arg, ArgumentRuntimeError, ArgumentValueError
from streamt2v.compiling import compile_modules
from streamt2v.io import locks
from streamt2v.io.folders import atomic_folder, atomic_write_file, home_path, named_path
from streamt2v.launcher import first_on_this_machine, processes_on_this_machine
from streamt2v.microworld.dataset import collate
from streamt2v.signals import interrupts_held
from streamt2v.train.checkpoint import prune_checkpoints, resume_main_first, save_checkpoint, set_rng_state
from streamt2v.train.data_workers import (
    CollateOrError,
    ErrorsTravelWhole,
    ignore_stop_signals,
    next_batch,
    stop_workers,
)
from streamt2v.train.ema import EMA
from streamt2v.train.memory_needs import available_memory, check_training_memory
from streamt2v.train.progress import StepProgress
from streamt2v.train.resume_settings import check_resumed_config, recorded_recipe_config
from streamt2v.train.run_folder import (
    check_out_dir,
    exported_step,
    is_run_folder,
    lock_run_folder,
    make_run_folder,
    record_exported_step,
    remove_made_folders,
    remove_run_leftovers,
    truncate_log,
)
from streamt2v.train.step_draws import GLOBAL_RNG_STREAM, IndexStream, step_seed
from streamt2v.train.train_config import (
    TrainConfig,
    check_process_state,
    lr_at,
    trains_on_the_cpu,
    warn_of_slow_bf16,
)
from streamt2v.wording import counted

logger = logging.getLogger(__name__)


class Recipe(Protocol):
    """What the loop needs from a recipe (see :mod:`streamt2v.train.recipes`).

    ``build()`` returns a module whose ``forward(batch, generator)`` returns ``(loss, logs)``; its
    parameters with ``requires_grad`` are trained (frozen helpers such as the VAE live inside it with
    ``requires_grad=False``). ``build`` must be deterministic given the global torch seed. For
    ``TrainConfig.compile`` the module also has ``compile_parts()``: the submodules whose forwards a step
    calls, compiled in place. ``sample(module, step, out_dir, inputs)`` writes the samples of ``step``
    from ``inputs``, what ``sample_inputs()`` made at the run's first sample (once per run: the held-aside
    clips are not drawn from the videos again every ``sample_every`` steps). A recipe with
    ``training_frame_rate()`` (an int, or None) has the frame rate of its videos recorded in the run
    config (``"fps"``, for ``assemble --fps``).
    """

    name: str

    def config(self) -> dict[str, Any]: ...

    def build(self) -> nn.Module: ...

    def dataset(self, seed: int, progress: bool = False) -> Dataset: ...

    def sample_inputs(self) -> Any: ...

    def sample(self, module: nn.Module, step: int, out_dir: Path, inputs: Any) -> None: ...

    def export(self, module: nn.Module, out_dir: Path) -> None: ...


@dataclass
class TrainResult:
    out_dir: Path
    step: int
    losses: list[float] = field(default_factory=list)  # per step run in this call
    checkpoint: Path | None = None  # the newest written in this call
    # resumed at cfg.steps, whose export final/ holds: the call took no step and exported nothing (it did a
    # resume's bookkeeping: leftovers of killed writers removed, the log cut back to the step, config.json
    # written when it differs)
    already_finished: bool = False
    # what that bookkeeping did, in words ("trimmed 12 loss-log rows past step 2"); empty: nothing (the main
    # process's; empty on the others)
    tidied: list[str] = field(default_factory=list)
    # the training videos' frame rate as the run recorded it (config.json's "fps", assemble --fps); None:
    # none recorded (the microworld, a dataset given to train(), a run of a version that did not record it)
    fps: int | None = None


class TrainInterrupted(KeyboardInterrupt):
    """Ctrl-C (or a SIGTERM the command line turns into one) during the steps: ``step`` steps were taken,
    the latest checkpoint is at ``checkpoint_step`` (0: none, a resume starts over), so ``--resume``
    repeats ``step - checkpoint_step`` steps."""

    def __init__(self, step: int, checkpoint_step: int) -> None:
        self.step, self.checkpoint_step = step, checkpoint_step
        lost = step - checkpoint_step
        where = (
            f"the checkpoint at step {checkpoint_step}"
            if checkpoint_step
            else "the start (no checkpoint yet)"
        )
        if lost == 0:  # stopped right after a checkpoint ("repeats the 0 steps" read as a count of a loss)
            said = f"nothing to repeat: a resume continues from {where}"
        else:
            said = f"a resume repeats the {counted(lost, 'step')} since {where}"
        super().__init__(f"at step {step}; {said}")


def _to_device(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


def _trainable_state(module: nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.detach() for n, p in module.named_parameters() if p.requires_grad}


def train(
    recipe: Recipe,
    cfg: TrainConfig,
    out_dir: str | Path,
    *,
    dataset: Dataset | None = None,
    resume: bool = False,
    progress: bool = False,
    export: bool = True,
    memory_check: bool = True,
) -> TrainResult:
    """Train ``recipe`` into ``out_dir`` (``checkpoints/``, ``loss.jsonl``, ``samples/``, ``final/``).

    ``dataset`` overrides the recipe's (any map-style dataset valid for every index ≥ 0). With
    ``resume=True`` the run continues from ``out_dir/checkpoints/latest`` if there is one; a run that
    finished at ``cfg.steps`` (its checkpoint and ``final/`` of that step) takes no step and is not exported
    again (its folder is cleaned up as a resume's is: the log cut back to the step, config.json rewritten).
    ``progress=True`` draws a progress bar; without it (a library call draws no bar unasked, as
    ``generate`` and ``enhance_video``) the run logs its first and last steps and one a minute
    (``streamt2v.train.progress``). ``memory_check=False``: a CPU run is not refused where its network and
    training state seem not to fit in the free memory
    (:func:`~streamt2v.train.memory_needs.check_training_memory`).
    """
    out = home_path(out_dir)
    # before the accelerator joins a launch's processes: each would say the refusal, the first of each machine
    # alone does before then (cli); and before the network is built (a CPU run that does not fit the memory
    # was killed by the kernel, without a word)
    check_out_dir(out_dir, recipe, resume)
    # what an earlier run of the process fixed comes first: a run it keeps on a GPU is not the CPU's to check
    check_process_state(cfg)
    # the machine's first process alone, for them all: another, refused alone, left it waiting to join
    if memory_check and first_on_this_machine() and trains_on_the_cpu(cfg.cpu):
        check_training_memory(recipe, cfg, available_memory(), processes_on_this_machine())
    run = _Run(recipe, cfg, out, out_dir)
    # two runs on one --out (a job relaunched with --resume while the first still runs) would both write it
    made = make_run_folder(out) if run.main else []  # --out and the parents this process made
    held = lock_run_folder(out_dir) if run.main else None
    try:
        result = _train_locked(run, recipe, cfg, out, dataset, resume, progress, export)
    finally:
        # a folder that holds no run (the user's, refused; a start that failed) is left as it was found
        leave = held is not None and not is_run_folder(out)
        locks.release(held, remove=leave)
        if leave:
            remove_made_folders(made)
    # the folder given back before any process returns: the others' next train() there (a resume in the same
    # script) found it still held by the main process, and refused it as in use
    run.accelerator.wait_for_everyone()
    return result


def _train_locked(
    run: _Run,
    recipe: Recipe,
    cfg: TrainConfig,
    out: Path,
    dataset: Dataset | None,
    resume: bool,
    progress: bool,
    export: bool,
) -> TrainResult:
    """:func:`train`, its run folder held."""
    found = resume_main_first(run.accelerator, run.checkpoints) if resume else None
    start, resumed = 0, None
    if found is not None:
        resumed, checkpoint = found
        resumed = run.as_typed(resumed)  # named so: '~/runs/b/checkpoints/...' ('/home/me/runs/b/...')
        start = run.restore(resumed, checkpoint)
        if start == cfg.steps and exported_step(out / "final") == start:  # finished: no step, no export
            # but a resume's bookkeeping: a resume of the run stopped before its next checkpoint left log rows
            # after this step and a config.json of its own (the data the finished run trained on is its
            # checkpoint's record: no dataset is read)
            for key in ("data", "fps"):
                if key in run.saved:
                    run.run_config[key] = run.saved[key]
            tidied = run.prepare_folder(start)
            run.accelerator.wait_for_everyone()
            fps = run.run_config.get("fps")
            return TrainResult(out, start, already_finished=True, tidied=tidied, fps=fps)
        logger.info("resumed from %s at step %d", named_path(resumed), start)
    ds = dataset if dataset is not None else recipe.dataset(cfg.seed, progress=progress and run.main)
    run.record_data(ds, resumed)
    if dataset is None:  # the recipe's own videos (another dataset's rate is not the recipe's to say)
        run.record_frame_rate()
    loader = run.loader(ds, start)
    run.prepare_folder(start)
    if run.main and start < cfg.steps:  # a launcher that starts fewer processes than asked says nothing
        warn_of_slow_bf16(cfg)  # after the refusals, and only where steps remain
        b, a, w = cfg.batch_size, cfg.grad_accum, run.world
        processes = counted(w, "process", "processes")
        # the Args are spelled as flags by the command line's filter (cli/train)
        logger.info(
            "%s: steps %d to %d, %s each (%s × %s × %s)",
            recipe.name,
            start + 1,
            cfg.steps,
            counted(b * a * w, "sample"),
            Arg("batch_size", b),
            Arg("grad_accum", a),
            processes,
        )
    result = run.take_steps(loader, start, progress=progress)
    if export and run.main:
        run.export(result.step)
    run.accelerator.wait_for_everyone()
    return result


class _Run:
    """One call of :func:`train`: the accelerator, the trained module with its optimizer and EMA, the run
    config it records, and what it writes in its folder (log, checkpoints, samples, ``final/``)."""

    def __init__(self, recipe: Recipe, cfg: TrainConfig, out: Path, given: str | os.PathLike) -> None:
        from accelerate import Accelerator

        self.recipe, self.cfg, self.out, self.given = recipe, cfg, out, given  # given: ``out`` as typed
        self.checkpoints, self.log_path = out / "checkpoints", out / "loss.jsonl"
        self.accelerator = accelerator = Accelerator(mixed_precision=cfg.mixed_precision, cpu=cfg.cpu)
        self.main = accelerator.is_main_process
        self.rank, self.world = accelerator.process_index, accelerator.num_processes
        # folders absolute: the record reads from any working folder (assemble, --resume); the process count,
        # which with --batch-size and --grad-accum makes the samples of a step
        self.run_config: dict[str, Any] = {
            "recipe": recipe.name,
            "recipe_config": recorded_recipe_config(recipe),
            "train": asdict(cfg),
            "processes": self.world,
        }
        self.saved: dict[str, Any] = {}  # the resumed checkpoint's run config
        self._build()
        self.result = TrainResult(out, 0)
        self.saved_step = 0  # the step a resume would start from (the checkpoint resumed from, else 0)
        self.sample_inputs: Any = None  # the recipe's, made at the first sample

    def _build(self) -> None:
        """The module (from the run's seed), its optimizer, the compiled parts and the EMA."""
        cfg, recipe, accelerator = self.cfg, self.recipe, self.accelerator
        torch.manual_seed(cfg.seed)  # deterministic initialisation
        module = recipe.build()
        self.params = [p for p in module.parameters() if p.requires_grad]
        if not self.params:
            raise ValueError(f"recipe {recipe.name!r} built a module with no trainable parameters")
        optimizer = torch.optim.AdamW(self.params, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)
        self.module, self.optimizer = accelerator.prepare(module, optimizer)
        self.raw = accelerator.unwrap_model(self.module)
        if cfg.compile:
            parts = getattr(self.raw, "compile_parts", None)
            if parts is None:
                raise ValueError(
                    f"recipe {recipe.name!r} does not support compile (its module has no compile_parts)"
                )
            compile_modules(parts(), accelerator.device, cfg.compile)
        self.ema = EMA(self.raw, cfg.ema_decay) if cfg.ema_decay else None

    # -- resume ------------------------------------------------------------------------------------------

    def as_typed(self, path: Path) -> str:
        """``path``, in the run folder, under the folder as typed (``~/runs/b/checkpoints/...``): what the
        messages name, then as read (:func:`named_path`). Joined as text: a ``Path`` would drop the ``./`` of
        ``./~/run`` (a folder named ~), which then named the home folder's."""
        return os.path.join(os.fspath(self.given), os.fspath(path.relative_to(self.out)))

    def restore(self, path: str, ck: dict[str, Any]) -> int:
        """Check that checkpoint ``path`` (read as ``ck``; named as typed: :meth:`as_typed`) continues this
        run, load its weights, optimizer, EMA, grad scaler and RNG states, and return its step."""
        cfg = self.cfg
        self.saved = ck["state"]["config"]
        start = int(ck["state"]["step"])
        check_resumed_config(path, self.saved, self.run_config, self.recipe, start)
        named = named_path(path)
        trainable = _trainable_state(self.raw)
        if set(ck["model"]) != set(trainable):
            diff = sorted(set(ck["model"]) ^ set(trainable))
            raise ValueError(
                f"checkpoint {named} does not match the model's trainable parameters: {', '.join(diff[:5])}"
            )
        with torch.no_grad():
            for n, p in trainable.items():
                p.copy_(ck["model"][n])
        self.optimizer.load_state_dict(ck["optimizer"])
        if self.ema is not None:
            if ck["ema"] is None:
                raise ArgumentValueError(
                    f"checkpoint {named} has no EMA but ", Arg("ema_decay", cfg.ema_decay)
                )
            self.ema.load_state_dict(ck["ema"], ck["state"]["ema_updates"])
        elif ck["ema"] is not None:  # it would be dropped, and final/ exported from the raw weights
            raise ArgumentValueError(
                f"checkpoint {named} has an EMA but ",
                Arg("ema_decay"),
                " is off; resume with the run's ",
                Arg("ema_decay"),
            )
        scaler = self.accelerator.scaler
        if scaler is not None and ck["state"].get("scaler"):
            scaler.load_state_dict(ck["state"]["scaler"])
        set_rng_state(ck["rng"], ck["state"]["rng"])
        self.result.step = self.saved_step = start
        return start

    def record_data(self, ds: Dataset, resumed: str | None) -> None:
        """Record a folder of videos in the run config (the microworld's samples follow from the seed), with a
        warning when they changed since the checkpoint ``resumed``."""
        if not hasattr(ds, "fingerprint"):
            return
        now = self.run_config["data"] = ds.fingerprint()
        if resumed is not None and self.saved.get("data", now) != now:
            was_videos, now_videos = self.saved["data"]["videos"], now["videos"]
            logger.warning(
                "the training videos changed since %s (%s): the resumed run draws other samples "
                "than an uninterrupted one would",
                named_path(resumed),
                f"{was_videos} videos, now {now_videos}"
                if was_videos != now_videos
                else "other files, sizes or captions",
            )

    def record_frame_rate(self) -> None:
        """Record in the run config the frame rate of the recipe's videos (``assemble --fps``), once its
        dataset is made: a finished run resumed after they moved still knows it."""
        rate = getattr(self.recipe, "training_frame_rate", lambda: None)()
        if rate is not None:
            self.run_config["fps"] = self.result.fps = int(rate)

    # -- the run folder ------------------------------------------------------------------------------------

    def prepare_folder(self, start: int) -> list[str]:
        """Clear what a killed run left, the checkpoints and log rows after ``start``, and write config.json
        (when it differs). Returns what it did, in words (nothing: an empty list; other processes: too)."""
        # every process has checked out_dir before the main one writes there
        self.accelerator.wait_for_everyone()
        if not self.main:
            return []
        done: list[str] = []
        self.out.mkdir(parents=True, exist_ok=True)
        if removed := remove_run_leftovers(self.out):
            done.append(f"removed {counted(len(removed), 'leftover')} of a killed run")
        if start and (pruned := prune_checkpoints(self.checkpoints, self.cfg.keep_checkpoints, start)):
            done.append(f"removed {counted(len(pruned), 'older checkpoint')}")
        done += truncate_log(self.log_path, start)
        config_text = json.dumps(self.run_config, indent=1, sort_keys=True)
        config = self.out / "config.json"
        try:
            unchanged = config.read_bytes() == config_text.encode()
        except OSError:
            unchanged = False
        if not unchanged:  # a finished run resumed with its settings writes nothing
            existed = config.exists()
            atomic_write_file(config, lambda tmp: tmp.write_text(config_text))
            done.append(f"{'rewrote' if existed else 'wrote'} config.json")
        return done

    def checkpoint(self, step: int) -> None:
        accelerator, ema = self.accelerator, self.ema
        accelerator.wait_for_everyone()
        if self.main:
            extra = {"ema_updates": ema.num_updates if ema else 0}
            if accelerator.scaler is not None:
                extra["scaler"] = accelerator.scaler.state_dict()
            self.result.checkpoint = save_checkpoint(
                self.checkpoints,
                step,
                _trainable_state(self.raw),
                self.optimizer.state_dict(),
                self.run_config,
                ema.state_dict() if ema else None,
                extra,
                keep=self.cfg.keep_checkpoints,
            )
        accelerator.wait_for_everyone()
        self.saved_step = step

    def log(self, entry: dict[str, Any]) -> None:
        with self.log_path.open("a") as f:
            f.write(json.dumps(entry) + "\n")

    def sample(self, step: int) -> None:
        if self.sample_inputs is None:
            self.sample_inputs = self.recipe.sample_inputs()
        inputs = self.sample_inputs
        _run_hook(
            lambda m, s, d: self.recipe.sample(m, s, d, inputs),
            self.raw,
            self.ema,
            step,
            self.out / "samples",
        )

    def export(self, step: int) -> None:
        # written beside final/ and renamed: a stop during the export leaves no half-written final/ (which
        # would pass for a finished run); a resume exports again
        with atomic_folder(self.out / "final", overwrite=True) as tmp:
            _run_hook(lambda m, _s, d: self.recipe.export(m, d), self.raw, self.ema, step, tmp)
            record_exported_step(tmp, step)

    # -- the steps ---------------------------------------------------------------------------------------

    def loader(self, ds: Dataset, start: int) -> DataLoader:
        cfg = self.cfg
        workers = cfg.num_workers > 0  # a worker's error would reach us as its text alone
        return DataLoader(
            ErrorsTravelWhole(ds) if workers else ds,
            batch_size=cfg.batch_size,
            sampler=IndexStream(start, cfg, self.rank, self.world),
            collate_fn=CollateOrError(collate) if workers else collate,
            num_workers=cfg.num_workers,
            worker_init_fn=ignore_stop_signals if cfg.num_workers else None,
        )

    def take_steps(self, loader: DataLoader, start: int, progress: bool) -> TrainResult:
        """Steps ``start`` to ``cfg.steps`` with their log rows, checkpoints and samples; Ctrl-C (or SIGTERM)
        is :class:`TrainInterrupted`."""
        cfg, main, result = self.cfg, self.main, self.result
        bar = StepProgress(self.recipe.name, cfg.steps, start, bar=progress and main, lines=main)
        batches = None
        try:
            batches = iter(loader)  # starts the workers: inside the try, whose finally ends them
            if cfg.sample_every and start and start % cfg.sample_every == 0 and main:
                # a stop (kill -9, Ctrl-C) while the samples of the checkpoint's step were written, after the
                # checkpoint, would lose them: a resume writes them again (the same weights, the same samples)
                self.sample(start)
            self.module.train()
            for step in range(start, cfg.steps):
                t0 = time.perf_counter()
                lr = lr_at(cfg, step)
                for group in self.optimizer.param_groups:
                    group["lr"] = lr
                total, logs = self._accumulate_gradients(step, batches)
                grad_norm = None
                if cfg.max_grad_norm is not None:
                    grad_norm = float(self.accelerator.clip_grad_norm_(self.params, cfg.max_grad_norm))
                # a step and its due checkpoint complete together: an interrupt waits for both (else a stop
                # between them, or inside the write, lost the whole checkpoint interval)
                with interrupts_held():
                    loss_value, logs = self._apply_step(step, total, logs)
                    result.losses.append(loss_value)
                    done = step + 1
                    result.step = done
                    bar.update(done, loss_value)
                    if main and (done % cfg.log_every == 0 or done == cfg.steps):
                        entry = {
                            "step": done,
                            "loss": loss_value,
                            "lr": lr,
                            "sec": time.perf_counter() - t0,
                            **logs,
                        }
                        if grad_norm is not None:
                            entry["grad_norm"] = grad_norm
                        self.log(entry)
                    if done % cfg.checkpoint_every == 0 or done == cfg.steps:
                        self.checkpoint(done)
                if cfg.sample_every and done % cfg.sample_every == 0 and main:
                    self.sample(done)
        except KeyboardInterrupt:
            bar.close()
            # the steps a resume repeats, for the one line the command line prints
            raise TrainInterrupted(result.step, self.saved_step) from None
        finally:
            stop_workers(batches)
        bar.close()
        return result

    def _accumulate_gradients(
        self, step: int, batches: Iterator[Any]
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """The forward and backward passes of the step's micro-batches, each with its own draws: the step's
        mean loss (this process's) and the recipe's logged terms."""
        cfg, accelerator, module = self.cfg, self.accelerator, self.module
        total = torch.zeros((), device=accelerator.device)
        logs: dict[str, float] = {}
        for micro in range(cfg.grad_accum):
            batch = _to_device(next_batch(batches), accelerator.device)
            place = micro * self.world + self.rank  # the micro-batch's place in the step, across processes
            gen = torch.Generator().manual_seed(step_seed(cfg.seed, step, place))
            torch.manual_seed(step_seed(cfg.seed, step, place, stream=GLOBAL_RNG_STREAM))
            sync = accelerator.no_sync(module) if micro < cfg.grad_accum - 1 else nullcontext()
            with sync:
                with accelerator.autocast():
                    loss, micro_logs = module(batch, gen)
                accelerator.backward(loss / cfg.grad_accum)
            total += loss.detach().float() / cfg.grad_accum
            for k, v in micro_logs.items():
                logs[k] = logs.get(k, 0.0) + float(v) / cfg.grad_accum
        return total, logs

    def _apply_step(
        self, step: int, total: torch.Tensor, logs: dict[str, float]
    ) -> tuple[float, dict[str, float]]:
        """The optimizer and EMA updates; the loss and the logged terms averaged over processes (one
        reduction). A loss that is not finite stops the run."""
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        if self.ema is not None:
            self.ema.update(self.raw)
        names = sorted(logs)
        values = torch.stack([total, *(torch.tensor(logs[k], device=total.device) for k in names)])
        means = self.accelerator.reduce(values, reduction="mean").tolist()
        loss_value = means[0]
        if not np.isfinite(loss_value):
            raise ArgumentRuntimeError(
                f"loss is {loss_value} at step {step + 1}; lower ", Arg("lr"), " or check the data"
            )
        return loss_value, dict(zip(names, means[1:]))


def _run_hook(fn: Any, raw: nn.Module, ema: EMA | None, step: int, out_dir: Path) -> None:
    """Call ``fn(module, step, out_dir)`` in eval mode with the EMA weights loaded (if any)."""
    was_training = raw.training
    raw.eval()
    try:
        with torch.no_grad(), ema.applied(raw) if ema is not None else nullcontext():
            out_dir.mkdir(parents=True, exist_ok=True)
            fn(raw, step, out_dir)
    finally:
        raw.train(was_training)
