"""A frozen part's folder given to ``train`` or ``assemble`` with a leading ``~`` is named as given, then as
read (``'~/vae' ('/home/me/vae')``), as generate names its paths (review Y): the command line expanded it
while parsing and the recipes in ``__post_init__``, so the refusals named the expanded path alone. The run
still records it expanded, so a resume is the same run whichever way it is typed. Python's quotes name a
folder to every reader, as generate's messages do: the command line named it in a shell's quotes
(``'~/vae' (/home/me/vae)``), a second form. HOME is a temporary folder here."""

from __future__ import annotations

import json
import shutil

import pytest

from streamt2v.cli import main
from streamt2v.train.recipes import make_recipe


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A home folder of the test's own, holding an empty ``vae`` folder, and a working folder apart."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home" / "vae").mkdir(parents=True)
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    return tmp_path / "home"


def test_train_names_a_frozen_folder_given_with_a_tilde_as_given(home, capsys):
    holds = "holds no diffusers model (no config.json with a _class_name); it takes an AutoencoderKL"
    with pytest.raises(ValueError) as err:
        make_recipe("base", vae="~/vae", clip="microworld").build()
    assert str(err.value).startswith(f"a trained VAE (vae) folder '~/vae' ('{home}/vae') {holds}"), err.value
    assert main(["train", "base", "-o", "o", "--vae", "~/vae", "--clip", "microworld"]) == 2
    said = capsys.readouterr().err
    assert f"error: a trained VAE (--vae) folder '~/vae' ('{home}/vae') {holds}" in said, said
    assert main(["train", "base", "-o", "o", "--vae", "~/missing", "--clip", "microworld"]) == 2
    said = capsys.readouterr().err
    assert f"error: --vae '~/missing' ('{home}/missing') does not exist: pass OUT/final/vae" in said, said
    # a folder option given by --set is named so too
    args = ["--vae", "microworld", "--clip", "microworld", "--set", "init_unet=~/vae", "--steps", "1"]
    assert main(["train", "base", "-o", "o", *args]) == 2
    said = capsys.readouterr().err
    assert f"error: --set init_unet='~/vae' ('{home}/vae') holds no diffusers model" in said, said
    # a flagged option given by --set is named as --set (it was '--base-unet '~/nope' (...) does not exist')
    args = ["--vae", "microworld", "--clip", "microworld", "--set", "base_unet=~/nope"]
    assert main(["train", "stream", "-o", "o", *args]) == 2
    said = capsys.readouterr().err
    assert f"error: --set base_unet='~/nope' ('{home}/nope') does not exist: pass OUT/final/unet" in said, (
        said
    )


def test_clips_refusals_quote_the_folder_as_its_other_refusals_do(home, capsys):
    (home / "it's").mkdir()  # neither a micro-CLIP run's final/ nor a CLIPModel folder
    neither = "is neither a micro-CLIP run's final/"
    with pytest.raises(FileNotFoundError) as err:
        make_recipe("base", vae="microworld", clip="~/it's").build()
    assert str(err.value).startswith(f"""clip="~/it's" ("{home}/it's") {neither}"""), err.value
    assert main(["train", "base", "-o", "o", "--vae", "microworld", "--clip", "~/it's"]) == 2
    said = capsys.readouterr().err
    assert f"""error: --clip "~/it's" ("{home}/it's") {neither}""" in said, said


def test_assemble_names_a_part_given_with_a_tilde_as_given(home, capsys):
    shipped = ["--unet", "microworld", "--init-unet", "microworld"]
    assert main(["assemble", "model", "m", *shipped, "--vae", "~/vae", "--clip", "microworld"]) == 2
    said = capsys.readouterr().err
    assert f"error: a trained VAE (--vae) folder '~/vae' ('{home}/vae') holds no diffusers model" in said, (
        said
    )
    assert main(["assemble", "model", "m", *shipped, "--vae", "microworld", "--clip", "~/vae"]) == 2
    said = capsys.readouterr().err
    assert f"error: --clip '~/vae' ('{home}/vae') is neither a micro-CLIP run's final/" in said, said
    assert main(["assemble", "model", "m", "--unet", "microworld", "--init-unet", "~/vae"]) == 2
    assert f"error: --init-unet '~/vae' ('{home}/vae') has no config.json" in capsys.readouterr().err


