"""Assembling from parts made outside this project's training runs: a pretrained CLIP folder that training
took as ``--clip``, and a converted folder whose parts keep the sources it records."""

from __future__ import annotations

import json

import pytest
import torch

from streamt2v.cli import main
from streamt2v.train.assemble import assemble_model
from streamt2v.train.loop import TrainConfig, train
from streamt2v.train.recipes import make_recipe


def test_a_pretrained_clip_folder_conditions_training_and_ships_in_the_model(tmp_path, encoders):
    """``--clip`` also takes a whole transformers ``CLIPModel`` folder with its tokenizer (a local copy of
    a pretrained CLIP; here tiny random weights): the base and stream recipes train on its towers, and the
    assembled model carries its text tower and projected vision tower unchanged."""
    from transformers import CLIPConfig, CLIPModel

    from streamt2v.microworld.captions import VOCABULARY
    from streamt2v.models.bundle import StreamingT2VModel
    from streamt2v.train.word_tokenizer import build_word_tokenizer

    vae, _ = encoders
    tower = dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2)
    ids = dict(vocab_size=len(VOCABULARY), pad_token_id=0, bos_token_id=2, eos_token_id=3)
    config = CLIPConfig(
        text_config={**tower, **ids, "max_position_embeddings": 20},
        vision_config={**tower, "image_size": 16, "patch_size": 4},
        projection_dim=24,  # ≠ the vision sub-config's default: the towers must take the model's
    )
    clip = CLIPModel(config).eval()
    folder = tmp_path / "pretrained-clip"
    clip.save_pretrained(folder)
    build_word_tokenizer(20).save_pretrained(folder)

    common = dict(size=16, vae=vae, clip=str(folder), num_frames=12, max_start=10)
    cfg = TrainConfig(steps=1, batch_size=1, lr=1e-4)
    train(make_recipe("base", **common), cfg, tmp_path / "base", progress=False)
    stream = make_recipe("stream", base_unet=str(tmp_path / "base" / "final" / "unet"), **common)
    train(stream, cfg, tmp_path / "stream", progress=False)
    out = assemble_model(tmp_path / "model", unet=tmp_path / "stream" / "final" / "unet")

    model = StreamingT2VModel.from_pretrained(out)
    assert model.unet.streaming_config.image_embed_dim == 24 and model.text_encoder.max_length == 20
    text = model.text_encoder.model.state_dict()
    assert all(torch.equal(v, clip.text_model.state_dict()[k]) for k, v in text.items())
    vision = model.image_encoder.model
    assert torch.equal(vision.visual_projection.weight, clip.visual_projection.weight)
    assert all(
        torch.equal(v, clip.vision_model.state_dict()[k]) for k, v in vision.vision_model.state_dict().items()
    )
    frames = torch.rand(2, 3, 16, 16) * 2 - 1
    with torch.no_grad():
        pooled = clip.vision_model(pixel_values=model.image_encoder.preprocess(frames)).pooler_output
        want = clip.visual_projection(pooled)  # CLIP's image embedding
        assert torch.allclose(model.image_encoder.encode(frames), want, atol=1e-5)


