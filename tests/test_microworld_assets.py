"""Shipped-asset plumbing: asset folder lookup, word-level tokenizer round trips through the model and
refiner folder formats, sampler metadata, and the release settings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from transformers import PreTrainedTokenizerFast

import streamt2v.assets as assets
from streamt2v.models.bundle import StreamingT2VModel
from streamt2v.models.encoders import TextEncoder
from streamt2v.pipeline.enhance_config import read_stored
from streamt2v.pipeline.refiner import Refiner
from streamt2v.train.word_tokenizer import build_word_tokenizer


def _word_text_encoder(width: int, length: int = 16) -> TextEncoder:
    from transformers import CLIPTextConfig, CLIPTextModel

    from streamt2v.microworld.captions import VOCABULARY

    tok = build_word_tokenizer(length)
    cfg = CLIPTextConfig(
        vocab_size=len(VOCABULARY),
        hidden_size=width,
        intermediate_size=2 * width,
        num_hidden_layers=1,
        num_attention_heads=2,
        max_position_embeddings=length,
        pad_token_id=0,
        bos_token_id=2,
        eos_token_id=3,
    )
    torch.manual_seed(0)
    return TextEncoder(tok, CLIPTextModel(cfg).eval())


def test_asset_dirs_name_the_missing_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(assets, "ASSETS_DIR", tmp_path)
    with pytest.raises(FileNotFoundError, match="microworld"):
        assets.microworld_model_dir()
    with pytest.raises(FileNotFoundError, match=str(tmp_path)):
        assets.microworld_refiner_dir()
    (tmp_path / "microworld").mkdir()
    (tmp_path / "microworld" / "model_index.json").write_text("{}")
    assert assets.microworld_model_dir() == tmp_path / "microworld"


def test_bundle_round_trips_word_tokenizer_and_sampler(tmp_path: Path) -> None:
    model = StreamingT2VModel.from_preset("tiny", with_init_unet=False)
    width = model.config.unet.cross_attention_dim
    model.text_encoder = _word_text_encoder(width, model.config.streaming.num_text_tokens)
    model.sampler = {"steps": 7, "guidance": 1.0}
    model.save_pretrained(tmp_path / "m")
    loaded = StreamingT2VModel.from_pretrained(tmp_path / "m")
    assert isinstance(loaded.tokenizer, PreTrainedTokenizerFast)
    assert loaded.sampler == {"steps": 7, "guidance": 1.0}
    prompt = "a red circle bouncing on a blue background"
    assert torch.equal(loaded.text_encoder.encode(prompt), model.text_encoder.encode(prompt))


def test_refiner_round_trips_word_tokenizer(tmp_path: Path) -> None:
    ref = Refiner.random((32, 32))
    ref.text_encoder = _word_text_encoder(32)
    ref.save_pretrained(tmp_path / "r")
    loaded = Refiner.from_pretrained(tmp_path / "r")
    assert isinstance(loaded.text_encoder.tokenizer, PreTrainedTokenizerFast)
    assert loaded.frame_size == (32, 32)
    prompt = "a yellow square bouncing fast on a purple background"
    assert torch.equal(loaded.text_encoder.encode(prompt), ref.text_encoder.encode(prompt))


def test_refiner_from_pretrained_without_a_path_loads_the_shipped_refiner() -> None:
    # as StreamingT2VPipeline.from_pretrained() loads the shipped model (was: a TypeError about NoneType)
    default = Refiner.from_pretrained()
    shipped = Refiner.from_pretrained(assets.microworld_refiner_dir())
    assert default.frame_size == shipped.frame_size == (64, 64)
    assert default.recommended == shipped.recommended
    for (name, a), (_, b) in zip(default.unet.state_dict().items(), shipped.unet.state_dict().items()):
        assert torch.equal(a, b), name


def test_the_name_microworld_means_the_shipped_refiner_unless_a_folder_has_that_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from streamt2v.cli import main
    from streamt2v.io.video import read_video, write_video
    from streamt2v.pipeline.refiner import check_refiner_folder, recommended_enhance

    named = Refiner.from_pretrained("microworld")
    for (name, a), (_, b) in zip(
        named.unet.state_dict().items(), Refiner.from_pretrained().unet.state_dict().items()
    ):
        assert torch.equal(a, b), name
    assert recommended_enhance("microworld") == named.recommended
    monkeypatch.chdir(tmp_path)
    write_video("in.mp4", torch.rand(1, 3, 4, 32, 32) * 2 - 1, fps=8)
    for name, flag in (("named.mp4", ["--model", "microworld"]), ("default.mp4", [])):
        assert (
            main(["enhance", "in.mp4", "--prompt", "a red circle", "-o", name, "--no-progress", *flag]) == 0
        )
    assert torch.equal(read_video("named.mp4")[0], read_video("default.mp4")[0])
    (tmp_path / "microworld").mkdir()  # a local folder of that name is the user's
    with pytest.raises(FileNotFoundError, match="refiner folder 'microworld' has no unet/"):
        check_refiner_folder("microworld")


def test_release_settings_are_consistent() -> None:
    from streamt2v.pipeline.enhance_config import EnhanceConfig
    from streamt2v.pipeline.stream import StreamConfig
    from streamt2v.train.loop import TrainConfig
    from streamt2v.train.microworld_release import (
        ENHANCE,
        ORDER,
        REFINER_RUN,
        SAMPLER,
        STAGE1_RUN,
        STREAM_RUN,
        release_runs,
    )
    from streamt2v.train.recipes import make_recipe

    runs = release_runs(Path("runs/x"))
    assert sorted(ORDER) == sorted(runs)
    shipped = (runs[STAGE1_RUN].recipe, runs[STREAM_RUN].recipe, runs[REFINER_RUN].recipe)
    assert shipped == ("base", "stream", "refiner")
    done: set[str] = set()
    for name in ORDER:
        assert set(runs[name].needs) <= done, f"{name} needs {runs[name].needs}, started before them"
        make_recipe(runs[name].recipe, **runs[name].options)  # valid options
        TrainConfig(**runs[name].train)
        done.add(name)
    StreamConfig(num_frames=80, **SAMPLER)
    EnhanceConfig(**ENHANCE)


def test_shipped_assets_carry_the_release_sampler_and_notes() -> None:
    # the shipped folder and card are edited by hand when a setting changes without retraining
    from streamt2v.train.microworld_notes import NOTES
    from streamt2v.train.microworld_release import ENHANCE, REFINER_SCHEDULER, SAMPLER

    index = json.loads((assets.microworld_model_dir() / "model_index.json").read_text())
    assert index["streamt2v"]["sampler"] == SAMPLER
    refiner_index = json.loads((assets.microworld_refiner_dir() / "model_index.json").read_text())
    # stored before the settings' rename (num_inference_steps, guidance_scale), read as ours
    stored = refiner_index["streamt2v_enhance"]
    assert read_stored(stored, "the shipped refiner") == ENHANCE and stored != ENHANCE
    refiner_sched = json.loads(
        (assets.microworld_refiner_dir() / "scheduler" / "scheduler_config.json").read_text()
    )
    assert refiner_sched.items() >= REFINER_SCHEDULER.items()
    card = (assets.microworld_model_dir().parent / "MODEL_CARD.md").read_text()
    assert (
        f"`{json.dumps(SAMPLER)}`" in card and f"`{json.dumps(stored)}`" in card
    )  # as the folder stores them
    assert card.endswith("## Notes\n\n" + "\n".join(NOTES) + "\n")


def test_card_gives_the_shipped_folders_sizes_in_mb_of_10_to_the_6_bytes() -> None:
    """The card said 9.1/4.6/0.3 "MB" (14.0 in all), which were MiB: the folders hold 9.5/4.8/0.3 MB. The
    card, the release's 40 MB budget and this check count the same unit."""
    from streamt2v.train.model_card import folder_mb

    shipped = assets.microworld_model_dir().parent
    sizes = [folder_mb(shipped / d) for d in ("microworld", "microworld-refiner", "microworld-clip")]
    assert sum(sizes) < 40
    byte_count = sum(f.stat().st_size for f in (shipped / "microworld").rglob("*") if f.is_file())
    assert round(sizes[0], 1) == round(byte_count / 1e6, 1)
    card = (shipped / "MODEL_CARD.md").read_text()
    assert (
        f"microworld {sizes[0]:.1f} MB, microworld-refiner {sizes[1]:.1f} MB, "
        f"microworld-clip {sizes[2]:.1f} MB ({sum(sizes):.1f} MB in all)" in card
    )