def test_a_run_given_a_folder_with_a_tilde_resumes_given_it_as_read_and_back(home):
    """The run records the folder expanded, as it did when the recipe expanded it: resumed with the other
    spelling it is the same recipe option, not another run."""
    from streamt2v.assets import microworld_model_dir
    from streamt2v.train.loop import TrainConfig, train

    shutil.copytree(microworld_model_dir() / "vae", home / "shipped_vae")
    opts = {"size": 32, "frames_per_sample": 1, "scaling_samples": 2}
    for first, then in (
        ("~/shipped_vae", str(home / "shipped_vae")),
        (str(home / "shipped_vae"), "~/shipped_vae"),
    ):
        out = home / "runs" / first.replace("/", "_")
        train(
            make_recipe("vae", **opts, decoder_only_from=first),
            TrainConfig(steps=1, batch_size=1),
            out,
            progress=False,
            export=False,
        )
        again = make_recipe("vae", **opts, decoder_only_from=then)
        result = train(
            again, TrainConfig(steps=2, batch_size=1), out, resume=True, progress=False, export=False
        )
        assert result.step == 2
        recorded = json.loads((out / "config.json").read_text())["recipe_config"]
        assert recorded["decoder_only_from"] == str(home / "shipped_vae")


def test_the_stream_recipes_mismatch_refusals_name_its_folders_as_given(home, capsys):
    """The stream's refusals of a base UNet of another size name the folders it was given as typed, then as
    read: its message had the folder as typed alone."""
    from streamt2v.assets import microworld_model_dir

    shutil.copytree(microworld_model_dir() / "init_unet", home / "base")
    shutil.copytree(microworld_model_dir() / "vae", home / "vae", dirs_exist_ok=True)
    parts = {"base_unet": "~/base", "vae": "~/vae", "clip": "microworld"}
    with pytest.raises(ValueError) as err:
        make_recipe("stream", size=64, **parts).build()
    assert f"size=64: the base UNet '~/base' ('{home}/base') was trained at 32 px" in str(err.value)
    args = ["--base-unet", "~/base", "--vae", "~/vae", "--clip", "microworld", "--size", "64", "--cpu"]
    assert main(["train", "stream", "-o", "o", *args]) == 2
    said = capsys.readouterr().err
    assert f"error: --size 64: the base UNet '~/base' ('{home}/base') was trained at 32 px" in said, said
    with pytest.raises(ValueError) as err:
        make_recipe("stream", preset="tiny", **parts).check_base_preset("~/base", (1, 2))
    assert str(err.value).startswith(f"the base UNet '~/base' ('{home}/base') has block channels (1, 2)")


def test_init_unet_and_degrade_vae_refusals_name_the_folder_as_given(home, capsys):
    """An init_unet of another architecture and a degrade_vae without degrade_scale are named as typed, then
    as read (they named the expanded folder alone, or '~/vae' unquoted)."""
    from streamt2v.assets import microworld_model_dir

    shutil.copytree(microworld_model_dir() / "init_unet", home / "base")  # the tiny preset's
    with pytest.raises(ValueError) as err:
        make_recipe("base", vae="microworld", clip="microworld", preset="small", init_unet="~/base").build()
    assert str(err.value).startswith(f"init_unet='~/base' ('{home}/base') does not match the 'small' "), (
        err.value
    )
    args = ["--vae", "microworld", "--clip", "microworld", "--preset", "small", "--steps", "1"]
    assert main(["train", "base", "-o", "o", *args, "--set", "init_unet=~/base"]) == 2
    said = capsys.readouterr().err
    assert f"error: --set init_unet='~/base' ('{home}/base') does not match the 'small' " in said, said
    with pytest.raises(ValueError) as err:
        make_recipe("refiner", vae="microworld", clip="microworld", degrade_vae="~/vae")
    assert str(err.value) == f"degrade_vae='~/vae' ('{home}/vae') needs degrade_scale ≥ 2"
    args = ["--vae", "microworld", "--clip", "microworld", "--set", "degrade_vae=~/vae"]
    assert main(["train", "refiner", "-o", "o", *args]) == 2
    said = capsys.readouterr().err
    assert f"error: --set degrade_vae='~/vae' ('{home}/vae') needs --set degrade_scale ≥ 2" in said, said


