"""Smoke tests of the video-UNet recipes (base, stream, refiner) on tiny configs: 2 steps each."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from streamt2v.config import get_preset
from streamt2v.train.checkpoint import latest_checkpoint, load_training_checkpoint
from streamt2v.train.frozen import load_frozen_clip
from streamt2v.train.loop import TrainConfig, train
from streamt2v.train.recipes import make_recipe
from streamt2v.train.train_config import cpu_has_bf16


@pytest.mark.parametrize("preset", ["tiny", "small"])
def test_base_and_stream_recipes_run_two_steps(tmp_path, encoders, preset):
    vae, clip = encoders
    common = dict(size=16, vae=vae, clip=clip, num_frames=12, max_start=10, sample_steps=2, preset=preset)
    cfg = TrainConfig(steps=2, batch_size=2, lr=1e-4, sample_every=2)
    base = make_recipe("base", **common)
    res = train(base, cfg, tmp_path / "base", progress=False)
    assert len(res.losses) == 2 and all(torch.isfinite(torch.tensor(res.losses)))
    assert (tmp_path / "base" / "final" / "unet" / "config.json").exists()
    assert list((tmp_path / "base" / "samples").glob("*.mp4"))
    # the prompt of the sample, beside it
    caption = base.sample_inputs().items[0]["caption"]
    assert (tmp_path / "base" / "samples" / "base-00000002.txt").read_text() == caption + "\n"

    base_unet = str(tmp_path / "base" / "final" / "unet")
    other = "small" if preset == "tiny" else "tiny"  # the CAM's sizes come from the preset: it must fit
    with pytest.raises(
        ValueError, match=rf"has block channels .* the preset '{other}' .*: pass preset='{preset}',"
    ) as err:
        make_recipe("stream", base_unet=base_unet, **{**common, "preset": other}).build()
    assert f": pass --preset {preset}, the preset" in str(err.value.as_flags())  # the command line's
    stream = make_recipe("stream", base_unet=base_unet, **common)
    res = train(stream, cfg, tmp_path / "stream", progress=False)
    assert len(res.losses) == 2 and all(torch.isfinite(torch.tensor(res.losses)))
    caption = stream.sample_inputs().items[0]["caption"]
    assert (tmp_path / "stream" / "samples" / "stream-00000002.txt").read_text() == caption + "\n"
    from streamt2v.models.unet import StreamingUNet

    net = StreamingUNet.from_pretrained(tmp_path / "stream" / "final" / "unet")
    assert net.streaming_config.num_text_tokens == 24 and net.streaming_config.image_embed_dim == 32
    assert tuple(net.base.config.block_out_channels) == get_preset(preset).unet.block_out_channels


def test_resume_is_bit_exact_with_dropout(tmp_path, encoders):
    """The UNet's temporal convolutions have dropout, which draws from the global torch RNG: a resumed
    base run still repeats the uninterrupted one (losses and weights), as the loop reseeds that RNG per
    micro-batch (a resume's DataLoader start would otherwise shift the masks)."""
    vae, clip = encoders
    base = make_recipe("base", size=16, vae=vae, clip=clip, num_frames=12, max_start=10)
    assert any(isinstance(m, torch.nn.Dropout) and m.p > 0 for m in base.build().modules())
    cfg = TrainConfig(steps=3, batch_size=2, lr=1e-3, checkpoint_every=2)
    full = train(base, cfg, tmp_path / "a", progress=False, export=False)
    part = train(base, replace(cfg, steps=2), tmp_path / "b", progress=False, export=False)
    rest = train(base, cfg, tmp_path / "b", resume=True, progress=False, export=False)
    assert part.losses + rest.losses == full.losses
    a, b = (load_training_checkpoint(latest_checkpoint(tmp_path / r / "checkpoints"))["model"] for r in "ab")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_stream_inputs_of_the_wrong_kind_are_named(tmp_path, encoders):
    """--base-unet given a VAE or a stream UNet, --vae given a run folder or a VAE of other latent
    channels than the base's: each one error naming the folder, before any step."""
    vae, clip = encoders
    common = dict(size=16, vae=vae, clip=clip, num_frames=12, max_start=10)
    cfg = TrainConfig(steps=1, batch_size=1)
    train(make_recipe("base", **common), cfg, tmp_path / "base", progress=False)
    base_unet = str(tmp_path / "base" / "final" / "unet")
    train(make_recipe("stream", base_unet=base_unet, **common), cfg, tmp_path / "stream", progress=False)
    for wrong, held in [
        (vae, "holds an AutoencoderKL"),
        (str(tmp_path / "stream" / "final" / "unet"), "holds a StreamingUNet"),
    ]:
        with pytest.raises(ValueError, match=f"base UNet .*{held}; it takes a UNet3DConditionModel"):
            make_recipe("stream", **{**common, "base_unet": wrong}).build()
    run_dir = str(tmp_path / "base")  # the run folder instead of its final/vae
    with pytest.raises(ValueError, match="VAE .*holds no diffusers model") as err:
        make_recipe("base", **{**common, "vae": run_dir}).build()
    assert "holds one" not in str(err.value)  # a base run holds no VAE
    vae_run = Path(vae).parent.parent  # the vae run's folder: its final/vae is named
    with pytest.raises(ValueError, match=f"VAE .*holds no diffusers model.*; {vae} holds one: pass that$"):
        make_recipe("base", **{**common, "vae": str(vae_run)}).build()
    with pytest.raises(
        ValueError, match=f"init_unet=.*holds no diffusers model.*; {base_unet} holds one: pass that$"
    ):
        make_recipe("base", **{**common, "init_unet": str(tmp_path / "base" / "final")}).build()
    other_vae = tmp_path / "vae8"
    train(
        make_recipe(
            "vae",
            size=16,
            latent_channels=8,
            block_out_channels=(8, 16, 16),
            norm_num_groups=4,
            frames_per_sample=1,
            scaling_samples=2,
        ),
        cfg,
        other_vae,
        progress=False,
    )
    with pytest.raises(ValueError, match="takes 4 latent channels, the VAE .* makes 8"):
        make_recipe(
            "stream", **{**common, "vae": str(other_vae / "final" / "vae"), "base_unet": base_unet}
        ).build()
    # the shipped VAE (8 channels) by the name it was given, not its place inside the installed package
    with pytest.raises(ValueError) as err:
        make_recipe("stream", **{**common, "vae": "microworld", "base_unet": base_unet}).build()
    assert str(err.value) == (
        f"the base UNet {base_unet!r} takes 4 latent channels, the shipped model's VAE (microworld) makes 8; "
        "give the vae the base was trained with"
    )


def test_a_stream_at_another_size_than_its_base_is_refused_before_training(tmp_path, encoders):
    """``train stream --size 64`` on a base trained at 32 trained without a word, and the model assembled
    from it generated at the base's 32 px (the stream takes the base's latent size): a size its stage 2
    was never trained at."""
    vae, clip = encoders
    common = dict(vae=vae, clip=clip, num_frames=12, max_start=10)
    base = tmp_path / "base"
    make_recipe("base", size=16, **common).build().net.save_pretrained(base, safe_serialization=True)
    with pytest.raises(ValueError) as err:
        make_recipe("stream", size=32, base_unet=str(base), **common).build()
    # the Python caller's arguments (it said --size, a flag it never typed), and the command line's flags
    said = (
        "{size}32: the base UNet {base} was trained at 16 px (latents 4×4, VAE factor 4), the size the model "
        "generates at; train the stream at {size}16, or on a base trained at {size}32"
    )
    assert str(err.value) == said.format(size="size=", base=repr(str(base)))
    # the folder quoted as every message quotes a path (it had a shell's quotes there)
    assert str(err.value.as_flags()) == said.format(size="--size ", base=repr(str(base)))
    make_recipe("stream", size=16, base_unet=str(base), **common).build()
    # the shipped one by the name it was given, not its place inside the installed package
    shipped = dict(vae="microworld", clip="microworld", base_unet="microworld", num_frames=12, max_start=10)
    with pytest.raises(ValueError) as err:
        make_recipe("stream", size=16, **shipped).build()
    assert str(err.value.as_flags()).startswith(
        "--size 16: the shipped model's stage-1 UNet (microworld) was trained at 32 px"
    ), err.value
    # a base UNet not given: named as the recipe's base_unet (it said --base-unet DIR)
    with pytest.raises(
        ValueError, match=r"^the stream recipe needs a trained base UNet \(base_unet=DIR\): pass"
    ) as err:
        make_recipe("stream", size=16, **common).build()
    assert "(--base-unet DIR)" in str(err.value.as_flags())


def test_frozen_encoders_saved_in_fp16_load_as_float32_and_run_under_bf16_autocast():
    """Fine-tuning from the shipped folder (encoders saved in fp16): transformers 5 would keep fp16, which
    the CPU's bf16 autocast refuses in layer_norm; the frozen encoders load as float32."""
    from streamt2v.assets import microworld_model_dir

    root = microworld_model_dir()
    saved = json.loads((root / "text_encoder" / "config.json").read_text())
    assert saved.get("dtype", saved.get("torch_dtype")) == "float16"  # what makes this test bite
    text, image = load_frozen_clip(str(root), image=True)
    assert {p.dtype for p in [*text.parameters(), *image.parameters()]} == {torch.float32}
    with torch.autocast("cpu", dtype=torch.bfloat16):
        tokens = text.encode(["a red circle bouncing on a blue background"])
        embeds = image.encode(torch.zeros(1, 3, 32, 32))
    assert torch.isfinite(tokens).all() and torch.isfinite(embeds).all()


# ``streamt2v`` command lines (a JSON list) run one after the other by the CLI's main in one process, which
# ends at the first that fails, with its exit code.
_COMMANDS = """
import json, sys
from streamt2v.cli import main

for argv in json.loads(sys.argv[1]):
    if code := main(argv):
        sys.exit(code)
"""


def test_mixed_precision_on_the_cpu(tmp_path, encoders):
    """`streamt2v train --mixed-precision bf16 --cpu` trains the base and stream recipes with the fp32
    run's first losses; fp16 on the CPU is refused by name (accelerate would run fp32 while the run
    config said fp16). The CLI runs in processes of its own: accelerate fixes a process's precision at its
    first Accelerator (the bf16 base and stream runs share one, which imports the libraries once)."""
    vae, clip = encoders
    common = dict(size=16, vae=vae, clip=clip, num_frames=12, max_start=10)
    cfg = TrainConfig(steps=1, batch_size=2, lr=1e-4)

    def command(recipe: str, precision: str, *extra: str) -> list[str]:
        args = ["train", recipe, "--out", str(tmp_path / f"{recipe}-{precision}"), "--cpu", "--no-progress"]
        args += ["--mixed-precision", precision, "--size", "16", "--num-frames", "12", "--vae", vae]
        return [*args, "--clip", clip, "--set", "max_start=10", "--steps", "1", "--batch-size", "2", *extra]

    def cli(*commands: list[str]) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-c", _COMMANDS, json.dumps(commands)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def finished(proc: subprocess.Popen) -> tuple[int, str, str]:
        stdout, stderr = proc.communicate()
        return proc.returncode, stdout, stderr

    def first_loss(run_dir: str) -> float:
        return json.loads((tmp_path / run_dir / "loss.jsonl").read_text().splitlines()[0])["loss"]

    # the processes start first and run beside the fp32 runs here (each is mostly its imports)
    base_unet = str(tmp_path / "base-bf16" / "final" / "unet")
    bf16 = cli(command("base", "bf16"), command("stream", "bf16", "--base-unet", base_unet))
    fp16 = cli(command("base", "fp16"))
    fp32 = [train(make_recipe("base", **common), cfg, tmp_path / "base", progress=False).losses[0]]
    stream = make_recipe("stream", base_unet=str(tmp_path / "base" / "final" / "unet"), **common)
    fp32.append(train(stream, cfg, tmp_path / "stream", progress=False).losses[0])

    code, out, err = finished(bf16)
    assert code == 0, err[-2000:]
    # each run warned of bf16 on a CPU without bf16 instructions, naming the flag
    slow = "--mixed-precision bf16 on a CPU without bf16 instructions"
    assert err.count(slow) == (2 if cpu_has_bf16() is False else 0), err[-2000:]
    hint = f"streamt2v assemble model OUT_DIR --unet {tmp_path / 'stream-bf16' / 'final' / 'unet'}"
    assert hint in out  # how to get a folder generate loads
    assert [first_loss("base-bf16"), first_loss("stream-bf16")] == pytest.approx(fp32, rel=0.05)
    code, _, err = finished(fp16)
    # the command line's flags (it said mixed_precision='fp16', the Python spelling)
    assert (
        code != 0
        and "--mixed-precision fp16 needs a GPU (this run is on the CPU); use --mixed-precision bf16" in err
    )


def test_stream_freezes_base_temporal_layers(tmp_path, encoders):
    vae, clip = encoders
    common = dict(size=16, vae=vae, clip=clip, num_frames=12)
    train(make_recipe("base", **common), TrainConfig(steps=1, batch_size=1), tmp_path / "b", progress=False)
    module = make_recipe("stream", base_unet=str(tmp_path / "b" / "final" / "unet"), **common).build()
    frozen = [n for n, p in module.net.base.named_parameters() if not p.requires_grad]
    assert frozen and all(any(k in n for k in ("temp_", "transformer_in")) for n in frozen)
    assert all(p.requires_grad for p in module.net.cam.parameters())
    assert not any(p.requires_grad for p in module.vae.parameters())


def test_missing_inputs_are_named(tmp_path, encoders):
    """As the Python caller's arguments (vae=DIR), as the command line's flags there (--vae DIR: it said
    --vae=DIR), the folder given named by its argument with the value as typed (it said "a trained micro-CLIP
    (--clip=DIR) folder microworld does not exist"), the shipped part named among what to give. An option
    without a flag of its own is named as --set gives it (it said init_unet on the command line)."""
    vae, clip = encoders
    with pytest.raises(
        ValueError, match=r"^the base recipe needs a trained VAE \(vae=DIR\): pass OUT/final/vae "
    ) as err:
        make_recipe("base").build()
    assert str(err.value.as_flags()).startswith("the base recipe needs a trained VAE (--vae DIR): pass")
    assert str(err.value).endswith(", or microworld (the shipped model's VAE)")
    nowhere = str(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError) as err:
        make_recipe("base", vae=nowhere).build()
    assert str(err.value).startswith(
        f"vae={nowhere!r} does not exist: pass OUT/final/vae of `streamt2v train"
    )
    assert str(err.value.as_flags()).startswith(f"--vae {nowhere!r} does not exist: pass")
    with pytest.raises(NotADirectoryError) as err:
        make_recipe("base", vae=vae, clip=__file__).build()
    assert str(err.value.as_flags()) == (
        f"--clip {__file__!r} is a file, not a folder: pass OUT/final of `streamt2v train clip`, "
        "or microworld (the shipped micro-CLIP)"
    )
    with pytest.raises(ValueError, match=r"^this recipe needs a trained micro-CLIP \(clip=DIR\): pass"):
        make_recipe("base", vae=vae).build()
    with pytest.raises(FileNotFoundError) as err:
        make_recipe("base", vae=vae, clip=clip, size=16, init_unet=nowhere).build()
    # one style for every folder a recipe takes: the option and the value as typed (it said "the initial
    # UNet (init_unet) folder ... does not exist (pass ...)", and --base-unet likewise)
    assert str(err.value) == (
        f"init_unet={nowhere!r} does not exist: pass OUT/final/unet of a base run, or microworld (the shipped "
        "model's stage-1 UNet)"
    )
    assert str(err.value.as_flags()).startswith(f"--set init_unet={nowhere!r} does not exist: pass")
    # a value shown in flag form is quoted, whichever flag gives it (--set showed init_unet=my runs/x bare)
    spaced = str(tmp_path / "my runs" / "x")
    with pytest.raises(FileNotFoundError) as err:
        make_recipe("base", vae=vae, clip=clip, size=16, init_unet=spaced).build()
    assert str(err.value.as_flags()).startswith(f"--set init_unet='{spaced}' does not exist: pass")
    with pytest.raises(FileNotFoundError) as err:
        make_recipe("stream", vae=vae, clip=clip, size=16, base_unet=spaced).build()
    assert str(err.value.as_flags()).startswith(f"--base-unet '{spaced}' does not exist: pass")
    with pytest.raises(FileNotFoundError) as err:
        make_recipe("stream", vae=vae, clip=clip, size=16, base_unet=nowhere).build()
    assert str(err.value.as_flags()) == (
        f"--base-unet {nowhere!r} does not exist: pass OUT/final/unet of a base run, or microworld (the "
        "shipped model's stage-1 UNet)"
    )
    with pytest.raises(ValueError) as err:
        make_recipe("stream", vae=vae, clip=clip, size=16).build()
    assert str(err.value.as_flags()).startswith(
        "the stream recipe needs a trained base UNet (--base-unet DIR): pass"
    )
    with pytest.raises(FileNotFoundError) as err:
        make_recipe("vae", decoder_only_from=nowhere).build()
    assert str(err.value.as_flags()) == (
        f"--set decoder_only_from={nowhere!r} does not exist: pass OUT/final/vae of `streamt2v train vae`, or "
        "microworld (the shipped model's VAE)"
    )


def test_microworld_names_the_shipped_vae_and_clip(tmp_path, monkeypatch):
    """--clip microworld was refused ("folder microworld does not exist"), though the docs speak of using the
    shipped micro-CLIP and microworld names the shipped models elsewhere (--model, --clip-model). The run
    records the folders, which assemble reads; a local folder of that name is still taken as given."""
    from streamt2v.assets import microworld_clip_dir, microworld_model_dir, microworld_refiner_dir

    monkeypatch.chdir(tmp_path)
    recipe = make_recipe("base", vae="microworld", clip="microworld", size=32, num_frames=8)
    assert (recipe.vae, recipe.clip) == (str(microworld_model_dir() / "vae"), str(microworld_clip_dir()))
    module = recipe.build()  # the shipped parts load as a trained VAE and micro-CLIP do
    assert module.text.hidden_size == recipe.unet_config(module.vae, module.text).cross_attention_dim
    refiner = make_recipe("refiner", vae="microworld", degrade_vae="microworld", degrade_scale=2)
    # stage 3's own VAE (its decoder tuned at the refiner's size), the stage-1/2 one for the degradation
    assert (refiner.vae, refiner.degrade_vae) == (
        str(microworld_refiner_dir() / "vae"),
        str(microworld_model_dir() / "vae"),
    )
    (tmp_path / "microworld").mkdir()
    assert make_recipe("base", vae="microworld").vae == "microworld"


def test_microworld_names_the_shipped_unets_and_the_vae_to_tune(tmp_path, monkeypatch):
    """--base-unet microworld, --set init_unet=microworld and --set decoder_only_from=microworld were refused
    as folders that do not exist, while --vae microworld and --clip microworld took the shipped parts: each
    takes the shipped part of its recipe's stage, and the recipe builds from it."""
    from streamt2v.assets import microworld_model_dir, microworld_refiner_dir

    monkeypatch.chdir(tmp_path)
    model, refiner = microworld_model_dir(), microworld_refiner_dir()
    shipped = dict(vae="microworld", clip="microworld", size=32, num_frames=12)
    stream = make_recipe("stream", base_unet="microworld", init_unet="microworld", **shipped)
    assert (stream.base_unet, stream.init_unet) == (str(model / "init_unet"), str(model / "unet"))
    module = stream.build()  # the shipped stream UNet continued from its shipped base
    from safetensors.torch import load_file

    saved = load_file(next((model / "unet").glob("*.safetensors")))
    state = module.net.state_dict()
    assert saved.keys() == state.keys()
    assert all(torch.equal(state[k], saved[k].float()) for k in saved)
    base = make_recipe("base", init_unet="microworld", **shipped)
    assert base.init_unet == str(model / "init_unet")
    assert make_recipe("refiner", init_unet="microworld").init_unet == str(refiner / "unet")
    vae = make_recipe("vae", decoder_only_from="microworld", size=64)
    assert vae.decoder_only_from == str(model / "vae")
    trainer = vae.build()
    assert not any(p.requires_grad for p in trainer.vae.encoder.parameters())


def test_a_local_microworld_shadowing_the_shipped_part_is_advised_truly(tmp_path, monkeypatch):
    """A local folder named microworld is the folder meant (as for --model); refused, the advice said "or
    microworld (the shipped model's VAE)", which named that same folder again: it gives the shipped part's
    own folder."""
    from streamt2v.assets import microworld_clip_dir, microworld_model_dir

    monkeypatch.chdir(tmp_path)
    (tmp_path / "microworld").mkdir()
    with pytest.raises(ValueError) as err:
        make_recipe("base", vae="microworld", clip="microworld").build()
    said = str(err.value.as_flags())
    # quoted as a shell takes it, as --vae's other refusals quote it (review Y: it read 'microworld')
    assert said.startswith("a trained VAE (--vae) folder 'microworld' holds"), said
    assert str(err.value.spelled(flags=False)).startswith("a trained VAE (vae) folder 'microworld' holds")
    assert said.endswith(
        f"or the shipped model's VAE, {microworld_model_dir() / 'vae'} (microworld names the folder "
        "microworld in the working folder))"
    ), said
    parts = dict(vae=str(microworld_model_dir() / "vae"), clip=str(microworld_clip_dir()))
    with pytest.raises(ValueError) as err:
        make_recipe("stream", base_unet="microworld", **parts).build()
    assert str(err.value.as_flags()).endswith(
        f"or the shipped model's stage-1 UNet, {microworld_model_dir() / 'init_unet'} (microworld names the "
        "folder microworld in the working folder))"
    )


def test_refiner_recipe_runs_at_twice_the_size(tmp_path, encoders):
    vae, clip = encoders
    refiner = make_recipe("refiner", size=32, vae=vae, clip=clip, num_frames=4, max_start=4)
    res = train(refiner, TrainConfig(steps=1, batch_size=1), tmp_path, progress=False)
    assert res.step == 1 and torch.isfinite(torch.tensor(res.losses)).all()
    import json

    assert json.loads((tmp_path / "final" / "unet" / "config.json").read_text())["sample_size"] == 8


def test_zero_terminal_snr_schedule_trains_and_exports(tmp_path, encoders):
    import json

    vae, clip = encoders
    opts = dict(size=16, vae=vae, clip=clip, num_frames=12, max_start=10, sample_steps=2)
    zero_snr = dict(rescale_betas_zero_snr=True, timestep_spacing="trailing")
    recipe = make_recipe("base", prediction_type="v_prediction", **zero_snr, **opts)
    res = train(recipe, TrainConfig(steps=2, batch_size=2, sample_every=2), tmp_path, progress=False)
    assert all(torch.isfinite(torch.tensor(res.losses)))
    assert list((tmp_path / "samples").glob("*.mp4"))  # DDIM sampling from pure noise at t = 999
    sched = json.loads((tmp_path / "final" / "scheduler" / "scheduler_config.json").read_text())
    assert sched["rescale_betas_zero_snr"] is True and sched["timestep_spacing"] == "trailing"
    with pytest.raises(ValueError, match="v_prediction"):
        make_recipe("base", prediction_type="epsilon", **zero_snr, **opts).build()


@pytest.mark.parametrize("recipe", ["base", "stream"])
def test_latent_cache_gives_the_loss_of_fresh_encoding(tmp_path, encoders, recipe, caplog, capsys):
    from streamt2v.microworld.dataset import collate

    vae, clip = encoders
    # v-prediction: the target depends on the clean latents, so the loss tells clips apart
    common = dict(size=16, vae=vae, clip=clip, num_frames=12, max_start=10, prediction_type="v_prediction")
    if recipe == "stream":
        train(
            make_recipe("base", **common), TrainConfig(steps=1, batch_size=1), tmp_path / "b", progress=False
        )
        common["base_unet"] = str(tmp_path / "b" / "final" / "unet")
    fresh = make_recipe(recipe, **common)
    cached = make_recipe(recipe, latent_cache=5, **common)
    module = fresh.build().eval()
    clips, cache = fresh.clips(seed=3), cached.dataset(seed=3)
    # same samples, but the stream's CAM was measured to learn less from a cache: the recipe says so
    assert ("prefer latent_cache=0" in caplog.text) == (recipe == "stream")

    # each pass over the cache serves every clip once, in a new order, the same on every call
    passes = [[cache.clip_of(i) for i in range(p * 5, p * 5 + 5)] for p in range(3)]
    assert all(sorted(p) == list(range(5)) for p in passes) and passes[0] != passes[1] != passes[2]
    assert [cached.dataset(seed=3).clip_of(i) for i in range(15)] == sum(passes, [])
    # its bar follows the run's progress setting (train passes it; --no-progress showed the bar)
    assert "caching latents" not in capsys.readouterr().err
    cached.dataset(seed=3, progress=True)
    assert "caching latents" in capsys.readouterr().err
    assert cache[7]["index"] == 7 and cache[7]["latents"].shape[1] == 12

    # the cached sample trains exactly like the clip it was made from, encoded afresh
    idx = [0, 7]
    via_cache = collate([cache[i] for i in idx])
    via_clips = collate([clips[cache.clip_of(i)] for i in idx])
    assert via_cache["caption"] == via_clips["caption"]
    torch.testing.assert_close(via_cache["latents"], module.vae.encode(via_clips["video"]))
    keep = cached.cached_pixel_frames()
    assert via_cache["video"].shape[2] == keep
    torch.testing.assert_close(via_cache["video"], via_clips["video"][:, :, :keep], atol=1e-3, rtol=0)
    with torch.no_grad():
        losses = [module(b, torch.Generator().manual_seed(0))[0] for b in (via_cache, via_clips)]
    torch.testing.assert_close(losses[0], losses[1], atol=1e-4, rtol=1e-4)


def test_latent_cache_rejects_bad_sizes(tmp_path, encoders):
    from streamt2v.train.latent_cache import LatentCache

    with pytest.raises(ValueError, match="num_clips must be ≥ 1, got 0"):
        LatentCache([], None, 0)
    vae, clip = encoders
    with pytest.raises(ValueError, match="latent_cache must be ≥ 0 .*got -3"):
        make_recipe("base", size=16, vae=vae, clip=clip, latent_cache=-3)


def test_stream_continues_from_a_trained_stream_unet(tmp_path, encoders):
    from streamt2v.models.unet import StreamingUNet

    vae, clip = encoders
    common = dict(size=16, vae=vae, clip=clip, num_frames=12, max_start=10)
    one = TrainConfig(steps=1, batch_size=1, lr=1e-2)
    train(make_recipe("base", **common), one, tmp_path / "b", progress=False)
    common["base_unet"] = str(tmp_path / "b" / "final" / "unet")
    train(make_recipe("stream", **common), one, tmp_path / "s", progress=False)
    trained = StreamingUNet.from_pretrained(tmp_path / "s" / "final" / "unet").state_dict()

    fresh = make_recipe("stream", **common).build().net.state_dict()
    cont = make_recipe("stream", init_unet=str(tmp_path / "s" / "final" / "unet"), **common).build()
    changed = [k for k in trained if not torch.equal(trained[k], fresh[k])]
    assert changed  # the trained run moved away from the base-initialised stream...
    assert all(torch.equal(v, trained[k]) for k, v in cont.net.state_dict().items())  # ...and is resumed
    assert not any(p.requires_grad for n, p in cont.net.base.named_parameters() if "temp_" in n)
    with pytest.raises(
        ValueError, match="holds a UNet3DConditionModel; the stream recipe continues a StreamingUNet"
    ):
        make_recipe("stream", init_unet=common["base_unet"], **common).build()


def test_a_clip_folder_without_tokenizer_vocabulary_is_refused(tmp_path):
    """transformers builds a 2-token tokenizer from a folder without vocabulary, which reads every caption
    as the same ids; `train --clip` refused nothing and trained on that."""
    import shutil

    from streamt2v.assets import microworld_clip_dir, microworld_model_dir

    root = tmp_path / "clip"
    shutil.copytree(microworld_model_dir(), root)
    (root / "tokenizer" / "tokenizer.json").unlink()
    with pytest.raises(FileNotFoundError, match=r"^clip tokenizer folder .*holds no tokenizer vocabulary"):
        load_frozen_clip(str(root))
    whole = shutil.copytree(microworld_clip_dir(), tmp_path / "whole")
    load_frozen_clip(str(whole))  # a whole CLIPModel folder with its tokenizer loads
    (whole / "tokenizer.json").unlink()
    with pytest.raises(FileNotFoundError, match="^clip CLIPModel folder .*holds no tokenizer vocabulary"):
        load_frozen_clip(str(whole))


def test_a_clip_run_folder_given_as_clip_names_its_final_folder(tmp_path):
    """`--clip runs/clip` (the run, not its final/): its config.json is the run's, so the folder was read as a
    CLIPModel folder and refused for having no tokenizer, which did not say what to pass."""
    import shutil

    from streamt2v.assets import microworld_model_dir

    run = tmp_path / "runs" / "clip"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"recipe": {"name": "clip"}}))
    final = run / "final"
    final.mkdir()
    for part in ("tokenizer", "text_encoder"):
        shutil.copytree(microworld_model_dir() / part, final / part)
    # quoted as clip's other refusals quote it
    with pytest.raises(
        FileNotFoundError,
        match=rf"^clip='{run}' is a micro-CLIP training run.s folder; pass its final/ folder: clip='{final}'$",
    ) as err:
        load_frozen_clip(str(run))
    assert str(err.value.as_flags()).endswith(f"pass its final/ folder: --clip '{final}'")
    text, _ = load_frozen_clip(str(final))  # what the error names loads
    assert text.encode(["a red circle"]).shape[0] == 1


