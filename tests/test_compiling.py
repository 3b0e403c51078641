"""``torch.compile`` of training steps (``streamt2v train --compile``) and of generation (``generate --compile``)."""

from __future__ import annotations

import json
import sys

import pytest
import torch
from safetensors.torch import load_file

from streamt2v.cli import main
from streamt2v.pipeline.generate import GenerateConfig, generate
from streamt2v.pipeline.stream import StreamConfig
from streamt2v.train.checkpoint import latest_checkpoint, load_training_checkpoint
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
    a = load_training_checkpoint(latest_checkpoint(tmp_path / "eager" / "checkpoints"))
    b = load_training_checkpoint(latest_checkpoint(tmp_path / "compiled" / "checkpoints"))
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


def test_compiled_generation_makes_the_eager_video(tmp_path):
    """Stages 1-2 of a tiny random-weight model (``--model tiny``) with and without compile."""
    torch._dynamo.reset()
    videos, graphs = {}, {}
    for name, backend in (("eager", None), ("compiled", "aot_eager_decomp_partition")):
        chunks = []
        cfg = GenerateConfig(
            output=str(tmp_path / f"{name}.mp4"),
            stream=StreamConfig(num_frames=24, seed=7, steps=2, init_steps=2, cond_replacement=True),
            prompt="a red circle",
            model="tiny",
            device="cpu",
            run_dir=str(tmp_path / f"run-{name}"),
            compile=backend,
        )
        torch._dynamo.utils.counters.clear()
        generate(cfg, on_chunk=lambda chunk, chunks=chunks: chunks.append(chunk.frames))
        videos[name] = torch.cat(chunks, dim=2)
        graphs[name] = torch._dynamo.utils.counters["stats"]["unique_graphs"]
    # both UNets, the VAE's decoder and its encoder (conditioning frames, for cond_replacement) ran compiled
    assert graphs == {"eager": 0, "compiled": 4}
    assert videos["compiled"].shape == (1, 3, 24, 64, 64)
    assert torch.allclose(videos["compiled"], videos["eager"], atol=1e-4)
    # kept in the run's config, so a resumed run compiles too
    assert GenerateConfig.from_dict(
        json.loads((tmp_path / "run-compiled/config.json").read_text())
    ).compile == ("aot_eager_decomp_partition")
    torch._dynamo.reset()


def test_generate_refuses_an_unknown_compile_backend_before_loading(tmp_path, capsys):
    out = tmp_path / "x.mp4"
    assert main(["generate", "a red circle", "-o", str(out), "--compile", "inductr", "--no-progress"]) == 2
    assert "'inductr'" in capsys.readouterr().err and not out.exists()


def test_compiled_refiner_enhances_as_the_eager_one():
    """Stage 3 with the shipped microworld refiner (``Refiner.compile``, used by ``generate --compile --enhance``)."""
    from streamt2v.pipeline.default_refiner import default_refiner
    from streamt2v.pipeline.enhance import enhance_video

    torch._dynamo.reset()
    video = torch.rand((1, 3, 24, 32, 32), generator=torch.Generator().manual_seed(0)) * 2 - 1
    prompt = "a red circle bouncing on a blue background"
    eager = default_refiner((32, 32))
    expected = enhance_video(video, prompt, eager, eager.config(), seed=0)
    compiled = default_refiner((32, 32)).compile("aot_eager_decomp_partition")
    torch._dynamo.utils.counters.clear()
    enhanced = enhance_video(video, prompt, compiled, compiled.config(), seed=0)
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] == 3  # UNet, VAE encoder and decoder
    assert enhanced.shape == (1, 3, 24, 64, 64)
    assert torch.allclose(enhanced, expected, atol=1e-4)
    torch._dynamo.reset()


@pytest.mark.parametrize("backend", ["nope", "relu_compile_error_TESTING_ONLY", "dynamo_minifier_backend"])
def test_an_unknown_backend_lists_only_backends_a_job_can_use(backend):
    """``--compile nope`` listed torch's test fixtures (relu_compile_error_TESTING_ONLY, ..., which fail on
    purpose) and its minifier's backends among the choices, and took them."""
    from streamt2v.compiling import check_compile_support

    with pytest.raises(ValueError) as refused:
        check_compile_support("cpu", backend)
    message = str(refused.value)
    assert "\n" not in message
    assert message.startswith(f"unknown torch.compile backend {backend!r}; choose one of ")
    assert "inductor" in message and "aot_eager_decomp_partition" in message
    assert "TESTING_ONLY" not in message.replace(backend, "") and "minifier" not in message.replace(
        backend, ""
    )


