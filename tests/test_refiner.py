"""Refiner folders (``pipeline/refiner.py``): save and load (fp16-only weights, Git LFS pointers, a
model folder that is no refiner, parts that do not fit), devices and dtypes, and the settings a refiner
recommends named in the refusals they cause."""

from __future__ import annotations

import logging

import pytest
import torch

from streamt2v.pipeline.enhance import enhance_video
from streamt2v.pipeline.enhance_config import EnhanceConfig
from streamt2v.pipeline.refiner import Refiner
from streamt2v.pipeline.setting_checks import EnhanceSettingError


def test_refiner_folder_roundtrip(refiner: Refiner, tmp_path) -> None:
    refiner.save_pretrained(tmp_path / "ref")
    loaded = Refiner.from_pretrained(tmp_path / "ref")
    assert loaded.frame_size == (32, 32) and loaded.prediction_type == "epsilon"
    video = torch.rand(1, 3, 4, 16, 16) * 2 - 1
    cfg = EnhanceConfig(chunk_frames=4, overlap=1, steps=2)
    a = enhance_video(video, "blue", refiner, cfg, seed=0, progress=False)
    b = enhance_video(video, "blue", loaded, cfg, seed=0, progress=False)
    assert torch.allclose(a, b, atol=1e-5)
    with pytest.raises(FileNotFoundError, match="'.*missing' does not exist"):
        Refiner.from_pretrained(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no unet/"):
        Refiner.from_pretrained(tmp_path / "empty")


def test_a_home_folder_path_is_the_same_refiner_folder_to_save_and_to_load(
    refiner: Refiner, tmp_path, monkeypatch
) -> None:
    """from_pretrained("~/r") read the home folder's refiner, save_pretrained("~/r") wrote a folder named '~'
    in the working directory."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "home").mkdir()
    folder = refiner.save_pretrained("~/r")
    assert folder == tmp_path / "home" / "r" and not (tmp_path / "~").exists()
    assert Refiner.from_pretrained("~/r").frame_size == refiner.frame_size


def test_a_refiner_folder_with_only_fp16_weights_loads(refiner: Refiner, tmp_path, monkeypatch) -> None:
    """ModelScope T2V ships its UNet as the fp16 variant only; from_pretrained failed with diffusers'
    "no file named diffusion_pytorch_model.bin" after a warning about unsafe serialization."""
    folder = refiner.save_pretrained(tmp_path / "ref")
    for part, name in (("unet", "diffusion_pytorch_model"), ("text_encoder", "model")):
        (folder / part / f"{name}.safetensors").rename(folder / part / f"{name}.fp16.safetensors")
    loaded = Refiner.from_pretrained(folder)
    for a, b in zip(loaded.unet.state_dict().values(), refiner.unet.state_dict().values()):
        assert torch.equal(a, b)
    (folder / "vae" / "diffusion_pytorch_model.safetensors").unlink()
    with pytest.raises(
        FileNotFoundError, match=r"refiner folder's vae/ '.*vae' has no weights .*found: config.json\)$"
    ):
        Refiner.from_pretrained(folder)  # before the other parts' weights are read
    # a hub id is not downloaded for the refiner: the message says how to fetch it
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"if 'owner/zeroscope' is a hub repo, fetch it .* pass DIR$"):
        Refiner.from_pretrained("owner/zeroscope")


def test_a_streamingt2v_model_folder_is_not_a_refiner(refiner: Refiner, tmp_path) -> None:
    import json
    import shutil

    from streamt2v.assets import microworld_model_dir
    from streamt2v.pipeline.refiner import check_refiner_folder

    model = microworld_model_dir()
    match = "is a StreamingT2VModel folder .*model_index.json names StreamingT2VModel.*, not a refiner"
    with pytest.raises(ValueError, match=match):
        check_refiner_folder(model)
    with pytest.raises(ValueError, match=match):
        Refiner.from_pretrained(model)
    # without its model_index, the StreamingUNet config still tells
    folder = refiner.save_pretrained(tmp_path / "ref")
    copy = shutil.copytree(folder, tmp_path / "copy")
    (copy / "model_index.json").unlink()
    (copy / "unet" / "config.json").write_text(json.dumps({"_class_name": "StreamingUNet"}))
    with pytest.raises(ValueError, match="unet/config.json names StreamingUNet"):
        check_refiner_folder(copy)
    # another pipeline's folder (zeroscope: TextToVideoSDPipeline) still loads
    index = folder / "model_index.json"
    meta = json.loads(index.read_text())
    index.write_text(json.dumps({**meta, "_class_name": "TextToVideoSDPipeline"}))
    assert Refiner.from_pretrained(folder).frame_size == (32, 32)


def test_a_part_of_a_refiner_folder_is_told_to_pass_its_parent(
    refiner: Refiner, tmp_path, monkeypatch
) -> None:
    """`enhance --model zeroscope/unet` was told only that it "has no unet/"."""
    from streamt2v.pipeline.refiner import check_refiner_folder

    folder = refiner.save_pretrained(tmp_path / "zeroscope")
    with pytest.raises(FileNotFoundError) as info:
        check_refiner_folder(folder / "unet")
    assert str(info.value).startswith(f"refiner folder {str(folder / 'unet')!r} has no unet/ (expected ")
    assert str(info.value).endswith(f"; it is the unet/ part of {str(folder)!r}: pass that folder")
    # named from the text as given: '~/z/unet' was told "part of '/home/me/z'", 'unet' in the refiner folder
    # "part of '.'", and '.' in its unet/ folder nothing
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(FileNotFoundError) as info:
        check_refiner_folder("~/zeroscope/unet/")
    assert str(info.value).endswith(
        f"; it is the unet/ part of '~/zeroscope' ({str(folder)!r}): pass that folder"
    )
    monkeypatch.chdir(folder)
    for given in ("unet", "./scheduler/"):
        with pytest.raises(FileNotFoundError) as info:
            check_refiner_folder(given)
        part = given.strip("./")
        assert str(info.value).endswith(
            f"; it is the {part}/ part of the current folder {str(folder)!r}: pass that folder"
        )
    monkeypatch.chdir(folder / "vae")
    with pytest.raises(FileNotFoundError) as info:
        check_refiner_folder(".")
    assert str(info.value).endswith("; it is the vae/ part of '..': pass that folder")
    (tmp_path / "other" / "unet").mkdir(parents=True)  # no refiner beside it: nothing to hint
    with pytest.raises(FileNotFoundError) as info:
        check_refiner_folder(tmp_path / "other" / "unet")
    assert "pass that folder" not in str(info.value)


def test_refiner_device_auto_dtype_positional_and_cpu_half_refused(refiner: Refiner, tmp_path) -> None:
    from streamt2v.memory import resolve_device

    folder = refiner.save_pretrained(tmp_path / "ref")
    loaded = Refiner.from_pretrained(folder, device="auto")
    assert loaded.device.type == resolve_device("auto").type
    loaded.to("cpu")
    assert loaded.dtype == torch.float32  # as StreamingT2VModel and the pipeline tell theirs
    assert loaded.to(torch.bfloat16) is loaded  # a dtype alone, positionally, as torch modules take it
    assert loaded.dtype == torch.bfloat16
    assert {p.dtype for p in loaded.unet.parameters()} == {torch.bfloat16}
    assert {p.dtype for p in loaded.vae.parameters()} == {torch.bfloat16}
    assert {p.dtype for p in loaded.text_encoder.parameters()} == {torch.bfloat16}
    with pytest.raises(ValueError, match="dtype fp16 is not supported on device cpu"):
        loaded.to(torch.float16)
    with pytest.raises(TypeError, match="to\\(\\) got two dtypes"):
        loaded.to(torch.float32, torch.bfloat16)
    with pytest.raises(ValueError, match="dtype fp16 is not supported on device cpu"):
        Refiner.from_pretrained(folder, device="cpu", dtype=torch.float16)


def test_refiner_parts_that_do_not_fit_are_refused_before_any_weights(refiner: Refiner, tmp_path) -> None:
    """A text encoder of another width copied into a refiner folder failed in the middle of stage 3 with
    'mat1 and mat2 shapes cannot be multiplied'; it is named when the folder is checked."""
    import json

    from streamt2v.pipeline.refiner import check_refiner_folder

    folder = refiner.save_pretrained(tmp_path / "ref")
    check_refiner_folder(folder)
    config = folder / "text_encoder" / "config.json"
    text = json.loads(config.read_text())
    config.write_text(json.dumps({**text, "hidden_size": text["hidden_size"] + 16}))
    width = text["hidden_size"]
    match = rf"do not fit together .*unet/ attends to text of width {width}, text_encoder/ gives {width + 16}"
    with pytest.raises(ValueError, match=match):
        check_refiner_folder(folder)
    with pytest.raises(ValueError, match=match):
        Refiner.from_pretrained(folder)
    config.write_text(json.dumps(text))
    vae = folder / "vae" / "config.json"
    vae_config = json.loads(vae.read_text())
    vae.write_text(json.dumps({**vae_config, "latent_channels": vae_config["latent_channels"] + 1}))
    with pytest.raises(ValueError, match=r"unet/ has \d+ in / \d+ out channels, vae/ \d+ latent channels"):
        Refiner.from_pretrained(folder)
    vae.write_text(json.dumps(vae_config))
    # a config that leaves a value out gets the library's default (CLIPTextConfig's width 512) on loading
    config.write_text(json.dumps({k: v for k, v in text.items() if k != "hidden_size"}))
    with pytest.raises(
        ValueError, match=rf"unet/ attends to text of width {width}, text_encoder/ gives 512; put back"
    ):
        check_refiner_folder(folder)


def test_a_part_of_a_refiner_folder_named_by_a_flag_reads_as_the_folder_then_the_part(
    refiner: Refiner, tmp_path, monkeypatch
) -> None:
    """It read "--model '~/r' ('/home/me/r')'s unet/ '/home/me/r/unet' has no config.json", and the parts'
    fit named the folder twice ("the parts of --model '~/r' ('/home/me/r') '/home/me/r' do not fit")."""
    import json

    from streamt2v.pipeline.refiner import check_refiner_folder

    monkeypatch.setenv("HOME", str(tmp_path))
    folder = refiner.save_pretrained(tmp_path / "r")
    given = f"--model '~/r' ({str(folder)!r})"
    config = folder / "text_encoder" / "config.json"
    text = json.loads(config.read_text())
    config.write_text(json.dumps({**text, "hidden_size": text["hidden_size"] + 16}))
    with pytest.raises(ValueError) as info:
        check_refiner_folder("~/r", what="--model")
    assert str(info.value).startswith(f"the parts of {given} do not fit together (was one replaced?): unet/ ")
    config.write_text(json.dumps(text))
    (folder / "unet" / "config.json").unlink()
    with pytest.raises(FileNotFoundError) as info:
        check_refiner_folder("~/r", what="--model")
    assert str(info.value).startswith(f"{given}: unet/ {str(folder / 'unet')!r} has no config.json (found: ")


def test_a_setting_that_clashes_with_a_recommendation_names_the_recommendation() -> None:
    """``enhance --steps 40`` with the shipped refiner (which recommends start_step=1) said only
    'steps (40) must be <= start_step (1)', a start step the user never gave."""
    ref = Refiner.random((32, 32), seed=0)
    ref.recommended = {"start_step": 1, "steps": 1, "scheduler": "ddim"}
    with pytest.raises(EnhanceSettingError) as caught:
        ref.config(steps=40)
    # only the recommendation the refusal names (the scheduler has no part in it), by its field name
    assert str(caught.value) == (
        "steps (40) must be <= start_step (1): SDEdit runs distinct timesteps below the start "
        "step; start_step 1 is the recommendation of this refiner (set start_step to change it)"
    )
    assert caught.value.unset == {"start_step": (1, "the recommendation of this refiner")}
    with pytest.raises(
        ValueError, match=r"\(24\) must be larger than overlap \(30\); chunk_frames 24 is the "
    ):
        ref.config(overlap=30)  # a default, not a recommendation: "the official default"
    assert ref.config(steps=40, start_step=600).steps == 40
    with pytest.raises(ValueError, match=r"^overlap must be >= 0, got -1$"):  # wrong alone: the plain error
        ref.config(overlap=-1)


def test_a_setting_name_typed_as_a_value_is_not_named_as_unset() -> None:
    """``enhance --scheduler fps`` said "unknown --scheduler 'fps'; ...; --fps None is the official default
    (set --fps to change it)": the search for setting names looked inside the quoted value."""
    ref = Refiner.random((32, 32), seed=0)
    for value in ("fps", "overlap"):
        with pytest.raises(EnhanceSettingError) as caught:
            ref.config(scheduler=value)
        assert caught.value.unset == {}
        assert str(caught.value).startswith(f"unknown scheduler {value!r}; choose one of ddim, ")
        assert str(caught.value).endswith(", ddpm")


def test_an_unknown_setting_name_lists_the_settings() -> None:
    """``refiner.config(stepz=3)`` raised EnhanceConfig's raw "__init__() got an unexpected keyword argument";
    it now names the unknown setting (a close name, or ours for diffusers') and lists the settings."""
    ref = Refiner.random((32, 32), seed=0)
    message = r"^unknown enhance setting: stepz \(steps\?\); the settings: blend, .*start_step, steps"
    with pytest.raises(ValueError, match=message + ", timestep_spacing$"):
        ref.config(stepz=3, start_step=600)
    ref.recommended = {"start_step": 1, "foo": 2}  # a folder's recommendation is named as the folder's
    with pytest.raises(
        ValueError, match=r"^unknown enhance setting this refiner recommends: foo; the settings: blend,"
    ):
        ref.config(steps=1)


def test_refiner_from_pretrained_takes_torch_dtype_as_diffusers_names_it(refiner: Refiner, tmp_path) -> None:
    """``torch_dtype=`` (diffusers' name, and StreamingT2VModel.from_pretrained's) was refused as an unexpected
    keyword; a path of another type was Python's 'expected str, bytes or os.PathLike object, not int'."""
    folder = refiner.save_pretrained(tmp_path / "ref")
    assert Refiner.from_pretrained(folder, torch_dtype=torch.bfloat16).unet.dtype == torch.bfloat16
    assert Refiner.from_pretrained(folder, torch_dtype="bf16", dtype="bfloat16").unet.dtype == torch.bfloat16
    with pytest.raises(
        ValueError, match=r"^torch_dtype=torch.bfloat16 and dtype=torch.float32 disagree; give one$"
    ):
        Refiner.from_pretrained(folder, torch_dtype=torch.bfloat16, dtype=torch.float32)
    with pytest.raises(TypeError, match=r"^the refiner must be a folder path, got 3 \(int\)$"):
        Refiner.from_pretrained(3)


def test_a_refiner_cast_prints_no_float32_warning_about_no_module() -> None:
    """diffusers warned on ``refiner.to(torch.bfloat16)`` that its UNet has modules to keep in float32, naming
    none ("should be kept in float32: []"), as it did for StreamingT2VModel.to."""
    messages: list[str] = []

    class Records(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            messages.append(record.getMessage())

    diffusers_log = logging.getLogger("diffusers.models.modeling_utils")
    records = Records(logging.DEBUG)
    diffusers_log.addHandler(records)  # diffusers' loggers do not propagate to pytest's
    try:
        cast = Refiner.random((32, 32), seed=0).to(torch.bfloat16)
    finally:
        diffusers_log.removeHandler(records)
    assert cast.unet.dtype == torch.bfloat16 and cast.vae.vae.dtype == torch.bfloat16
    assert messages == []


LFS_POINTER = b"version https://git-lfs.github.com/spec/v1\noid sha256:" + b"0" * 64 + b"\nsize 1234567890\n"


def test_a_refiner_cloned_without_git_lfs_is_named_before_any_weights(refiner: Refiner, tmp_path) -> None:
    """A refiner folder cloned without git-lfs holds pointer text for its weights: loading failed in
    diffusers' words naming no file ('You seem to have cloned a repository without having git-lfs') or,
    for the text encoder, 'header too large'. The file is named with the fix, when the folder is checked."""
    import re

    from streamt2v.pipeline.refiner import check_refiner_folder

    folder = refiner.save_pretrained(tmp_path / "ref")
    for part, name in [("text_encoder", "model"), ("unet", "diffusion_pytorch_model")]:
        weights = folder / part / f"{name}.safetensors"
        whole = weights.read_bytes()
        weights.write_bytes(LFS_POINTER)
        match = (
            rf"^refiner folder's {part}/ weight file '{re.escape(str(weights))}' is a Git LFS pointer \({len(LFS_POINTER)} bytes "
            r"standing for a "
            r"1\.2 GB file\), not the file itself: the repository was cloned without git-lfs; run `git lfs pull`"
        )
        with pytest.raises(ValueError, match=match):
            check_refiner_folder(folder)
        with pytest.raises(ValueError, match=match):
            Refiner.from_pretrained(folder)
        weights.write_bytes(whole[: len(whole) // 2])  # an interrupted download
        with pytest.raises(
            ValueError,
            match=rf"^refiner folder's {part}/ weight file '{re.escape(str(weights))}' is cut short: ",
        ):
            Refiner.from_pretrained(folder)
        weights.write_bytes(whole)
    assert Refiner.from_pretrained(folder).frame_size == refiner.frame_size


def test_a_random_refiner_at_a_preset_is_built_in_the_dtype_asked_for_from_its_seed_alone() -> None:
    """``Refiner.from_preset``: the preset's video UNet with the VAE and text encoder ``StreamingT2VModel``
    builds for it, in ``dtype`` directly (torch's default dtype and the caller's random numbers left as they
    were), its weights drawn from ``seed``. The official size is built by the bench's test
    (tests/test_bench_scripts.py, on the meta device)."""
    from streamt2v.config import get_preset

    torch.manual_seed(7)
    expected_next = torch.rand(1)
    torch.manual_seed(7)
    refiner = Refiner.from_preset("tiny", dtype="bf16", seed=3, prediction_type="v_prediction")
    assert torch.equal(torch.rand(1), expected_next) and torch.get_default_dtype() == torch.float32
    parts = (refiner.unet, refiner.vae, refiner.text_encoder)
    assert {p.dtype for part in parts for p in part.parameters()} == {torch.bfloat16}
    tiny = get_preset("tiny")
    assert refiner.frame_size == (tiny.frame_size, tiny.frame_size) and refiner.vae.scale_factor == 8
    assert refiner.prediction_type == "v_prediction"
    assert tuple(refiner.unet.config.block_out_channels) == tiny.unet.block_out_channels
    again = Refiner.from_preset(tiny, (64, 128), seed=3)  # a ModelConfig as well as a name
    assert again.frame_size == (64, 128) and again.unet.dtype == torch.float32
    same, other = (Refiner.from_preset("tiny", seed=seed).unet.conv_in.weight for seed in (3, 4))
    assert torch.equal(same, again.unet.conv_in.weight) and not torch.equal(other, same)


def test_a_damaged_scheduler_config_is_named_before_the_weights_load(tmp_path, monkeypatch) -> None:
    """Refiner.from_pretrained read its scheduler config with json.loads after loading every part: a damaged
    file was "Unterminated string starting at: line 1 column 2 (char 1)", naming no file, minutes in."""
    import streamt2v.models.folder_parts as folder_parts

    folder = Refiner.random((32, 32), seed=0).save_pretrained(tmp_path / "ref")
    (folder / "scheduler" / "scheduler_config.json").write_text('{"beta')
    loaded = []
    monkeypatch.setattr(folder_parts, "from_pretrained_strict", lambda *a, **k: loaded.append(a))
    with pytest.raises(
        ValueError, match=r"^refiner scheduler config '.*ref/scheduler/scheduler_config.json' is"
    ):
        Refiner.from_pretrained(folder)
    assert loaded == []


def test_a_saved_refiner_folder_stores_its_recommendation_by_the_names_every_version_reads(
    refiner: Refiner, tmp_path
) -> None:
    """save_pretrained (and so ``assemble refiner``) stored the recommended settings by EnhanceConfig's names
    (steps, guidance), which earlier versions refuse: stored by the earlier ones, as the shipped refiner
    keeps them, and read back as ours."""
    import dataclasses
    import json

    from streamt2v.pipeline.refiner import recommended_enhance

    ours = {"start_step": 2, "steps": 2, "guidance": 1.0}
    folder = dataclasses.replace(refiner, recommended=ours).save_pretrained(tmp_path / "r")
    stored = json.loads((folder / "model_index.json").read_text())["streamt2v_enhance"]
    assert stored == {"start_step": 2, "num_inference_steps": 2, "guidance_scale": 1.0}
    assert recommended_enhance(folder) == ours


def test_a_refiner_folder_of_an_earlier_version_recommends_by_our_names(refiner: Refiner, tmp_path) -> None:
    """The shipped refiner's model_index.json stores its recommended settings by the names EnhanceConfig
    took before (num_inference_steps, guidance_scale): loaded, and checked before loading, they read as
    steps and guidance; a folder giving one setting by both names is refused, naming its index."""
    import json

    from streamt2v.assets import microworld_refiner_dir
    from streamt2v.pipeline.refiner import checked_config, recommended_enhance

    ours = {"start_step": 1, "steps": 1, "scheduler": "ddim", "guidance": 1.0}
    assert Refiner.from_pretrained().recommended == ours == recommended_enhance(microworld_refiner_dir())
    assert checked_config({}, microworld_refiner_dir()) == EnhanceConfig(**ours)
    folder = refiner.save_pretrained(tmp_path / "r")
    index = json.loads((folder / "model_index.json").read_text())
    index["streamt2v_enhance"] = {"steps": 2, "num_inference_steps": 2}
    (folder / "model_index.json").write_text(json.dumps(index))
    for read in (Refiner.from_pretrained, recommended_enhance):
        with pytest.raises(
            ValueError, match=r"^refiner index '.*/r/model_index.json' \(streamt2v_enhance\) gives"
        ):
            read(folder)


def test_unknown_settings_a_refiner_folder_recommends_name_where_they_are_and_how_to_fix_them(
    refiner: Refiner, tmp_path
) -> None:
    """A refiner folder recommending unknown settings read 'unknown enhance settings refiner 'r' recommends:
    foo, stepz (steps?)': which refiner, where they are (streamt2v_enhance in its model_index.json) and what
    to do said plainly; one setting or several; from Python, as the folder loads (``config()`` named no
    file)."""
    import json

    from streamt2v.pipeline.refiner import checked_config

    folder = refiner.save_pretrained(tmp_path / "r")
    index_file = folder / "model_index.json"
    index = json.loads(index_file.read_text())
    for unknown, said in (({"stepz": 2}, "setting"), ({"foo": 1, "stepz": 2}, "settings")):
        index["streamt2v_enhance"] = unknown
        index_file.write_text(json.dumps(index))
        names, them = ("stepz (steps?)", "it") if len(unknown) == 1 else ("foo, stepz (steps?)", "them")
        for check in (lambda: checked_config({}, folder), lambda: Refiner.from_pretrained(folder)):
            with pytest.raises(ValueError) as err:
                check()
            assert str(err.value).startswith(
                f"unknown enhance {said} the refiner {str(folder)!r} recommends (streamt2v_enhance): {names}; "
                "the settings: blend, "
            )
            assert str(err.value).endswith(
                f", timestep_spacing; correct or remove {them} in {str(index_file)!r}"
            )