def test_card_writer_quotes_the_sampling_settings_as_the_folders_store_them(tmp_path: Path) -> None:
    """The card's 'Recommended sampling (stored in model_index.json)' quotes the shipped folders' settings as
    stored: the refiner's under the earlier names (num_inference_steps, guidance_scale), not ENHANCE's (it
    quoted steps/guidance, which a release rebuild would have written into the card)."""
    from streamt2v.train.microworld_release import ENHANCE, SAMPLER
    from streamt2v.train.model_card import write_model_card

    card = write_model_card(tmp_path, tmp_path, {}, SAMPLER, ENHANCE, "vae").read_text()
    sampler = json.loads((assets.microworld_model_dir() / "model_index.json").read_text())["streamt2v"][
        "sampler"
    ]
    stored = json.loads((assets.microworld_refiner_dir() / "model_index.json").read_text())[
        "streamt2v_enhance"
    ]
    assert f"`{json.dumps(sampler)}`" in card and f"`{json.dumps(stored)}`" in card


def test_release_assembly_rebuilds_the_shipped_folders_from_their_parts(tmp_path: Path) -> None:
    """The release's assembly (``train.assemble`` with the release's runs and settings), fed the shipped
    parts as its runs' outputs, writes the shipped folders again: same tensors and dtypes, same configs
    but for where each part was loaded from."""
    import shutil

    from safetensors.torch import load_file

    from streamt2v.train import microworld_release as release

    model, refiner = assets.microworld_model_dir(), assets.microworld_refiner_dir()
    runs = tmp_path / "runs"
    parts = {
        ("vae", "vae"): model / "vae",
        (release.VAE_RUN, "vae"): model / "vae",
        ("refiner-decoder", "vae"): refiner / "vae",  # the same encoder (shipped_vae_dir checks it)
        **{("clip", p): model / p for p in ("tokenizer", "text_encoder", "image_encoder")},
        (release.STREAM_RUN, "unet"): model / "unet",
        (release.STAGE1_RUN, "unet"): model / "init_unet",
        (release.STAGE1_RUN, "scheduler"): model / "scheduler",
        (release.REFINER_RUN, "unet"): refiner / "unet",
        (release.REFINER_RUN, "scheduler"): refiner / "scheduler",
        ("clip", "clip"): assets.microworld_clip_dir(),
    }
    for (run, part), src in parts.items():
        shutil.copytree(src, runs / run / "final" / part)
    for run in (release.STAGE1_RUN, release.REFINER_RUN):  # as the runs save it: the training schedule
        file = runs / run / "final" / "scheduler" / "scheduler_config.json"
        saved = json.loads(file.read_text())
        file.write_text(json.dumps({**saved, "_class_name": "DDPMScheduler", "set_alpha_to_one": False}))
    rebuilt = {
        model: release.assemble_shipped_model(runs, tmp_path / "microworld"),
        refiner: release.assemble_shipped_refiner(runs, tmp_path / "microworld-refiner"),
        assets.microworld_clip_dir(): release.assemble_shipped_clip(runs, tmp_path / "microworld-clip"),
    }
    for shipped, new in rebuilt.items():
        files = sorted(f.relative_to(shipped) for f in shipped.rglob("*") if f.is_file())
        assert files == sorted(f.relative_to(new) for f in new.rglob("*") if f.is_file())
        for f in files:
            if f.suffix == ".safetensors":
                a, b = load_file(shipped / f), load_file(new / f)
                assert a.keys() == b.keys(), f
                assert all(a[k].dtype == b[k].dtype and torch.equal(a[k], b[k]) for k in a), f
            elif f.suffix == ".json":
                a, b = (json.loads((root / f).read_text()) for root in (shipped, new))
                a.pop("_name_or_path", None), b.pop("_name_or_path", None)
                b.pop("streamt2v_sources", None)  # the refiner's parts, recorded where they were loaded from
                assert a == b, f
            else:
                assert (shipped / f).read_bytes() == (new / f).read_bytes(), f


