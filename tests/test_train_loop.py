"""The training loop on tiny vae and clip recipes: learning, resume, checkpoints (appendix training).
Runs killed (kill -9) and resumed, damaged checkpoints and logs: ``test_train_loop_crashes.py``; the
settings' checks when made: ``test_train_config_values.py``."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from dataclasses import replace

import pytest
import torch
from safetensors.torch import load_file

from conftest import tiny_vae, two_process_launch
from streamt2v.io.folders import _host_tag
from streamt2v.train.checkpoint import latest_checkpoint, load_training_checkpoint
from streamt2v.train.clip_recipe import ClipRecipe
from streamt2v.train.loop import TrainConfig, lr_at, train
from streamt2v.train.recipes import make_recipe
from streamt2v.train.train_config import check_process_state
from streamt2v.train.vae_recipe import VAERecipe, edge_weights
from streamt2v.train.word_tokenizer import build_word_tokenizer


def tiny_edge_weighted_vae() -> VAERecipe:
    return VAERecipe(**{**tiny_vae().__dict__, "edge_weight": 4.0})


def tiny_noised_latent_vae() -> VAERecipe:
    return VAERecipe(**{**tiny_vae().__dict__, "latent_noise": 0.3})


def tiny_clip() -> ClipRecipe:
    return ClipRecipe(
        size=16, image_size=16, hidden_size=32, num_heads=2, intermediate_size=64, projection_dim=32
    )


class Fixed(torch.utils.data.Dataset):
    """The same few samples over and over (a fixed batch)."""

    def __init__(self, ds, n):
        self.items = [ds[i] for i in range(n)]

    def __getitem__(self, i):
        return self.items[i % len(self.items)]


@pytest.mark.parametrize(
    "make,lr",
    [(tiny_vae, 3e-3), (tiny_edge_weighted_vae, 3e-3), (tiny_noised_latent_vae, 3e-3), (tiny_clip, 2e-3)],
)
def test_loss_decreases_on_a_fixed_batch(tmp_path, make, lr):
    recipe = make()
    cfg = TrainConfig(steps=12, batch_size=4, lr=lr, ema_decay=None, checkpoint_every=100)
    res = train(recipe, cfg, tmp_path, dataset=Fixed(recipe.dataset(0), 4), progress=False, export=False)
    first, last = sum(res.losses[:3]) / 3, sum(res.losses[-3:]) / 3
    assert last < 0.8 * first, res.losses


def test_edge_weights_single_out_edges_whatever_the_contrast():
    x = torch.full((2, 3, 12, 12), -1.0)
    x[:, :, 4:8, 4:8] = 1.0  # a square
    w = edge_weights(x, 4.0)
    assert w.shape == (2, 1, 12, 12)
    assert torch.all(w[..., :2, :] == 1) and torch.all(w[..., 5:7, 5:7] == 1)  # flat: weight 1
    assert w[0, 0, 4, 4] > 5 and w[0, 0, 3, 5] > 5  # both sides of the edge
    assert torch.allclose(w.mean(dim=(1, 2, 3)), torch.full((2,), 5.0))  # mean 1 + strength
    assert torch.allclose(edge_weights(0.2 * x, 4.0), w)  # contrast does not matter
    assert torch.equal(edge_weights(torch.zeros(1, 3, 4, 4), 4.0), torch.ones(1, 1, 4, 4))  # no edges


def test_edge_weight_reaches_only_the_reconstruction_error():
    """The edge-weighted recipe's ``rec`` is its weighted error, ``mse`` the plain one (the unweighted run's
    ``rec``), the KL untouched. Only ``edge_weights`` itself was checked: a recipe that dropped the option
    trained (and passed the fixed-batch test) as the plain VAE."""
    plain, weighted = tiny_vae().build(), tiny_edge_weighted_vae().build()
    weighted.load_state_dict(plain.state_dict())
    batch = {"video": tiny_vae().dataset(0)[0]["video"][None]}
    _, plain_logs = plain(batch, torch.Generator().manual_seed(1))
    _, logs = weighted(batch, torch.Generator().manual_seed(1))
    assert "mse" not in plain_logs
    assert logs["mse"] == pytest.approx(plain_logs["rec"], rel=1e-6) and logs["kl"] == plain_logs["kl"]
    assert logs["rec"] != pytest.approx(logs["mse"], rel=1e-3)


def test_latent_noise_perturbs_only_the_decoded_latents():
    torch.manual_seed(0)
    trainer = tiny_vae().build()
    batch = {"video": tiny_vae().dataset(0)[0]["video"][None]}

    def run(noise: float) -> tuple[float, dict]:
        trainer.latent_noise = noise
        loss, logs = trainer(batch, torch.Generator().manual_seed(1))
        return float(loss.detach()), logs

    clean, clean_logs = run(0.0)
    assert run(0.0)[0] == clean  # the same draws without noise
    noised, noised_logs = run(0.5)
    assert noised_logs["rec"] != clean_logs["rec"]  # the decoder saw other latents
    assert noised_logs["kl"] == clean_logs["kl"]  # the posterior itself is untouched


def test_ema_is_the_moving_average_with_its_warm_up():
    """shadow ← d·shadow + (1 − d)·weights, d = min(decay, (1 + n) / (10 + n)) after n updates; applied() loads
    it into the module and puts the weights back. Nothing checked the average: its weights swapped, or no
    warm-up, passed every test."""
    from streamt2v.train.ema import EMA

    module = torch.nn.Linear(2, 1)
    module.bias.requires_grad_(False)  # not trained: not averaged
    ema = EMA(module, decay=0.9)
    expected = module.weight.detach().clone()
    for n in range(4):
        with torch.no_grad():
            module.weight.add_(1.0)
        ema.update(module)
        d = min(0.9, (1 + n) / (10 + n))
        expected = d * expected + (1 - d) * module.weight.detach()
    assert ema.names == ["weight"] and torch.allclose(ema.state_dict()["weight"], expected)
    weights = module.weight.detach().clone()
    with ema.applied(module):
        assert torch.equal(module.weight, ema.state_dict()["weight"])
    assert torch.equal(module.weight, weights)


def test_final_is_exported_from_the_ema_weights(tmp_path):
    cfg = TrainConfig(steps=2, batch_size=1, checkpoint_every=2, sample_every=0, ema_decay=0.9)
    train(tiny_vae(), cfg, tmp_path, progress=False)
    saved = load_training_checkpoint(latest_checkpoint(tmp_path / "checkpoints"))
    final = load_file(tmp_path / "final" / "vae" / "diffusion_pytorch_model.safetensors")
    assert all(torch.equal(final[k], saved["ema"][f"vae.{k}"]) for k in final)
    assert not all(torch.equal(final[k], saved["model"][f"vae.{k}"]) for k in final)  # the raw weights differ


def test_lr_schedule_warms_up_then_decays():
    const = TrainConfig(steps=110, lr=1e-3, warmup_steps=10)
    cos = TrainConfig(steps=110, lr=1e-3, warmup_steps=10, lr_schedule="cosine")
    for cfg in (const, cos):
        assert [lr_at(cfg, s) for s in (0, 4, 9)] == pytest.approx([1e-4, 5e-4, 1e-3])
    assert [lr_at(const, s) for s in (10, 60, 109)] == pytest.approx([1e-3] * 3)
    assert [lr_at(cos, s) for s in (10, 60, 110)] == pytest.approx([1e-3, 5e-4, 0.0])
    lrs = [lr_at(cos, s) for s in range(10, 110)]
    assert all(a > b for a, b in zip(lrs, lrs[1:]))  # strictly decreasing after warm-up
    with pytest.raises(ValueError, match="^lr_schedule 'step'; choose one of constant, cosine$"):
        TrainConfig(lr_schedule="step")


def test_run_follows_its_lr_schedule(tmp_path, caplog):
    cfg = TrainConfig(steps=4, batch_size=2, lr=1e-3, warmup_steps=1, lr_schedule="cosine", ema_decay=None)
    with caplog.at_level(logging.INFO, logger="streamt2v.train.loop"):
        train(tiny_vae(), cfg, tmp_path, progress=False, export=False)
    # the Python caller's parameters (the command line's flags: test_train_distributed_resume)
    assert "vae: steps 1 to 4, 2 samples each (batch_size=2 × grad_accum=1 × 1 process)" in caplog.text
    logged = [json.loads(ln)["lr"] for ln in (tmp_path / "loss.jsonl").read_text().splitlines()]
    assert logged == pytest.approx([lr_at(cfg, s) for s in range(4)])
    assert logged[0] == logged[1] == pytest.approx(1e-3) and logged[1] > logged[2] > logged[3] > 0


def test_resume_is_bit_exact(tmp_path, caplog):
    recipe = tiny_vae()
    cfg = TrainConfig(steps=6, batch_size=2, lr=1e-3, grad_accum=2, checkpoint_every=3, ema_decay=0.9)
    full = train(recipe, cfg, tmp_path / "a", progress=False, export=False)
    part = train(
        recipe, TrainConfig(**{**cfg.__dict__, "steps": 3}), tmp_path / "b", progress=False, export=False
    )
    rest = train(recipe, cfg, tmp_path / "b", resume=True, progress=False, export=False)
    assert part.losses + rest.losses == full.losses
    a = load_training_checkpoint(latest_checkpoint(tmp_path / "a" / "checkpoints"))
    b = load_training_checkpoint(latest_checkpoint(tmp_path / "b" / "checkpoints"))
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert all(torch.equal(a["ema"][k], b["ema"][k]) for k in a["ema"])
    steps = [json.loads(ln)["step"] for ln in (tmp_path / "b" / "loss.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4, 5, 6]
    saved = a["state"]["config"]
    assert saved["recipe"] == "vae" and saved["recipe_config"]["block_out_channels"] == [8, 16]
    # a finished run without --resume refuses to overwrite
    with pytest.raises(FileExistsError, match="resume"):
        train(recipe, cfg, tmp_path / "a", progress=False, export=False)
    # a different recipe config cannot resume; the error names the option that changed
    other = VAERecipe(**{**recipe.__dict__, "kl_weight": 0.5})
    with pytest.raises(ValueError, match=r"cannot resume .*\(kl_weight: 0.001 -> 0.5\)"):
        train(other, cfg, tmp_path / "a", resume=True, progress=False, export=False)
    # nor drop the EMA (final/ would be exported from the raw weights), nor go back before its step
    with pytest.raises(
        ValueError, match="has an EMA but ema_decay is off; resume with the run's ema_decay$"
    ) as err:
        train(recipe, replace(cfg, ema_decay=None), tmp_path / "a", resume=True, progress=False)
    assert str(err.value.as_flags()).endswith(
        "has an EMA but --ema-decay is off; resume with the run's --ema-decay"
    )
    caplog.clear()
    with caplog.at_level(logging.WARNING), pytest.raises(ValueError, match="at step 6 with steps=4"):
        train(recipe, replace(cfg, steps=4), tmp_path / "a", resume=True, progress=False)
    assert "changed training settings" not in caplog.text  # the refusal alone: no warning of the steps first


def test_nothing_in_out_dir_is_overwritten_without_resume(tmp_path, caplog):
    """A finished run whose checkpoints were deleted, or a folder of the user's own files, is refused
    without --resume (its final/ weights, log and files kept); --resume only continues a run of the
    same recipe; --resume on a new folder starts a run there, saying so."""
    recipe = tiny_vae()
    cfg = TrainConfig(steps=1, batch_size=2, checkpoint_every=5, ema_decay=None)
    train(recipe, cfg, tmp_path / "run", progress=False)
    shutil.rmtree(tmp_path / "run" / "checkpoints")
    weights = tmp_path / "run" / "final" / "vae" / "diffusion_pytorch_model.safetensors"
    before, log = weights.read_bytes(), (tmp_path / "run" / "loss.jsonl").read_text()
    with pytest.raises(
        FileExistsError,
        match=r"is not empty; pass resume=True to continue the run there, or another out_dir$",
    ):
        train(recipe, cfg, tmp_path / "run", progress=False)
    assert weights.read_bytes() == before and (tmp_path / "run" / "loss.jsonl").read_text() == log

    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "config.json").write_text('{"my": "notes"}')
    for resume in (False, True):
        with pytest.raises(FileExistsError, match="not empty"):
            train(recipe, cfg, mine, resume=resume, progress=False)
    assert (mine / "config.json").read_text() == '{"my": "notes"}' and len(list(mine.iterdir())) == 1
    with pytest.raises(ValueError, match="it is a 'vae' run, this is 'clip'"):
        train(tiny_clip(), cfg, tmp_path / "run", resume=True, progress=False)

    with caplog.at_level(logging.WARNING, logger="streamt2v.train.loop"):
        res = train(recipe, cfg, tmp_path / "new", resume=True, progress=False, export=False)
    assert res.step == 1 and "nothing to resume" in caplog.text


def test_a_run_that_failed_before_its_first_checkpoint_says_what_can_be_done(tmp_path):
    """Its config.json made the same command say only "not empty; pass --resume"."""
    recipe = tiny_vae()
    bad = TrainConfig(
        steps=3, batch_size=2, checkpoint_every=5, lr=1e30
    )  # weights overflow at step 1: nan at 2
    with pytest.raises(RuntimeError, match="^loss is nan at step 2; lower lr or check the data$") as lost:
        train(recipe, bad, tmp_path / "run", progress=False)
    assert str(lost.value.as_flags()).endswith("; lower --lr or check the data")  # the command line's flag
    assert (tmp_path / "run" / "config.json").is_file()
    with pytest.raises(
        FileExistsError, match=r"holds a run stopped before its first checkpoint: pass resume=True "
    ) as err:
        train(recipe, replace(bad, lr=1e-3), tmp_path / "run", progress=False)
    # the command line's words: it shows the error after as_flags()
    assert str(err.value.as_flags()).endswith(" or give another --out") and "pass --resume to start" in str(
        err.value
    )


def test_a_log_line_that_is_not_ours_is_named(tmp_path):
    recipe = tiny_vae()
    cfg = TrainConfig(steps=1, batch_size=2, ema_decay=None)
    train(recipe, cfg, tmp_path, progress=False, export=False)
    with (tmp_path / "loss.jsonl").open("a") as f:
        f.write("my notes\n")
    with pytest.raises(ValueError, match=r"loss.jsonl line 2 is not a loss-log entry"):
        train(recipe, replace(cfg, steps=2), tmp_path, resume=True, progress=False, export=False)


def test_a_second_run_in_the_process_with_another_precision_is_refused_naming_both(tmp_path):
    """accelerate keeps a process's first precision (its AcceleratorState): a second run with another one
    failed in accelerate's words ("restart your runtime completely and pass `mixed_precision='bf16'` to
    `Accelerator()`"), after the run folder was made."""
    cfg = TrainConfig(steps=1, batch_size=1)
    train(tiny_vae(), cfg, tmp_path / "a", progress=False, export=False)  # this process's first, if none ran
    said = (
        r"^an earlier run in this process trained with mixed_precision='no', which accelerate keeps to the "
        r"end of the process: train with mixed_precision='no' here, or with mixed_precision='bf16' in a "
        r"process of its own$"
    )
    with pytest.raises(ValueError, match=said):  # accelerate's was a ValueError: a caller may catch one
        train(tiny_vae(), replace(cfg, mixed_precision="bf16"), tmp_path / "b", progress=False)
    assert not (tmp_path / "b").exists()