def test_parts_taken_from_a_converted_folder_keep_the_source_and_made_up_it_records(tmp_path, caplog):
    """Assembling from a converted folder recorded its parts as 'trained: models/streamingt2v/unet', losing
    the 'converted from CHECKPOINT' (and stage-1 and tokenizer sources) the folder records; and it dropped
    what --no-strict made up (its made_up), so the assembled folder loaded without a warning."""
    import logging
    from dataclasses import asdict

    from safetensors.torch import save_file

    from streamt2v.assets import microworld_model_dir
    from streamt2v.io.official_unet_keys import unmap_official_unet_key
    from streamt2v.models.bundle import StreamingT2VModel

    shipped = microworld_model_dir()
    model = StreamingT2VModel.from_pretrained(shipped)
    ckpt = tmp_path / "streaming_t2v.safetensors"  # the shipped stream UNet as an official checkpoint
    save_file({unmap_official_unet_key(k): t.contiguous() for k, t in model.unet.state_dict().items()}, ckpt)
    arch = tmp_path / "arch.json"
    arch.write_text(json.dumps(asdict(model.config)))
    converted = tmp_path / "models" / "streamingt2v"
    args = ["convert", str(ckpt), str(converted), "--preset", str(arch), "--no-strict"]
    args += ["--init-unet", str(shipped / "init_unet"), "--tokenizer", str(shipped / "tokenizer")]
    assert main(args) == 0
    recorded = StreamingT2VModel.from_pretrained(converted).sources
    assert recorded["weights"] == f"converted from {ckpt.resolve()}"
    made_up = StreamingT2VModel.from_pretrained(converted).made_up
    assert set(made_up) == {"text_encoder", "image_encoder", "vae"}  # the checkpoint holds the UNet only

    parts = dict(unet=converted / "unet", init_unet=converted / "init_unet", vae=converted / "vae")
    out = assemble_model(tmp_path / "assembled", clip=converted, **parts)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="streamt2v"):
        assembled = StreamingT2VModel.from_pretrained(out)
    assert assembled.sources == {
        "unet": recorded["weights"],
        "init_unet": recorded["init_unet"],
        "vae": recorded["weights"],
        "clip": recorded["weights"],
        "tokenizer": recorded["tokenizer"],
    }
    assert assembled.made_up == made_up
    assert any("made up" in r.getMessage() for r in caplog.records)
    # a part taken elsewhere leaves its component's entry behind
    out = assemble_model(tmp_path / "own-vae", clip=converted, **{**parts, "vae": shipped / "vae"})
    assert StreamingT2VModel.from_pretrained(out).made_up == {
        k: made_up[k] for k in ("text_encoder", "image_encoder")
    }
    # the shipped model's note likewise; given sources still replace them all
    parts = dict(unet=shipped / "unet", init_unet=shipped / "init_unet", vae=shipped / "vae")
    out = assemble_model(tmp_path / "from-shipped", clip=shipped, **parts)
    assert set(StreamingT2VModel.from_pretrained(out).sources.values()) == {model.sources["weights"]}
    out = assemble_model(tmp_path / "given", clip=shipped, sources={"weights": "mine"}, **parts)
    assert StreamingT2VModel.from_pretrained(out).sources == {"weights": "mine"}


def test_microworld_names_the_shipped_vae_and_clip_unless_a_local_folder_has_that_name(
    tmp_path, monkeypatch, capsys
):
    """``--vae microworld`` / ``--clip microworld`` are the shipped parts, as in the recipes (the advice of a
    missing VAE offers ``microworld``): assemble refused them as folders that do not exist. A model takes
    the shipped model's VAE, a refiner the shipped refiner's; a local folder named microworld wins."""
    from safetensors.torch import load_file

    from streamt2v.assets import microworld_clip_dir, microworld_model_dir, microworld_refiner_dir

    monkeypatch.chdir(tmp_path)
    model, refiner = microworld_model_dir(), microworld_refiner_dir()
    shipped = ["--vae", "microworld", "--clip", "microworld"]
    args = ["assemble", "model", "m", "--unet", str(model / "unet"), "--init-unet", str(model / "init_unet")]
    assert main([*args, *shipped, "--no-progress"]) == 0, capsys.readouterr().err
    args_r = ["assemble", "refiner", "r", "--unet", str(refiner / "unet"), *shipped, "--no-progress"]
    assert main(args_r) == 0, capsys.readouterr().err

    def weights(folder) -> dict[str, torch.Tensor]:
        return load_file(next(folder.glob("*.safetensors")))

    def same(a, b) -> bool:
        wa, wb = weights(a), weights(b)
        return wa.keys() == wb.keys() and all(torch.equal(wa[k].float(), wb[k].float()) for k in wa)

    assert same(tmp_path / "m" / "vae", model / "vae")
    assert same(tmp_path / "r" / "vae", refiner / "vae") and not same(refiner / "vae", model / "vae")
    clip = load_file(microworld_clip_dir() / "model.safetensors")
    text = weights(tmp_path / "r" / "text_encoder")
    assert text and all(torch.equal(v.float(), clip[f"text_model.{k}"].float()) for k, v in text.items())

    (tmp_path / "microworld").mkdir()  # a local folder of that name is the one meant
    local = ["--vae", "microworld", "--clip", str(microworld_clip_dir())]
    assert main(["assemble", "refiner", "r2", "--unet", str(refiner / "unet"), *local, "--no-progress"]) == 2
    assert "(--vae) folder 'microworld' holds no diffusers model" in capsys.readouterr().err