def test_train_names_its_data_captions_and_out_as_typed(home, capsys):
    """--data, --captions and --out were expanded while parsing: their refusals named the expanded path
    alone, and no flag ('video folder /home/me/nope does not exist'). Kept as typed, they are expanded at
    use, named by the flag (the argument, to Python) as typed, then as read; a run still records them
    expanded."""
    from streamt2v.train.data import VideoFolderDataset
    from streamt2v.train.resume_settings import recorded_recipe_config

    (home / "videos").mkdir()
    (home / "c.csv").write_text("file,caption\na.mp4,a cat\n")
    (home / "notes.txt").write_text("")
    fast = ["--steps", "1", "--cpu"]
    for given, said in (
        (["--data", "~/nope", "--captions", "~/c.csv"], f"--data '~/nope' ('{home}/nope') does not exist"),
        (
            ["--data", "~/videos", "--captions", "~/no.csv"],
            f"--captions '~/no.csv' ('{home}/no.csv') does not",
        ),
        (
            ["--data", "~/videos", "--captions", "~/videos"],
            f"--captions '~/videos' ('{home}/videos') is a folder",
        ),
        (["--data", "~/videos"], f"--data '~/videos' ('{home}/videos') is a folder: pass --captions"),
        (["-o", "~/notes.txt"], f"--out '~/notes.txt' ('{home}/notes.txt') is a file, not a run folder"),
    ):
        assert main(["train", "vae", "-o", "o", *fast, *given]) == 2
        err = capsys.readouterr().err
        assert f"error: {said}" in err, err
    with pytest.raises(FileNotFoundError, match=rf"^data='~/nope' \('{home}/nope'\) does not exist$"):
        VideoFolderDataset("~/nope", "~/c.csv", make_recipe("vae").clip_spec())
    recorded = recorded_recipe_config(make_recipe("vae", data="~/videos", captions="~/c.csv"))
    assert (recorded["data"], recorded["captions"]) == (str(home / "videos"), str(home / "c.csv"))