def test_a_frozen_model_given_as_a_file_or_with_a_tilde(tmp_path, monkeypatch):
    """A file given for a frozen model's folder was "folder F does not exist" (it does: it is a file), and
    ``~`` was not expanded for Python callers (the command line's flags expand it)."""
    from streamt2v.train.frozen import load_frozen_vae

    (tmp_path / "vae.safetensors").write_bytes(b"")
    with pytest.raises(NotADirectoryError, match=r"^vae='\S+vae.safetensors' is a file, not a folder"):
        load_frozen_vae(str(tmp_path / "vae.safetensors"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home" / "vae").mkdir(parents=True)
    # found, and named as what it holds, as typed and as read (it showed the expanded path alone)
    home_vae = re.escape(f"'~/vae' ('{tmp_path}/home/vae')")
    with pytest.raises(
        ValueError, match=rf"^a trained VAE \(vae\) folder {home_vae} holds no diffusers model"
    ):
        load_frozen_vae("~/vae")


def test_a_damaged_config_of_a_frozen_model_or_init_unet_is_named_as_damaged(tmp_path):
    """A frozen VAE or ``init_unet`` folder whose config.json is cut short was said to hold "no diffusers model
    (no config.json with a _class_name)": it has one, and that file is named as damaged."""
    from streamt2v.train.frozen import load_frozen_vae

    for name in ("vae", "unet"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.json").write_text('{"_class_name": "Autoenc')
    with pytest.raises(ValueError, match=r"config '\S+/vae/config.json' is not valid JSON \("):
        load_frozen_vae(str(tmp_path / "vae"))
    with pytest.raises(ValueError, match=r"^init_unet config '\S+/unet/config.json' is not valid JSON \("):
        make_recipe("base", init_unet=str(tmp_path / "unet")).load_init_unet(torch.nn.Linear(1, 1))