def test_microworld_names_the_shipped_unets(tmp_path, monkeypatch, capsys):
    """``--unet microworld`` and ``--init-unet microworld`` are the shipped UNets, as the recipes take
    ``init_unet=microworld`` (they were refused as folders that do not exist): the shipped model assembles
    again from the name alone, a refiner from the shipped refiner's. A local folder of that name wins, and
    its refusal gives the shipped UNet's own folder, not microworld again."""
    from safetensors.torch import load_file

    from streamt2v.assets import microworld_model_dir, microworld_refiner_dir

    monkeypatch.chdir(tmp_path)
    shipped = ["--unet", "microworld", "--vae", "microworld", "--clip", "microworld", "--no-progress"]
    assert main(["assemble", "model", "m", *shipped, "--init-unet", "microworld"]) == 0, (
        capsys.readouterr().err
    )
    assert main(["assemble", "refiner", "r", *shipped]) == 0, capsys.readouterr().err
    for made, part in (
        ("m/unet", microworld_model_dir() / "unet"),
        ("m/init_unet", microworld_model_dir() / "init_unet"),
        ("r/unet", microworld_refiner_dir() / "unet"),
    ):
        a = load_file(next((tmp_path / made).glob("*.safetensors")))
        b = load_file(next(part.glob("*.safetensors")))
        assert a.keys() == b.keys() and all(torch.equal(a[k].float(), b[k].float()) for k in a), made

    (tmp_path / "microworld").mkdir()
    assert main(["assemble", "refiner", "r2", *shipped]) == 2
    err = capsys.readouterr().err
    assert "--unet 'microworld' has no config.json (pass OUT/final/unet of a refiner or base run, or " in err
    assert (
        f"the shipped refiner's UNet, {microworld_refiner_dir() / 'unet'} (microworld names the folder" in err
    )


def test_parts_recorded_inside_a_moved_install_are_offered_as_microworld(tmp_path, monkeypatch, capsys):
    """A run given the shipped parts records their paths inside the package as installed then; after a
    reinstall those are gone, and assemble said only 'pass --init-unet to choose', where train --resume
    offered microworld: it offers the flag with microworld for the shipped part the path was."""
    import shutil

    from streamt2v.assets import ASSETS_DIR, microworld_model_dir

    monkeypatch.chdir(tmp_path)
    gone = tmp_path / "gone" / ASSETS_DIR.parent.name / ASSETS_DIR.name / microworld_model_dir().name
    recorded = {"base_unet": str(gone / "init_unet"), "vae": str(gone / "vae"), "clip": "runs/clip/final"}
    run = tmp_path / "stream"
    shutil.copytree(microworld_model_dir() / "unet", run / "final" / "unet")
    (run / "config.json").write_text(json.dumps({"recipe_config": recorded}))
    args = ["assemble", "model", "m", "--unet", "stream/final/unet", "--no-progress"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert (
        f"error: --init-unet folder {str(gone / 'init_unet')!r} does not exist (recorded as base_unet by the run "
        "of 'stream/final/unet'; pass --init-unet to choose, or --init-unet microworld for the shipped model's "
        "stage-1 UNet)\n"
    ) in err, err
    assert main([*args, "--init-unet", "microworld"]) == 2
    assert (
        "pass --vae to choose, or --vae microworld for the shipped model's VAE)\n" in capsys.readouterr().err
    )
    assert main([*args, "--init-unet", "microworld", "--vae", "microworld"]) == 2
    relative = "relative to the folder the run was started in; pass --clip to choose)\n"  # no shipped part
    assert relative in capsys.readouterr().err
    with pytest.raises(FileNotFoundError, match=r"pass init_unet to choose, or init_unet='microworld' for "):
        assemble_model(tmp_path / "m", unet=run / "final" / "unet")