def test_a_second_run_is_told_what_its_own_process_would_tell_it(tmp_path, monkeypatch, caplog):
    """After a run on the CPU, fp16 was told to run in a process of its own, where it is refused as needing a
    GPU: that refusal comes first. The warning of a run kept on the CPU looked for CUDA alone (MPS: none)."""
    from accelerate.state import AcceleratorState, PartialState

    cfg = TrainConfig(steps=1, batch_size=1)
    train(tiny_vae(), cfg, tmp_path / "a", progress=False, export=False)  # this process's first, if none ran
    if AcceleratorState().device.type != "cpu":
        pytest.skip("this process trains on a GPU")
    with pytest.raises(ValueError, match=r"^mixed_precision='fp16' needs a GPU \(this run is on the CPU\)"):
        train(tiny_vae(), replace(cfg, mixed_precision="fp16"), tmp_path / "b", progress=False)
    assert not (tmp_path / "b").exists()
    monkeypatch.setattr(PartialState, "default_device", property(lambda self: torch.device("mps")))
    with caplog.at_level(logging.WARNING, logger="streamt2v.train.train_config"):
        check_process_state(cfg)
    assert [r.getMessage() for r in caplog.records] == [
        "training on the CPU, as an earlier run in this process did (cpu=True; accelerate keeps it to the end "
        "of the process): to train on mps, run it in a process of its own"
    ]