def test_the_shipped_micro_clip_is_the_models_text_and_image_encoder() -> None:
    """``microworld-clip/`` (the CLIP-score model) is the same micro-CLIP whose towers the model ships:
    its text tower is the model's text encoder, its vision tower + projection the APM image encoder."""
    from safetensors.torch import load_file

    clip = load_file(assets.microworld_clip_dir() / "model.safetensors")
    model = assets.microworld_model_dir()
    text, image = (
        load_file(model / part / "model.safetensors") for part in ("text_encoder", "image_encoder")
    )
    assert "text_projection.weight" in clip and "logit_scale" in clip  # what the model folder lacks
    for name, tensor in text.items():
        assert torch.equal(clip[name if name.startswith("text_model.") else f"text_model.{name}"], tensor), (
            name
        )
    for name, tensor in image.items():
        assert torch.equal(clip[name], tensor), name


def test_card_names_the_runs_with_a_decayed_lr() -> None:
    from streamt2v.train.microworld_release import RecipeRun
    from streamt2v.train.model_card import describe_lr_schedules

    runs = {"a": RecipeRun("base", {}, {"lr": 1e-3}), "b": RecipeRun("base", {}, {"lr_schedule": "constant"})}
    assert describe_lr_schedules(runs) == "constant lr after warm-up"
    runs["c"] = RecipeRun("refiner", {}, {"lr_schedule": "cosine"})
    assert (
        describe_lr_schedules(runs) == "constant lr after warm-up (`c`: cosine decay to 0 at the last step)"
    )