@pytest.mark.parametrize(("backend", "package"), [("tvm", "tvm"), ("openxla", "torch_xla")])
def test_a_backend_whose_package_is_missing_is_neither_offered_nor_taken(
    backend, package, tmp_path, monkeypatch
):
    """torch registers tvm and openxla whatever is installed, and without their packages they fail on the
    first compiled call; they were offered by ``--compile nope`` and taken. Found without importing them."""
    import importlib.util
    import re
    import sys

    from streamt2v.compiling import check_compile_support, compile_backends

    if importlib.util.find_spec(package) is not None:
        pytest.skip(f"the {package} package is installed")
    assert backend in torch._dynamo.list_backends(exclude_tags=())  # registered by torch all the same
    assert backend not in sum(compile_backends(), [])
    with pytest.raises(ValueError) as refused:
        check_compile_support("cpu", backend)
    message = str(refused.value)
    assert "\n" not in message
    assert message.startswith(
        f"torch.compile backend {backend!r} needs the {package!r} package, which is not installed; choose one of "
    )
    choices = set(re.findall(r"\w+", message.split("; choose one of ", 1)[1]))
    assert {"inductor", "aot_eager_decomp_partition"} <= choices and backend not in choices
    # once the package is there (a stand-in that refuses to be imported), the backend is offered
    (tmp_path / package).mkdir()
    (tmp_path / package / "__init__.py").write_text("raise ImportError('looked up, never imported')\n")
    monkeypatch.syspath_prepend(tmp_path)
    assert backend in sum(compile_backends(), [])
    check_compile_support("cpu", backend)
    assert package not in sys.modules


@pytest.mark.skipif(sys.platform != "linux", reason="inductor's default compiler is g++ on Linux only")
def test_a_compiler_inductor_does_not_run_is_named_not_taken(tmp_path, monkeypatch):
    """Inductor runs $CXX, else g++, and no other: with only clang++ on PATH the check passed and the first
    compiled call failed deep inside torch (InvalidCxxCompiler). Now refused up front, naming the fix."""
    from streamt2v.compiling import check_compile_support

    clang = tmp_path / "clang++"
    clang.write_text("#!/bin/sh\nexit 0\n")
    clang.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("CXX", raising=False)
    monkeypatch.delenv("TORCH_INDUCTOR_INSTALL_GXX", raising=False)
    with pytest.raises(RuntimeError) as refused:
        check_compile_support("cpu")
    assert str(refused.value) == (
        "compiling for the CPU needs a C++ compiler: inductor runs g++ (or the one $CXX names), not found on "
        f"PATH; set CXX={clang} or run without compile"
    )
    monkeypatch.setenv("CXX", str(clang))  # what the message says to do
    check_compile_support("cpu")
    check_compile_support("cpu", "aot_eager_decomp_partition")  # needs no compiler


def test_cudagraphs_is_refused_off_cuda(tmp_path, capsys):
    """``--compile cudagraphs --device cpu`` was taken: torch then skipped every graph with a warning
    ("skipping cudagraphs due to cpu device", dozens of lines) and ran it uncompiled."""
    from streamt2v.compiling import check_compile_support

    for device in ("cpu", "meta"):
        with pytest.raises(ValueError, match=f"'cudagraphs' runs only on CUDA devices, not on '{device}'"):
            check_compile_support(device, "cudagraphs")
    out = tmp_path / "x.mp4"
    argv = ["generate", "a red circle", "-o", str(out), "--device", "cpu", "--compile", "cudagraphs"]
    assert main([*argv, "--run-dir", str(tmp_path / "run"), "--no-progress"]) == 2
    assert "'cudagraphs' runs only on CUDA devices" in capsys.readouterr().err
    assert not out.exists() and not (tmp_path / "run").exists()


def test_compiling_says_the_first_steps_are_slow(caplog):
    """The log said "compiled UNet3DConditionModel, ..." before anything was compiled; a CPU run then went
    silent for minutes (inductor compiles on the first calls) and looked hung."""
    from streamt2v.compiling import compile_modules, cpp_compiler

    if cpp_compiler() is None:
        pytest.skip("inductor on the CPU needs a C++ compiler")

    torch._dynamo.reset()
    with caplog.at_level("INFO", logger="streamt2v.compiling"):
        compile_modules([torch.nn.Linear(2, 2)], "cpu", "inductor")
        compile_modules([torch.nn.Linear(2, 2)], "cpu", "aot_eager_decomp_partition")
    first, second = (r.getMessage() for r in caplog.records)
    assert first == (
        "torch.compile of Linear (inductor backend, static shapes): each compiles on its first call, so the "
        "first steps are slow (minutes on a CPU with inductor's cache empty)"
    )
    assert second.endswith("so the first steps are slow")
    torch._dynamo.reset()