def test_recipe_options_are_typed_and_named_when_wrong():
    """`--set` values arrive as JSON or text: booleans may be spelt true/false, lists become tuples; any
    other mismatch is one error naming the option and value (not a traceback at step 1)."""
    assert make_recipe("vae", kl_weight=1, block_out_channels=[16, 32]).kl_weight == 1.0
    base = make_recipe("base", x0_loss="False", rescale_betas_zero_snr="true", prediction_type="v_prediction")
    assert base.x0_loss is False and base.rescale_betas_zero_snr is True
    for option, message in [
        ({"kl_weight": "abc"}, "kl_weight='abc' must be a finite number"),
        ({"latent_channels": 4.5}, "latent_channels=4.5 must be an integer"),
        ({"latent_channels": True}, "latent_channels=True must be an integer"),
        ({"block_out_channels": 16}, "block_out_channels=16 must be a list of ints"),
        ({"name": "foo"}, r"^recipe 'vae' takes no name \(no recipe's option\); its options: "),
    ]:
        with pytest.raises(ValueError, match=message):
            make_recipe("vae", **option)
    with pytest.raises(ValueError, match="x0_loss='maybe' must be true or false"):
        make_recipe("base", x0_loss="maybe")
    with pytest.raises(ValueError, match="text_drop is a probability"):
        make_recipe("base", text_drop=2)
    with pytest.raises(ValueError, match="timestep_spacing must be one of"):
        make_recipe("base", timestep_spacing="bad")
    with pytest.raises(ValueError, match="together ≤ 1"):
        make_recipe("stream", anchor_drop=0.6, both_drop=0.5)