def test_card_names_the_gpu_runs_and_their_precision() -> None:
    from streamt2v.train.microworld_release import RecipeRun
    from streamt2v.train.model_card import _gpu_runs

    runs = {"a": RecipeRun("base", {}, {})}
    assert _gpu_runs(runs) == ""
    runs["g"] = RecipeRun("refiner", {}, {"mixed_precision": "bf16"}, gpu=True)
    assert _gpu_runs(runs) == " (`g`: one GPU, bf16 mixed precision; see Notes)"


def test_release_scheduler_shares_the_cores_by_threads() -> None:
    from streamt2v.train.microworld_release import RecipeRun, startable

    def run(*needs: str, threads: int = 1) -> RecipeRun:
        return RecipeRun("base", {}, {}, needs=needs, threads=threads)

    runs = {"a": run(), "b": run(), "c": run("a"), "u": run("a", "b", threads=2), "v": run("u", threads=2)}
    pending = ["a", "b", "c", "u", "v"]
    # nothing done: the runs that need nothing, one core each
    assert startable(pending, [], runs, set(), cores=2) == ["a", "b"]
    # a done, b still on one core: one more single-thread run fits, a two-thread one does not
    assert startable(["c", "u", "v"], ["b"], runs, {"a"}, cores=2) == ["c"]
    assert startable(["u", "v"], ["c"], runs, {"a", "b"}, cores=2) == []
    assert startable(["u", "v"], [], runs, {"a", "b", "c"}, cores=2) == ["u"]
    assert startable(["v"], ["u"], runs, {"a", "b", "c"}, cores=2) == []
    # a run wanting more threads than there are cores still starts on idle cores, alone
    assert startable(["u", "c"], [], runs, {"a", "b"}, cores=1) == ["u"]
    assert startable(["u"], ["c"], runs, {"a", "b"}, cores=1) == []