def test_the_captions_file_and_the_video_folder_are_named_as_typed_in_every_refusal(home, capsys):
    """A name of the captions file missing from the folder, an absolute name outside it, an empty file and a
    bad row named the captions file as typed alone and bare (``~/c.csv``) beside the folder as read, or the
    file as read alone: both are named as typed, then as read."""
    from streamt2v.train.data import VideoFolderDataset

    (home / "v").mkdir()
    for name in ("a.mp4", "b.mp4"):
        (home / "v" / name).write_bytes(b"")  # matched by name before any is read
    folder, captions = f"'~/v' ('{home}/v')", f"'~/c.csv' ('{home}/c.csv')"
    spec = make_recipe("vae").clip_spec()
    for text, said in (
        (
            "file,caption\na.mp4,red\nzz.mp4,blue\n",
            f"no caption for a video in the captions file {captions}: 'b.mp4'; it names a file not in the "
            f"video folder {folder}: 'zz.mp4' (line 3)",
        ),
        (
            "file,caption\na.mp4,red\nb.mp4,blue\nzz.mp4,green\n",
            f"the captions file {captions} names a file not in the video folder {folder}: 'zz.mp4' (line 4)",
        ),
        (
            "file,caption\n/elsewhere/a.mp4,red\n",
            f"captions file {captions} names '/elsewhere/a.mp4', which is not in the video folder {folder} "
            "(line 2)",
        ),
        ("", f"captions file {captions} is empty"),
        ("file,caption\na.mp4,\n", f"{captions}, line 2: the caption of 'a.mp4' must be a non-empty string"),
    ):
        (home / "c.csv").write_text(text)
        with pytest.raises((ValueError, FileNotFoundError)) as err:
            VideoFolderDataset("~/v", "~/c.csv", spec)
        assert str(err.value).startswith(said), err.value
    (home / "c.csv").write_text("file,caption\na.mp4,red\nzz.mp4,blue\n")
    args = ["--data", "~/v", "--captions", "~/c.csv", "--steps", "1", "--cpu", "--size", "16"]
    assert main(["train", "vae", "-o", "o", *args]) == 2
    err = capsys.readouterr().err
    assert f"error: no caption for a video in the captions file {captions}: 'b.mp4'" in err, err
    assert f"not in the video folder {folder}: 'zz.mp4' (line 3)" in err, err


def test_assemble_names_its_output_folder_and_scheduler_as_typed(home, capsys):
    """assemble's output folder and --scheduler were named as read alone ('/home/me/m' already exists, 'no
    scheduler config /home/me/nope/scheduler_config.json'): as typed, then as read, as its parts are."""
    (home / "m").mkdir()
    (home / "m" / "notes.txt").write_text("")
    parts = [
        "--unet",
        "microworld",
        "--init-unet",
        "microworld",
        "--vae",
        "microworld",
        "--clip",
        "microworld",
    ]
    assert main(["assemble", "model", "~/m", *parts]) == 2
    assert f"error: '~/m' ('{home}/m') already exists; pass --overwrite" in capsys.readouterr().err
    assert main(["assemble", "model", "~/m", *parts, "--overwrite"]) == 2
    assert f"error: '~/m' ('{home}/m') is not a model folder" in capsys.readouterr().err
    assert main(["assemble", "model", "~/m2", *parts, "--scheduler", "~/nope"]) == 2
    said = capsys.readouterr().err
    # a folder that does not exist is said not to (it 'held no scheduler_config.json'); one that does, to lack it
    assert f"error: --scheduler '~/nope' ('{home}/nope') does not exist (a run's final/sch" in said, said
    assert main(["assemble", "model", "~/m2", *parts, "--scheduler", "~/m"]) == 2
    said = capsys.readouterr().err
    assert f"error: --scheduler '~/m' ('{home}/m') holds no scheduler_config.json" in said, said


def test_assemble_names_an_input_inside_its_output_folder_as_typed(home, capsys):
    """An input inside the output folder was named as read alone ('/home/me/m/unet'), the folder as typed,
    then as read: both as typed, then as read; a shipped part is not in it."""
    from streamt2v.assets import microworld_model_dir

    shutil.copytree(microworld_model_dir(), home / "m")
    shipped = ["--init-unet", "microworld", "--vae", "microworld", "--clip", "microworld", "--overwrite"]
    out = f"the output folder '~/m' ('{home}/m'), which is written as a whole"
    for given, said in (
        (["--unet", "~/m/unet"], f"--unet '~/m/unet' ('{home}/m/unet') is inside {out}"),
        (
            ["--unet", "microworld", "--scheduler", "~/m/scheduler"],
            f"--scheduler '~/m/scheduler' ('{home}/m/scheduler') is inside {out}",
        ),
    ):
        assert main(["assemble", "model", "~/m", *given, *shipped]) == 2
        err = capsys.readouterr().err
        assert f"error: {said}" in err, err
    assert (home / "m" / "unet" / "config.json").is_file()