def test_exports_load_with_library_classes(tmp_path):
    from diffusers import AutoencoderKL
    from transformers import AutoTokenizer, CLIPTextModel, CLIPVisionModelWithProjection

    from streamt2v.models.encoders import ImageEncoder, TextEncoder

    cfg = TrainConfig(steps=1, batch_size=2, lr=1e-3, checkpoint_every=1)
    train(tiny_vae(), cfg, tmp_path / "vae", progress=False)
    vae = AutoencoderKL.from_pretrained(tmp_path / "vae" / "final" / "vae")
    assert vae.config.scaling_factor != 0.18215 and vae.config.scaling_factor > 0
    train(tiny_clip(), replace(cfg, sample_every=1), tmp_path / "clip", progress=False)
    # the clip recipe's sample is its retrieval accuracy (before: an empty samples/ folder)
    sample = json.loads((tmp_path / "clip" / "samples" / "clip-00000001.json").read_text())
    assert sample["step"] == 1 and sample["samples"] == 32 and 0 <= sample["frame_to_caption_top1"] <= 1
    # written whole or not at all: what a kill during that write leaves is removed by the resume
    killed = tmp_path / "clip" / "samples" / ".clip-00000001.json.tmp-4194304"
    killed.write_text('{"step": 1, "fr')
    # and what a kill during the final/ export leaves (atomic_folder's names since 3756ff2, and before)
    dead_pid = subprocess.Popen(["true"])
    dead_pid.wait()
    exports = [
        tmp_path / "clip" / f".final.tmp-{dead_pid.pid}-{_host_tag()}-0123abcd",
        tmp_path / "clip" / ".final.tmp-0123abcd",
        tmp_path / "clip" / f".final.tmp-{dead_pid.pid}-0badc0de-0123abcd",  # a preempted job on another node
    ]
    for p in exports:
        (p / "text_encoder").mkdir(parents=True)
    train(
        tiny_clip(),
        replace(cfg, sample_every=1),
        tmp_path / "clip",
        resume=True,
        progress=False,
        export=False,
    )
    assert not killed.exists() and json.loads(killed.with_name("clip-00000001.json").read_text()) == sample
    assert not any(p.exists() for p in exports)
    final = tmp_path / "clip" / "final"
    text = TextEncoder(
        AutoTokenizer.from_pretrained(final / "tokenizer"),
        CLIPTextModel.from_pretrained(final / "text_encoder"),
    )
    assert text.encode(["a red circle bouncing on a blue background", ""]).shape == (2, 24, 32)
    image = ImageEncoder(CLIPVisionModelWithProjection.from_pretrained(final / "image_encoder"))
    assert image.encode(torch.zeros(1, 3, 32, 32)).shape == (1, 32)
    from streamt2v.metrics.clip_score import load_clip

    scorer = load_clip(final / "clip")
    assert (
        -100
        <= scorer.score(torch.zeros(1, 3, 4, 16, 16), "a red circle bouncing on a blue background")
        <= 100
    )