def test_gpu_runs_are_refused_up_front_without_cuda(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    from streamt2v.train import microworld_release as release

    # this test is about a machine without CUDA, whatever machine it runs on
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    gpu_runs = [n for n, r in release.release_runs(tmp_path).items() if r.gpu]
    assert gpu_runs == ["refiner-restore"]  # the shipped refiner UNet's run
    # the whole release: refused before the first run starts (no run folder written), naming the way out
    with pytest.raises(RuntimeError, match=r"refiner-restore.*--allow-cpu"):
        release.train_all(tmp_path, cores=2)
    assert not any(tmp_path.iterdir())
    with pytest.raises(RuntimeError, match="refiner-restore"):
        release.train_one(tmp_path, "refiner-restore")
    # `make train-microworld`: one line, exit 2, and not even the --out folder is created
    out = tmp_path / "runs"
    assert release.main(["--out", str(out), "--assets", str(tmp_path / "assets")]) == 2
    assert "error: run refiner-restore is sized for a GPU" in capsys.readouterr().err
    assert not out.exists() and not (tmp_path / "assets").exists()
    # CPU runs and --allow-cpu pass the check
    runs = release.release_runs(tmp_path)
    release.check_gpu_runs(["vae", "base"], runs, allow_cpu=False)
    release.check_gpu_runs(gpu_runs, runs, allow_cpu=True)
    # a finished GPU run is not trained again, so it is not refused either
    (tmp_path / "refiner-restore" / "final").mkdir(parents=True)
    release.train_one(tmp_path, "refiner-restore")


def test_skip_train_without_finished_runs_is_refused_before_anything_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from streamt2v.train import microworld_release as release

    out, dest = tmp_path / "rel" / "runs", tmp_path / "rel" / "assets"
    argv = ["--out", str(out), "--assets", str(dest), "--skip-train", "--no-measure"]
    # was "error: generator raised StopIteration" (shipped_vae_dir), after both folders were created
    assert release.main(argv) == 2
    err = capsys.readouterr().err
    shipped = [
        "vae",
        "clip",
        "base-3",
        "stream-aug",
        "vae-decoder-edges",
        "refiner-decoder",
        "refiner-restore",
    ]
    assert err == f"error: --skip-train: runs {', '.join(shipped)} are not finished in {out}\n", err
    assert not (tmp_path / "rel").exists()
    # a finished run (its final/ folder) is no longer named; the assembly itself refuses the same way
    for name in ("vae", "clip"):
        (out / name / "final").mkdir(parents=True)
    assert release.main(argv) == 2
    assert "runs base-3, stream-aug, vae-decoder-edges, refiner-decoder, refiner-restore are" in (
        capsys.readouterr().err
    )
    with pytest.raises(RuntimeError, match=r"^runs base-3, .*, refiner-restore are not finished"):
        release.assemble_assets(out, dest, measure=False)
    assert not dest.exists()
    # a final/ folder without the VAE's weights is named, not a StopIteration
    (out / "vae" / "final" / "vae").mkdir()
    with pytest.raises(FileNotFoundError, match=r"no VAE weights \(\*\.safetensors\) in .*vae.final.vae$"):
        release.shipped_vae_dir(out)
    # without --assets, --skip-train has nothing to do: refused (it made --out and exited 0)
    with pytest.raises(SystemExit):
        release.main(["--out", str(tmp_path / "elsewhere"), "--skip-train"])
    assert "--skip-train needs --assets" in capsys.readouterr().err
    assert not (tmp_path / "elsewhere").exists()


def test_the_release_takes_its_folders_with_a_tilde_as_the_home_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--out '~/rm' (the shell leaves ~ in --out=~/rm) looked for its runs in a folder named ~ here."""
    from streamt2v.train import microworld_release as release

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    for name in ("vae", "clip"):
        (tmp_path / "home" / "rm" / name / "final").mkdir(parents=True)
    assert release.main(["--out", "~/rm", "--assets", "~/as", "--skip-train", "--no-measure"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --skip-train: runs base-3, stream-aug, "), err
    assert err.endswith(f" are not finished in {tmp_path / 'home' / 'rm'}\n"), err
    assert not (tmp_path / "~").exists()


def test_vae_decoder_only_fine_tuning_keeps_the_encoder(tmp_path: Path) -> None:
    from safetensors.torch import load_file

    from streamt2v.train.loop import TrainConfig, train
    from streamt2v.train.recipes import make_recipe

    opts = {"size": 16, "block_out_channels": (8, 16), "norm_num_groups": 4, "scaling_samples": 2}
    cfg = TrainConfig(steps=2, batch_size=2, lr=1e-3, ema_decay=None)
    train(make_recipe("vae", **opts), cfg, tmp_path / "a", progress=False)
    src = tmp_path / "a" / "final" / "vae"
    recipe = make_recipe("vae", **opts, frames_per_sample=1, decoder_only_from=str(src))
    train(recipe, cfg, tmp_path / "b", progress=False)
    a = load_file(str(next(src.glob("*.safetensors"))))
    b = load_file(str(next((tmp_path / "b" / "final" / "vae").glob("*.safetensors"))))
    assert all(torch.equal(a[k], b[k]) for k in a if k.startswith(("encoder.", "quant_conv.")))
    assert any(not torch.equal(a[k], b[k]) for k in a if k.startswith("decoder."))
    with pytest.raises(FileNotFoundError, match="decoder_only_from"):
        make_recipe("vae", decoder_only_from=str(tmp_path / "nope")).build()


def test_resume_accepts_an_option_added_after_the_checkpoint(tmp_path: Path) -> None:
    from streamt2v.train.recipes import make_recipe
    from streamt2v.train.resume_settings import recipe_config_changes

    recipe = make_recipe("vae", size=16)
    current = recipe.config()
    saved = json.loads(json.dumps(current))  # checkpoints hold the JSON form
    older = {k: v for k, v in saved.items() if k != "decoder_only_from"}  # saved before the option
    assert recipe_config_changes(older, current, recipe) == []
    changed = make_recipe("vae", size=16, decoder_only_from="x")
    assert recipe_config_changes(older, changed.config(), changed) == ["decoder_only_from: '' -> 'x'"]
    assert recipe_config_changes({**older, "size": 32}, current, recipe) == ["size: 32 -> 16"]
    assert recipe_config_changes({**saved, "gone": 1}, current, recipe) == ["gone: 1 -> (absent)"]
