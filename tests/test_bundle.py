"""StreamingT2VModel: presets, folder format, exact save/load round trip, clear errors."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import torch

from streamt2v.config import get_preset
from streamt2v.models.bundle import MODEL_INDEX, StreamingT2VModel
from streamt2v.pipeline.stream import StreamConfig


@pytest.fixture(scope="module")
def tiny() -> StreamingT2VModel:
    return StreamingT2VModel.from_preset("tiny", device="cpu", seed=3)


def test_tiny_preset_components_fit_together(tiny: StreamingT2VModel) -> None:
    cfg = get_preset("tiny")
    assert tiny.vae.scale_factor == cfg.vae_scale_factor
    emb = tiny.text_encoder.encode(["a red circle", ""])
    assert emb.shape == (2, cfg.streaming.num_text_tokens, cfg.unet.cross_attention_dim)
    img = tiny.image_encoder.encode(torch.rand(1, 3, cfg.frame_size, cfg.frame_size) * 2 - 1)
    assert img.shape == (1, cfg.streaming.image_embed_dim)
    assert tiny.unet.image_tokens(img).shape[-1] == cfg.unet.cross_attention_dim
    video = torch.rand(1, 3, 2, cfg.frame_size, cfg.frame_size) * 2 - 1
    z = tiny.vae.encode(video)
    assert z.shape == (1, cfg.unet.in_channels, 2, cfg.latent_size, cfg.latent_size)
    assert tiny.num_frames == 16 and tiny.num_cond_frames == 8


def test_meta_preset_allocates_nothing() -> None:
    m = StreamingT2VModel.from_preset("modelscope-1.7b", device="meta")
    for mod in m.modules().values():
        assert all(p.device.type == "meta" for p in mod.parameters())
    n = sum(p.numel() for p in m.unet.parameters())
    assert n > 2_000_000_000  # base + CAM + resampler (official: 2.12 B)


def test_from_preset_takes_auto_and_names_a_device_not_present_as_from_pretrained() -> None:
    """``from_preset("tiny", device="auto")`` failed inside torch ('Expected one of cpu, cuda, ... device type
    at start of device string: auto'), and ``device="cuda"`` on a machine without CUDA with torch's bare
    AssertionError 'Torch not compiled with CUDA enabled'; ``from_pretrained`` and ``.to`` take and name both."""
    from streamt2v.memory import resolve_device

    tiny = StreamingT2VModel.from_preset("tiny", device="auto", with_init_unet=False)
    assert tiny.device == resolve_device("auto")
    if not torch.cuda.is_available():
        with pytest.raises(
            ValueError, match=r"^device 'cuda' requested but CUDA is not available; use device="
        ):
            StreamingT2VModel.from_preset("tiny", device="cuda")
    with pytest.raises(ValueError, match=r"^unknown device 'gpu'; use auto, cpu, cuda, cuda:N or mps$"):
        StreamingT2VModel.from_preset("tiny", device="gpu")


def test_from_preset_checks_its_seed_as_the_pipeline_does() -> None:
    """``seed=torch.Generator()`` failed inside torch with a bare TypeError, and ``seed=-1`` was taken where
    ``pipe(..., seed=-1)`` is refused."""
    told = "seed must be an integer in [0, 2**64), got a torch.Generator: pass its seed (gen.initial_seed())"
    with pytest.raises(ValueError) as caught:
        StreamingT2VModel.from_preset("tiny", seed=torch.Generator())
    assert str(caught.value) == told
    with pytest.raises(ValueError) as caught:  # as pipe(seed=) says it (StreamConfig's check)
        StreamConfig(num_frames=8, seed=torch.Generator())
    assert str(caught.value) == told
    for seed in (-1, 2**64, 1.5, True):
        with pytest.raises(ValueError, match=r"^seed must be an integer in \[0, 2\*\*64\), got "):
            StreamingT2VModel.from_preset("tiny", seed=seed, with_init_unet=False)


def test_save_load_roundtrip_is_exact(tiny: StreamingT2VModel, tmp_path: Path) -> None:
    out = tiny.save_pretrained(tmp_path / "model")
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [MODEL_INDEX, "tokenizer", "text_encoder", "image_encoder", "vae", "unet", "init_unet", "scheduler"]
    )
    assert list(tmp_path.iterdir()) == [out]  # no temporary folders left behind
    assert any(p.suffix == ".safetensors" for p in (out / "unet").iterdir())
    loaded = StreamingT2VModel.from_pretrained(out)
    for name, mod in tiny.modules().items():
        a, b = mod.state_dict(), loaded.modules()[name].state_dict()
        assert a.keys() == b.keys(), name
        for k in a:
            assert torch.equal(a[k], b[k]), (name, k)
    assert loaded.config == tiny.config
    assert loaded.scheduler_config == tiny.scheduler_config
    torch.testing.assert_close(loaded.text_encoder.encode(["abc"]), tiny.text_encoder.encode(["abc"]))
    half = StreamingT2VModel.from_pretrained(out, torch_dtype=torch.float16)
    assert half.unet.dtype == torch.float16 and half.text_encoder.dtype == torch.float16


def test_load_without_dtype_is_float32_whatever_the_saved_dtype(
    tiny: StreamingT2VModel, tmp_path: Path
) -> None:
    # transformers 5 keeps a checkpoint's saved dtype by default, diffusers casts to float32: the bundle
    # must not mix them (the shipped folder is saved in fp16)
    half = tiny.save_pretrained(tmp_path / "model")
    StreamingT2VModel.from_pretrained(half, torch_dtype=torch.float16).save_pretrained(tmp_path / "half")
    loaded = StreamingT2VModel.from_pretrained(tmp_path / "half")
    for name, mod in loaded.modules().items():
        assert {p.dtype for p in mod.parameters()} == {torch.float32}, name


def test_save_refuses_to_overwrite_unless_asked(tiny: StreamingT2VModel, tmp_path: Path) -> None:
    out = tmp_path / "model"
    out.mkdir()
    with pytest.raises(FileExistsError, match="overwrite"):
        tiny.save_pretrained(out)
    tiny.save_pretrained(out, overwrite=True)
    assert (out / MODEL_INDEX).is_file()
    assert [p.name for p in tmp_path.iterdir()] == ["model"]
    mine = tmp_path / "mine"  # a folder of the user's files is no model folder: never replaced
    mine.mkdir()
    (mine / "thesis.tex").write_text("x")
    with pytest.raises(FileExistsError, match=r"'.*mine' is not a model folder .* holds thesis.tex"):
        tiny.save_pretrained(mine, overwrite=True)
    assert (mine / "thesis.tex").read_text() == "x"


def test_missing_folder_and_component_errors(tiny: StreamingT2VModel, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nowhere"):
        StreamingT2VModel.from_pretrained(tmp_path / "nowhere")
    out = tiny.save_pretrained(tmp_path / "model")
    shutil.rmtree(out / "vae")
    with pytest.raises(FileNotFoundError, match="missing component 'vae'"):
        StreamingT2VModel.from_pretrained(out)
    (out / MODEL_INDEX).unlink()
    with pytest.raises(FileNotFoundError, match="model_index.json"):
        StreamingT2VModel.from_pretrained(out)


def test_hub_id_offline_names_what_was_tried(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match="no-such-owner/no-such-model"):
        StreamingT2VModel.from_pretrained("no-such-owner/no-such-model")


def test_model_index_records_metadata(tiny: StreamingT2VModel) -> None:
    index = tiny.model_index()
    meta = index["streamt2v"]
    assert meta["model_config"]["streaming"]["num_cond_frames"] == 8
    assert meta["fps"] == tiny.fps
    json.dumps(index)


def test_hub_id_offline_is_one_line_saying_no_download_is_possible(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError) as info:
        StreamingT2VModel.from_pretrained("no-such-owner/no-such-model")
    msg = str(info.value)
    assert "\n" not in msg, msg
    assert "offline mode is on (HF_HUB_OFFLINE) and it is not in the local hub cache" in msg
    assert "Nothing can be downloaded here" in msg and "pass the local folder DIR" in msg


def test_official_checkpoint_file_or_modelscope_folder_given_as_a_model(tmp_path: Path) -> None:
    """What a user of the official release passes first: the .ckpt itself, or the ModelScope folder."""
    ckpt = tmp_path / "streaming_t2v.ckpt"
    torch.save({"state_dict": {}}, ckpt)
    with pytest.raises(
        NotADirectoryError, match=r"'.*streaming_t2v\.ckpt' is a file.*streamt2v convert CKPT"
    ):
        StreamingT2VModel.from_pretrained(ckpt)
    ms = tmp_path / "text-to-video-ms-1.7b"
    ms.mkdir()
    (ms / MODEL_INDEX).write_text(json.dumps({"_class_name": "TextToVideoSDPipeline"}))
    with pytest.raises(ValueError, match=r"got 'TextToVideoSDPipeline'\); .*streamt2v convert --init-unet"):
        StreamingT2VModel.from_pretrained(ms)


def test_a_tokenizer_folder_without_vocabulary_is_refused(tiny: StreamingT2VModel, tmp_path: Path) -> None:
    """transformers would build a tokenizer of special tokens only, reading every word as one id."""
    out = tiny.save_pretrained(tmp_path / "model")
    for f in (out / "tokenizer").iterdir():
        if f.name != "tokenizer_config.json":
            f.unlink()
    with pytest.raises(
        FileNotFoundError, match=r"tokenizer folder '.*tokenizer' holds no tokenizer vocabulary"
    ):
        StreamingT2VModel.from_pretrained(out)


def test_an_interrupted_overwrite_keeps_the_old_folder(
    tiny: StreamingT2VModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C between moving the old folder aside and moving the new one in: the old one comes back."""
    out = tiny.save_pretrained(tmp_path / "model")
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    rename = Path.rename
    calls = []

    def rename_then_interrupt(self: Path, target: Path) -> Path:
        calls.append(self)
        if len(calls) == 2:  # the finished new folder moving in
            raise KeyboardInterrupt
        return rename(self, target)

    monkeypatch.setattr(Path, "rename", rename_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        tiny.save_pretrained(out, overwrite=True)
    monkeypatch.setattr(Path, "rename", rename)
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before
    assert [p.name for p in tmp_path.iterdir()] == ["model"]  # no temporary or old folder left
    StreamingT2VModel.from_pretrained(out)


def test_a_file_where_the_folder_goes_is_kept_and_nothing_is_left_behind(
    tiny: StreamingT2VModel, tmp_path: Path
) -> None:
    """overwrite=True replaces a model folder or an empty one: it replaced a file of the user's too."""
    out = tmp_path / "model"
    out.write_text("not a folder")
    with pytest.raises(FileExistsError, match=r"'.*model' is a file, not a model folder"):
        tiny.save_pretrained(out, overwrite=True)
    assert out.read_text() == "not a folder"
    assert [p.name for p in tmp_path.iterdir()] == ["model"]


def test_a_replaced_part_that_does_not_fit_fails_on_loading(tiny: StreamingT2VModel, tmp_path: Path) -> None:
    """A text encoder of another width copied into the folder failed only at generation, with a matmul
    shape error."""
    from transformers import CLIPTextConfig, CLIPTextModel

    out = tiny.save_pretrained(tmp_path / "model")
    shutil.rmtree(out / "text_encoder")
    config = tiny.text_encoder.model.config.to_dict() | {"hidden_size": 48, "intermediate_size": 96}
    CLIPTextModel(CLIPTextConfig(**config)).save_pretrained(out / "text_encoder")
    with pytest.raises(
        ValueError, match=r"do not fit together .*unet/ attends to text of width 32, text_encoder/ gives 48"
    ) as info:
        StreamingT2VModel.from_pretrained(out)
    assert "init_unet/ attends to text of width 32" in str(info.value)


def test_parts_that_do_not_fit_are_named_from_their_configs_before_any_weights(
    tiny: StreamingT2VModel, tmp_path: Path
) -> None:
    """The fit was checked once every part had loaded (minutes on real weights): a folder whose parts do not
    fit is named from the configs, even when no weight file could be read."""
    out = tiny.save_pretrained(tmp_path / "model")
    config = out / "image_encoder" / "config.json"
    config.write_text(json.dumps(json.loads(config.read_text()) | {"projection_dim": 40}))
    for weights in out.glob("*/*.safetensors"):  # no LFS pointer, empty or short file: only reading tells
        weights.write_bytes(b"garbage" * 1000)
    with pytest.raises(ValueError, match=r"do not fit together") as info:
        StreamingT2VModel.from_pretrained(out)
    width = tiny.unet.streaming_config.image_embed_dim
    assert str(info.value).endswith(
        f": unet/ takes image embeddings of width {width}, image_encoder/ gives 40; put back the part the "
        "folder was saved with, or save the folder again from parts made together (save_pretrained, or "
        "streamt2v assemble for trained runs)"
    )


def test_a_damaged_architecture_in_model_index_is_one_line_naming_the_file_and_the_field(
    tiny: StreamingT2VModel, tmp_path: Path
) -> None:
    """model_index.json's streamt2v.model_config is read as strictly as ``convert --preset FILE.json``: a
    wrong-typed field was a raw TypeError of the dataclass or went unnoticed, a missing one silently took
    the preset default."""
    out = tiny.save_pretrained(tmp_path / "model")
    index_path = out / MODEL_INDEX
    good = json.loads(index_path.read_text())

    def error(edit) -> str:
        index = json.loads(json.dumps(good))
        edit(index["streamt2v"])
        index_path.write_text(json.dumps(index))
        with pytest.raises(ValueError) as info:
            StreamingT2VModel.from_pretrained(out)
        msg = str(info.value)
        assert "\n" not in msg and repr(str(index_path)) in msg, msg
        return msg

    def wrong_type(meta: dict) -> None:
        meta["model_config"]["unet"]["norm_num_groups"] = "8"

    def missing(meta: dict) -> None:
        del meta["model_config"]["streaming"]["num_frames"]

    def unknown(meta: dict) -> None:
        meta["model_config"]["unet"]["num_heads"] = 4

    def no_config(meta: dict) -> None:
        del meta["model_config"]

    assert "field 'streamt2v.model_config.unet.norm_num_groups' must be a positive integer, got '8'" in error(
        wrong_type
    )
    assert "field 'streamt2v.model_config.streaming.num_frames' is missing" in error(missing)
    assert "unknown field 'streamt2v.model_config.unet.num_heads'" in error(unknown)
    assert "has no streamt2v.model_config" in error(no_config)
    index_path.write_text("{not json")
    with pytest.raises(ValueError, match=r"model_index.json' is not valid JSON"):
        StreamingT2VModel.from_pretrained(out)
    index_path.write_text(json.dumps(good))
    assert StreamingT2VModel.from_pretrained(out).config == tiny.config


def test_a_damaged_scheduler_config_or_metadata_is_one_line_naming_the_file(
    tiny: StreamingT2VModel, tmp_path: Path
) -> None:
    """scheduler/scheduler_config.json was read with a bare json.loads: damaged, the error was the decoder's
    'Expecting value: line 1 column 1' naming no file, and a JSON list loaded as an empty config. A wrong
    fps, sampler or sources in model_index.json was a raw int()/dict() error naming nothing."""
    out = tiny.save_pretrained(tmp_path / "model")
    scheduler = out / "scheduler" / "scheduler_config.json"
    good_scheduler = scheduler.read_text()
    for text, said in (("{not json", "is not valid JSON"), ("[]", "holds no JSON object")):
        scheduler.write_text(text)
        with pytest.raises(ValueError) as info:
            StreamingT2VModel.from_pretrained(out)
        msg = str(info.value)
        assert "\n" not in msg and repr(str(scheduler)) in msg and said in msg, msg
    scheduler.write_text(good_scheduler)
    index_path = out / MODEL_INDEX
    good = json.loads(index_path.read_text())
    for field, value, said in (
        ("fps", "eight", "a positive integer"),
        ("fps", 0, "a positive integer"),
        ("sampler", "ddim", "a JSON object"),
        ("sources", ["a"], "a JSON object"),
    ):
        index = json.loads(json.dumps(good))
        index["streamt2v"][field] = value
        index_path.write_text(json.dumps(index))
        with pytest.raises(ValueError) as info:
            StreamingT2VModel.from_pretrained(out)
        msg = str(info.value)
        assert "\n" not in msg and repr(str(index_path)) in msg, msg
        assert f"streamt2v.{field} must be {said}, got {value!r}" in msg, msg
    for whole in (12.0, 12):  # a whole number written as a float by another JSON writer is that number
        good["streamt2v"]["fps"] = whole
        index_path.write_text(json.dumps(good))
        assert StreamingT2VModel.from_pretrained(out).fps == 12
    for fractional in (12.5, float("inf")):
        good["streamt2v"]["fps"] = fractional
        index_path.write_text(json.dumps(good))
        with pytest.raises(ValueError, match="streamt2v.fps must be a positive integer"):
            StreamingT2VModel.from_pretrained(out)


def test_a_dtype_cast_prints_no_float32_warning_about_no_module() -> None:
    """diffusers warned on every cast of each of its models ("should be kept in float32: []. Casting
    directly with `to()` can lead to inconsistent results"), naming no module: three lines of noise per
    ``model.to(torch.bfloat16)``."""
    import logging

    from streamt2v import memory

    class Records(logging.Handler):
        def __init__(self) -> None:
            super().__init__(logging.DEBUG)
            self.messages: list[str] = []

        def emit(self, record: logging.LogRecord) -> None:
            self.messages.append(record.getMessage())

    diffusers_log = logging.getLogger("diffusers.models.modeling_utils")
    records = Records()
    diffusers_log.addHandler(records)  # diffusers' loggers do not propagate to pytest's
    try:
        model = StreamingT2VModel.from_preset("tiny", device="cpu", seed=3)
        assert model.to(torch.bfloat16).dtype == torch.bfloat16
        assert model.to("cpu", torch.float32).dtype == torch.float32
        # what is dropped is only that message, during the cast: diffusers' other warnings are left alone
        diffusers_log.warning("another diffusers warning")
    finally:
        diffusers_log.removeHandler(records)
    assert {p.dtype for m in model.modules().values() for p in m.parameters()} == {torch.float32}
    assert records.messages == ["another diffusers warning"]
    assert memory._no_empty_fp32_warning not in diffusers_log.filters


@pytest.mark.skipif(torch.cuda.is_available(), reason="the refusal is of half precision on the CPU")
def test_to_refuses_a_dtype_the_device_does_not_run_as_from_pretrained_and_the_refiner_do() -> None:
    """``from_pretrained(device="cpu", torch_dtype=fp16)`` and ``Refiner.to(torch.float16)`` were refused, while
    ``model.to(torch.float16)`` was taken and made every chunk ~8x slower on the CPU."""
    model = StreamingT2VModel.from_preset("tiny", device="cpu", seed=3)
    with pytest.raises(
        ValueError, match=r"^dtype fp16 is not supported on device cpu; use one of fp32, bf16$"
    ):
        model.to(torch.float16)
    with pytest.raises(ValueError, match=r"^unsupported dtype torch.float64; use one of"):
        model.to("cpu", torch.float64)
    with pytest.raises(TypeError, match=r"to\(\) got two dtypes"):
        model.to(torch.float32, torch.bfloat16)
    assert model.dtype == torch.float32  # nothing was cast
    assert model.to("auto", torch.bfloat16).dtype == torch.bfloat16


def test_from_pretrained_takes_dtype_as_transformers_and_the_pipeline_name_it(
    tiny: StreamingT2VModel, tmp_path: Path
) -> None:
    """``dtype=`` (transformers 5's name, and that of StreamingT2VPipeline.from_pretrained and
    Refiner.from_pretrained) was refused as an unexpected keyword; only ``torch_dtype=`` worked."""
    out = tiny.save_pretrained(tmp_path / "model")
    assert StreamingT2VModel.from_pretrained(out, dtype=torch.bfloat16).dtype == torch.bfloat16
    assert StreamingT2VModel.from_pretrained(out, dtype="bf16", device="cpu").dtype == torch.bfloat16
    assert (
        StreamingT2VModel.from_pretrained(out, torch_dtype="bf16", dtype=torch.bfloat16).dtype
        == torch.bfloat16
    )
    with pytest.raises(
        ValueError, match=r"^torch_dtype=torch.float32 and dtype=torch.bfloat16 disagree; give one$"
    ):
        StreamingT2VModel.from_pretrained(out, torch_dtype=torch.float32, dtype=torch.bfloat16)


def test_from_pretrained_without_a_path_or_microworld_loads_the_shipped_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As ``StreamingT2VPipeline.from_pretrained()`` and ``Refiner.from_pretrained()`` do (was a missing
    argument, and 'microworld' a folder that does not exist)."""
    from streamt2v.assets import microworld_model_dir

    shipped = json.loads((microworld_model_dir() / MODEL_INDEX).read_text())["streamt2v"]["sampler"]
    monkeypatch.chdir(tmp_path)
    assert StreamingT2VModel.from_pretrained().sampler == shipped
    assert StreamingT2VModel.from_pretrained("microworld").sampler == shipped


def test_from_pretrained_of_what_is_no_model_folder_names_what_it_is(
    tiny: StreamingT2VModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A preset name was 'model folder .../tiny does not exist', a component folder 'unet/model_index.json
    not found', a number Python's 'expected str, bytes or os.PathLike object, not int', '' 'model_index.json
    not found' (the working directory), and a part without weights diffusers' 'no file named
    diffusion_pytorch_model.bin' after a warning about unsafe serialization."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(
        FileNotFoundError, match=r"'tiny' is a preset, not a model folder: .*from_preset\('tiny'\)"
    ):
        StreamingT2VModel.from_pretrained("tiny")
    with pytest.raises(TypeError, match=r"^the model must be a folder path or a hub id, got 3 \(int\)$"):
        StreamingT2VModel.from_pretrained(3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^the model folder path is empty$"):
        StreamingT2VModel.from_pretrained("")
    out = tiny.save_pretrained(tmp_path / "model")
    with pytest.raises(
        FileNotFoundError, match=r"is the unet/ part of model folder '.*model'; pass that folder$"
    ):
        StreamingT2VModel.from_pretrained(out / "unet")
    (out / "unet" / "diffusion_pytorch_model.safetensors").unlink()
    with pytest.raises(
        FileNotFoundError, match=r"^model folder's unet/ '.*unet' has no weights .*found: config.json\)$"
    ):
        StreamingT2VModel.from_pretrained(out)


def test_a_refiner_folder_given_as_the_model_points_to_refiner_from_pretrained(tmp_path: Path) -> None:
    from streamt2v.assets import microworld_refiner_dir

    with pytest.raises(ValueError, match=r"a refiner folder \(stage 3\): Refiner.from_pretrained loads it"):
        StreamingT2VModel.from_pretrained(microworld_refiner_dir())


def test_a_folder_with_only_fp16_variant_weights_loads(tmp_path):
    """Hub repos such as ModelScope T2V ship ``diffusion_pytorch_model.fp16.safetensors`` alone, which
    ``from_pretrained`` reads only when told ``variant="fp16"``: such a part is found and read."""
    tiny = StreamingT2VModel.from_preset("tiny", device="cpu", seed=0)
    out = tiny.save_pretrained(tmp_path / "model")
    for part, name in (("unet", "diffusion_pytorch_model"), ("text_encoder", "model")):
        (out / part / f"{name}.safetensors").rename(out / part / f"{name}.fp16.safetensors")
    loaded = StreamingT2VModel.from_pretrained(out)
    for part in ("unet", "text_encoder"):
        mine, theirs = getattr(tiny, part).state_dict(), getattr(loaded, part).state_dict()
        assert mine.keys() == theirs.keys() and all(torch.equal(mine[k], theirs[k]) for k in mine)


def test_a_model_folder_cloned_without_git_lfs_is_named_before_any_weights(
    tiny: StreamingT2VModel, tmp_path: Path
) -> None:
    """Weight files that are Git LFS pointers (a clone without git-lfs) failed in diffusers' words naming no
    file, or 'header too large' for the text encoder, after the other parts had been read."""
    out = tiny.save_pretrained(tmp_path / "model")
    pointer = b"version https://git-lfs.github.com/spec/v1\noid sha256:" + b"0" * 64 + b"\nsize 5000000\n"
    for comp, name in [("text_encoder", "model"), ("unet", "diffusion_pytorch_model")]:
        weights = out / comp / f"{name}.safetensors"
        whole = weights.read_bytes()
        weights.write_bytes(pointer)
        with pytest.raises(
            ValueError,
            match=rf"^model folder's {comp}/ weight file '{re.escape(str(weights))}' is a Git LFS pointer "
            rf"\({len(pointer)} bytes standing "
            r"for a 5\.0 MB file\), not the file itself: the repository was cloned without git-lfs",
        ):
            StreamingT2VModel.from_pretrained(out)
        weights.write_bytes(whole)
    StreamingT2VModel.from_pretrained(out)


def test_a_home_folder_path_is_the_same_folder_to_save_and_to_load(
    tiny: StreamingT2VModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """from_pretrained("~/models/mine") read the home folder's, but save_pretrained("~/models/mine") wrote a
    folder named '~' in the working directory; and the sampler settings the folder recommends, read without
    loading it, were silently none for a ~ path."""
    from streamt2v.pipeline.model_loading import recommended_sampler, schedule_length

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "home").mkdir()
    tiny.sampler = {"steps": 7}
    try:
        out = tiny.save_pretrained("~/models/mine")
    finally:
        tiny.sampler = {}
    assert out == tmp_path / "home" / "models" / "mine" and (out / MODEL_INDEX).is_file()
    assert not (tmp_path / "~").exists()
    # a folder named ~ is still reached by ./~ (pathlib makes it ~/m, which expanduser took for the home's)
    tilde = tiny.save_pretrained("./~/m")  # returned absolute: Path("~/m") would read back the home's
    assert tilde == tmp_path / "~" / "m" and (tilde / MODEL_INDEX).is_file()
    assert StreamingT2VModel.from_pretrained("./~/m").config == tiny.config
    assert not (tmp_path / "home" / "m").exists()
    assert StreamingT2VModel.from_pretrained("~/models/mine").sampler == {"steps": 7}
    assert recommended_sampler("~/models/mine") == {"steps": 7}
    scheduler = out / "scheduler" / "scheduler_config.json"
    scheduler.write_text(json.dumps({**json.loads(scheduler.read_text()), "num_train_timesteps": 500}))
    assert schedule_length("~/models/mine") == 500