def test_word_tokenizer_and_unknown_recipe():
    tok = build_word_tokenizer(8)
    ids = tok(["a red circle"], padding="max_length", max_length=8).input_ids[0]
    assert ids[0] == tok.bos_token_id and ids[4] == tok.eos_token_id and ids[5:] == [tok.pad_token_id] * 3
    assert tok("a red dragon").input_ids[3] == tok.unk_token_id
    # a likely typo is named (it said only the recipes to choose from)
    with pytest.raises(ValueError, match=r"^unknown recipe 'vea' \(vae\?\); choose one of vae, clip, base,"):
        make_recipe("vea")
    with pytest.raises(ValueError, match=r"^recipe 'vae' takes no bogus \(no recipe's option\)"):
        make_recipe("vae", bogus=1)


_SPLIT_RUN = """
import json, os, sys
from pathlib import Path
from streamt2v.train.loop import TrainConfig, train
from streamt2v.train.vae_recipe import VAERecipe

out, accum = sys.argv[1], int(sys.argv[2])
recipe = VAERecipe(size=16, block_out_channels=(8, 16), norm_num_groups=4, frames_per_sample=2, scaling_samples=2)
cfg = dict(batch_size=2, lr=1e-3, grad_accum=accum, checkpoint_every=1, cpu=True)
first = train(recipe, TrainConfig(steps=2, **cfg), out, progress=False, export=False)
rest = train(recipe, TrainConfig(steps=3, **cfg), out, resume=True, progress=False)
# a file per process: lines the processes print at the same moment can interleave
rank = os.environ.get("RANK", "0")
Path(out, f"losses-rank{rank}.json").write_text(json.dumps(first.losses + rest.losses))
"""


