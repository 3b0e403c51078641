"""``torch.compile`` of training steps (``TrainConfig.compile``, ``streamt2v train --compile``)."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from streamt2v.train.checkpoint import latest_checkpoint, load_checkpoint
from streamt2v.train.loop import TrainConfig, train
from streamt2v.train.recipes import make_recipe


def tiny_base(encoders):
    vae, clip = encoders
    return make_recipe("base", size=16, vae=vae, clip=clip, num_frames=8, max_start=8)


def test_compiled_training_takes_the_steps_of_eager_training(tmp_path, encoders):
    """Through dynamo and AOT autograd with inductor's decompositions (``aot_eager_decomp_partition``:
    inductor without its code generation, which takes minutes on a CPU)."""
    torch._dynamo.reset()
    recipe = tiny_base(encoders)
    cfg = TrainConfig(steps=3, batch_size=2, lr=1e-3, ema_decay=0.9, checkpoint_every=3)
    eager = train(recipe, cfg, tmp_path / "eager", progress=False)
    torch._dynamo.utils.counters.clear()
    compiled_cfg = TrainConfig(**{**cfg.__dict__, "compile": "aot_eager_decomp_partition"})
    compiled = train(recipe, compiled_cfg, tmp_path / "compiled", progress=False)
    # dynamo captured graphs (the UNet's forward, the VAE encoder's), so the steps ran the traced code
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] >= 2
    # the same forward before any update; then Adam's first steps amplify float reassociation in the
    # decomposed kernels (a near-zero gradient's sign decides a ±lr step), so close, not equal
    assert compiled.losses[0] == pytest.approx(eager.losses[0], rel=1e-6)
    assert compiled.losses == pytest.approx(eager.losses, rel=2e-3)
    a = load_checkpoint(latest_checkpoint(tmp_path / "eager" / "checkpoints"))
    b = load_checkpoint(latest_checkpoint(tmp_path / "compiled" / "checkpoints"))
    assert set(a["model"]) == set(b["model"])  # compiled in place: no "_orig_mod." names
    exported = load_file(tmp_path / "compiled/final/unet/diffusion_pytorch_model.safetensors")
    assert (
        exported.keys() == load_file(tmp_path / "eager/final/unet/diffusion_pytorch_model.safetensors").keys()
    )
    torch._dynamo.reset()


def test_unknown_compile_backend_is_named(tmp_path, encoders):
    cfg = TrainConfig(steps=1, batch_size=2, compile="inductr", checkpoint_every=1)
    with pytest.raises(ValueError, match="'inductr'.*inductor"):
        train(tiny_base(encoders), cfg, tmp_path / "run", progress=False)


def test_compile_without_a_cpp_compiler_is_refused_before_training(tmp_path, encoders, monkeypatch):
    monkeypatch.setenv("CXX", "no-such-compiler-x")
    cfg = TrainConfig(steps=1, batch_size=2, compile="inductor", checkpoint_every=1)
    with pytest.raises(RuntimeError, match="C\\+\\+ compiler.*no-such-compiler-x"):
        train(tiny_base(encoders), cfg, tmp_path / "run", progress=False)
    assert not (tmp_path / "run" / "checkpoints").exists()