def test_two_processes_take_the_steps_of_one_with_twice_the_accumulation(tmp_path):
    """Data-parallel training (2 processes on the CPU, gloo, as on several GPUs): rank-split samples,
    per-micro-batch draws, averaged gradients and logs, main-process checkpoints, resume. Two processes
    with grad_accum 1 must take the steps of one process with grad_accum 2, up to float summation order."""
    script = tmp_path / "run.py"
    script.write_text(_SPLIT_RUN)
    launch = two_process_launch()
    # the two runs go side by side (their start-ups are most of their time)
    two, one = (
        subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for args in (
            [*launch, str(script), str(tmp_path / "two"), "1"],
            [sys.executable, str(script), str(tmp_path / "one"), "2"],
        )
    )
    for run in (two, one):
        _, err = run.communicate()
        assert run.returncode == 0, err[-3000:]

    losses_two = [json.loads((tmp_path / "two" / f"losses-rank{r}.json").read_text()) for r in (0, 1)]
    assert losses_two[0] == losses_two[1]  # every rank saw the reduced loss
    losses_one = json.loads((tmp_path / "one" / "losses-rank0.json").read_text())
    assert len(losses_one) == 3 and losses_two[0] == pytest.approx(losses_one, rel=1e-5)
    logs = {
        name: [json.loads(ln) for ln in (tmp_path / name / "loss.jsonl").read_text().splitlines()]
        for name in ("one", "two")
    }
    assert [e["step"] for e in logs["two"]] == [1, 2, 3]  # one line per step, from the main process
    for a, b in zip(logs["one"], logs["two"]):
        assert b["rec"] == pytest.approx(a["rec"], rel=1e-5)  # averaged over processes
        assert b["kl"] == pytest.approx(a["kl"], rel=1e-5)
    # Adam divides by the gradient's running RMS, so float-order differences in near-zero gradients move
    # a weight by up to ~lr per step; the losses above are the sharp check.
    a = load_training_checkpoint(latest_checkpoint(tmp_path / "one" / "checkpoints"))["model"]
    b = load_training_checkpoint(latest_checkpoint(tmp_path / "two" / "checkpoints"))["model"]
    assert a.keys() == b.keys() and all(torch.allclose(a[k], b[k], atol=3e-3) for k in a)


def test_a_leading_tilde_is_the_home_folder_as_on_the_command_line(tmp_path, monkeypatch):
    """train(..., "~/runs/x") made a folder named "~" in the working one, and a recipe's data="~/videos" read
    from there: the Python API takes ~ as the command line's path flags do."""
    from streamt2v.train.recipes import PATH_OPTIONS, recipe_classes, recipe_options
    from streamt2v.train.resume_settings import recorded_recipe_config

    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    result = train(tiny_vae(), TrainConfig(steps=1, batch_size=1), "~/runs/x", progress=False, export=False)
    assert result.out_dir == home / "runs" / "x" and (home / "runs" / "x" / "config.json").is_file()
    assert not (work / "~").exists()
    for name, cls in recipe_classes().items():
        paths = {key: f"~/{key}" for key in PATH_OPTIONS if key in recipe_options(cls)}
        extra = {"degrade_scale": 2} if "degrade_vae" in paths else {}
        recipe = make_recipe(name, **paths, **extra)
        # recorded expanded; every path kept as given, expanded where it is read (frozen.need_dir,
        # VideoFolderDataset, caption_rows), so that its refusals name it as given (data was expanded here)
        recorded = recorded_recipe_config(recipe)
        assert {key: recorded[key] for key in paths} == {key: str(home / key) for key in paths}, name
        kept = {key: getattr(recipe, key) for key in paths}
        assert kept == {key: f"~/{key}" for key in paths}, name
    assert tiny_vae().__class__(data="./~/videos").data == "./~/videos"  # a folder named ~ stays itself


_REFUSED_THEN_TRAINED = """
import sys
from streamt2v.train.loop import TrainConfig, train
from streamt2v.train.vae_recipe import VAERecipe

recipe = VAERecipe(size=16, block_out_channels=(8, 16), norm_num_groups=4, frames_per_sample=2, scaling_samples=2)
cfg = dict(steps=1, batch_size=1, cpu=True)
try:
    train(recipe, TrainConfig(mixed_precision="fp16", **cfg), sys.argv[1] + "/a", progress=False)
except ValueError as e:
    print(e)
else:
    raise SystemExit("fp16 on the CPU trained")
print(train(recipe, TrainConfig(**cfg), sys.argv[1] + "/b", progress=False, export=False).step)
"""


def test_a_refused_run_does_not_hold_its_precision_over_the_next(tmp_path):
    """fp16 on the CPU was refused once accelerate had made its state with fp16, which it keeps to the end of
    the process: the next run, in fp32, was refused as "an earlier run in this process trained with
    mixed_precision='fp16'". A process of its own: this one's state is that of the tests before."""
    script = tmp_path / "run.py"
    script.write_text(_REFUSED_THEN_TRAINED)
    done = subprocess.run([sys.executable, str(script), str(tmp_path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.splitlines() == [
        "mixed_precision='fp16' needs a GPU (this run is on the CPU); use mixed_precision='bf16' or "
        "mixed_precision='no' on the CPU",
        "1",
    ]
    assert not (tmp_path / "a").exists()


@pytest.mark.parametrize("make", [tiny_vae, tiny_clip], ids=["vae", "clip"])
def test_every_file_a_run_writes_gets_the_umask_permissions(tmp_path, make):
    """safetensors makes its files 0600: a run's checkpoint weights, EMA, optimizer and RNG state and the
    weights in final/ were unreadable to the group beside the 0644 (umask 022) config, log and samples. Every
    file and folder of the run (a resume's too) now gets the umask's permissions."""
    out = tmp_path / "run"
    cfg = {"steps": 2, "batch_size": 1, "checkpoint_every": 1, "sample_every": 1, "ema_decay": 0.9}
    old = os.umask(0o027)
    try:
        train(make(), TrainConfig(**cfg), out, progress=False)
        train(make(), TrainConfig(**{**cfg, "steps": 3}), out, resume=True, progress=False)
    finally:
        os.umask(old)
    modes = {str(p.relative_to(out)): p.stat().st_mode & 0o777 for p in out.rglob("*")}
    assert {"checkpoints/step-00000003/optimizer.safetensors", "final/run_step.json"} <= set(modes)
    assert any(name.startswith("samples/") for name in modes)
    wrong = {
        name: oct(mode) for name, mode in modes.items() if mode != (0o750 if (out / name).is_dir() else 0o640)
    }
    assert not wrong
