"""CLIP score (paper §5.1) with a tiny random CLIP saved to a temporary folder."""

from __future__ import annotations

import importlib
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from transformers import CLIPConfig, CLIPModel, CLIPTokenizer

from streamt2v.metrics.clip_score import clip_score, load_clip


def _byte_chars():
    bs = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [chr(c) for c in cs]


def save_tiny_clip(folder, image_size=32):
    """A random CLIPModel + a byte-level CLIP tokenizer (no merges), saved with save_pretrained."""
    folder.mkdir(parents=True, exist_ok=True)
    chars = _byte_chars()
    vocab = {
        t: i for i, t in enumerate(chars + [c + "</w>" for c in chars] + ["<|startoftext|>", "<|endoftext|>"])
    }
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    # from the files: transformers 5's CLIPTokenizer(vocab_file=..., merges_file=...) ignores them and builds a
    # tokenizer of the 2 special tokens, which reads every prompt alike
    tok = CLIPTokenizer.from_pretrained(folder)
    assert len(tok) == len(vocab)
    eos = vocab["<|endoftext|>"]
    cfg = CLIPConfig(
        text_config=dict(
            vocab_size=len(vocab),
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=1,
            num_attention_heads=2,
            max_position_embeddings=77,
            eos_token_id=eos,
            pad_token_id=eos,
            bos_token_id=vocab["<|startoftext|>"],
        ),
        vision_config=dict(
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=1,
            num_attention_heads=2,
            image_size=image_size,
            patch_size=8,
        ),
        projection_dim=16,
    )
    torch.manual_seed(0)
    CLIPModel(cfg).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory):
    return save_tiny_clip(tmp_path_factory.mktemp("clip") / "tiny")


def test_scores_in_range_and_batched(tiny_clip):
    rng = np.random.default_rng(0)
    video = rng.integers(0, 256, size=(5, 40, 48, 3), dtype=np.uint8)
    scorer = load_clip(tiny_clip)
    s = clip_score(video, "a red circle", scorer)
    assert isinstance(s, float) and -100.0 <= s <= 100.0
    # batching does not change the score; a tensor in [-1, 1] gives the same as its uint8 frames
    assert scorer.score(video, "a red circle", batch_size=2) == pytest.approx(s, abs=1e-4)
    tensor = torch.from_numpy(video).permute(3, 0, 1, 2)[None].float() / 127.5 - 1
    assert clip_score([tensor], ["a red circle"], scorer)[0] == pytest.approx(s, abs=1e-3)
    # the score is the mean over frames of per-frame scores
    per_frame = [scorer.score(video[i : i + 1], "a red circle") for i in range(5)]
    assert s == pytest.approx(float(np.mean(per_frame)), abs=1e-4)
    # different frames give a different score (the test can fail)
    flat = np.full_like(video, 200)
    assert clip_score(flat, "a red circle", scorer) != pytest.approx(s, abs=1e-3)


def test_a_scorer_s_repr_is_one_line(tiny_clip):
    """It printed as <...ClipScorer object at 0x...>."""
    assert repr(load_clip(tiny_clip)) == "ClipScorer(one CLIPModel, 32x32 px, cpu)"


def test_clip_score_takes_the_clip_as_evaluate_videos_names_it(tiny_clip):
    """clip_model= (evaluate_videos' name, the docs') was an unexpected keyword: the argument was model=."""
    video = np.zeros((2, 32, 32, 3), np.uint8)
    score = clip_score(video, "a red circle", tiny_clip)
    assert clip_score(video, "a red circle", clip_model=tiny_clip) == pytest.approx(score)
    assert clip_score(video, "a red circle", model=tiny_clip) == pytest.approx(score)  # its earlier name
    with pytest.raises(TypeError, match="as clip_model= or as model= .*not both"):
        clip_score(video, "a red circle", clip_model=tiny_clip, model=tiny_clip)
    with pytest.raises(TypeError, match=r"clip_score\(\) needs clip_model="):
        clip_score(video, "a red circle")
    # a list of videos with one prompt: said so ('expected a video tensor, ... got list')
    with pytest.raises(
        TypeError, match="2 videos in a list need 2 prompts in a list, one per video; got the "
    ):
        clip_score([video, video], "a red circle", tiny_clip)
    # one video in a list: 'need' agreed with no count ('1 video in a list need 1 prompt'); none: '0 videos'
    with pytest.raises(TypeError, match="^1 video in a list needs 1 prompt in a list, one per video"):
        clip_score([video], "a red circle", tiny_clip)
    with pytest.raises(ValueError, match="^videos is an empty list: give a video"):
        clip_score([], "a red circle", tiny_clip)
    with pytest.raises(ValueError, match="^videos is an empty tuple: give a video"):
        clip_score((), "a red circle", tiny_clip)


def test_errors(tiny_clip, tmp_path):
    video = np.zeros((2, 32, 32, 3), np.uint8)
    with pytest.raises(ValueError, match="2 video.*1 prompt"):
        clip_score([video, video], ["one"], tiny_clip)
    with pytest.raises(FileNotFoundError, match="nowhere"):
        load_clip(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no CLIP weights") as err:
        load_clip(tmp_path / "empty")
    assert "holds one" not in str(err.value)
    # a `train clip` run's final/ (the folder the other recipes take as --clip) names its clip/ scorer
    shutil.copytree(tiny_clip, tmp_path / "final" / "clip")
    (tmp_path / "final" / "text_encoder").mkdir()
    with pytest.raises(
        FileNotFoundError, match=r"no CLIP weights in '.*final'.*; '.*final/clip' holds one: pass that$"
    ):
        load_clip(tmp_path / "final")
    # the run folder itself, whose config.json is the run's: it was read as a CLIP without a tokenizer
    (tmp_path / "config.json").write_text(json.dumps({"recipe": {"name": "clip"}}))
    with pytest.raises(
        FileNotFoundError, match=r"^'.*' is no CLIP folder .*; '.*final/clip' holds one: pass that$"
    ):
        load_clip(tmp_path)
    with pytest.raises(ValueError, match="0 frame"):
        clip_score(np.zeros((0, 32, 32, 3), np.uint8), "x", tiny_clip)


def test_bad_batch_size_and_prompts(tiny_clip):
    video = np.zeros((2, 32, 32, 3), np.uint8)
    scorer = load_clip(tiny_clip)
    with pytest.raises(ValueError, match="batch_size must be an int >= 1, got 0"):  # was a range() error
        clip_score(video, "a red circle", tiny_clip, batch_size=0)
    with pytest.raises(TypeError, match="batch_size must be an int >= 1, got float 2.0"):
        clip_score(video, "a red circle", tiny_clip, batch_size=2.0)
    with pytest.raises(ValueError, match="batch_size must be an int >= 1, got -1"):
        scorer.score(video, "a red circle", batch_size=-1)
    # was a TypeError from deep inside
    with pytest.raises(
        TypeError, match="prompts must be a non-empty str or a list of them, got NoneType None"
    ):
        clip_score(video, None, tiny_clip)
    with pytest.raises(TypeError, match=r"prompts\[1\] must be a non-empty str, got NoneType None"):
        clip_score([video, video], ["a red circle", None], tiny_clip)
    with pytest.raises(ValueError, match="prompt must be a non-empty str, got '  '"):
        clip_score(video, "  ", tiny_clip)
    with pytest.raises(TypeError, match="prompt must be a non-empty str, got int 3"):
        scorer.score(video, 3)
    # checked before the model is loaded: no folder is needed to get the argument error
    with pytest.raises(ValueError, match="batch_size must be an int >= 1, got 0"):
        clip_score(video, "x", "/nowhere/clip", batch_size=0)


def test_the_shipped_micro_clip_scores_microworld_videos_by_their_caption(tmp_path, capsys):
    """``--clip-model microworld``: the CLIP-score model of the microworld, shipped; a rendered scene scores
    higher with its own caption than with captions that change its colours (not its shape: the micro-CLIP
    reads colours, and scores a wrong shape word within a few points of the right one, docs/metrics.md)."""
    from streamt2v.cli import main
    from streamt2v.io.video import read_video, write_video
    from streamt2v.microworld.dataset import eval_scene
    from streamt2v.microworld.render import render

    scorer = load_clip("microworld")
    right = "a red circle bouncing on a blue background"
    video = render(eval_scene(right, 5), 16, 32)[None]
    wrong = [
        "a green circle bouncing on a blue background",
        "a red circle bouncing on a yellow background",
    ]
    own, *others = clip_score([video] * 3, [right, *wrong], scorer)
    assert own > max(others) + 5, (own, others)
    path = write_video(tmp_path / "v.mp4", video, fps=8)
    (tmp_path / "p.txt").write_text(f"{right}\n")
    argv = ["evaluate", str(path), "--prompts", str(tmp_path / "p.txt"), "--metrics", "clip"]
    assert (
        main([*argv, "--clip-model", "microworld", "--out", str(tmp_path / "r.json"), "--no-progress"]) == 0
    )
    record = json.loads((tmp_path / "r.json").read_text())["records"][0]
    decoded, _ = read_video(path)  # 4:2:0 chroma at 32x32 blurs the colours: score what the file holds
    assert record["clip_score"] == pytest.approx(clip_score(decoded, right, scorer), abs=1e-3)


def test_the_prompt_changes_the_score(tiny_clip):
    """The CLIP score reads the prompt: a different prompt, a different score (the tiny CLIP's tokenizer once
    read every word as the same token, and every prompt scored alike)."""
    video = np.random.default_rng(1).integers(0, 256, size=(3, 32, 32, 3), dtype=np.uint8)
    scorer = load_clip(tiny_clip)
    ids = scorer.tokenizer(["a red circle", "zebra at night"])["input_ids"]
    assert ids[0] != ids[1]
    a, b = clip_score([video, video], ["a red circle", "zebra at night"], scorer)
    assert a != pytest.approx(b, abs=1e-3)


def test_a_clip_folder_without_tokenizer_files_is_refused(tiny_clip, tmp_path):
    """A CLIP folder copied without its tokenizer files loaded a tokenizer of special tokens only: every prompt
    scored the same, silently."""
    import shutil

    folder = tmp_path / "clip-weights-only"
    folder.mkdir()
    for name in ("config.json", "model.safetensors"):
        shutil.copy(tiny_clip / name, folder / name)
    with pytest.raises(
        FileNotFoundError, match=r"CLIP folder '.*clip-weights-only' holds no tokenizer vocabulary"
    ):
        load_clip(folder)


def test_a_hub_id_is_loaded_from_a_snapshot_of_the_files_a_scorer_reads(tiny_clip, monkeypatch):
    """Through huggingface_hub's snapshot (one quick error offline; transformers' own download retried
    for most of a minute), without the repo's TensorFlow/Flax copies of the weights. The hub is
    replaced by the local folder."""
    import fnmatch

    import huggingface_hub

    calls = []

    def snapshot_download(repo_id: str, allow_patterns: list[str] | None = None, **kw) -> str:
        calls.append((repo_id, allow_patterns))
        return str(tiny_clip)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    scorer = load_clip("openai/clip-vit-large-patch14")
    assert scorer.score(torch.zeros(1, 3, 2, 16, 16), "a red circle") == load_clip(tiny_clip).score(
        torch.zeros(1, 3, 2, 16, 16), "a red circle"
    )
    [(repo, patterns)] = calls  # the folder has safetensors: no second fetch for a pickle
    assert repo == "openai/clip-vit-large-patch14"
    wanted = ["config.json", "tokenizer.json", "vocab.json", "merges.txt", "model.safetensors"]
    assert all(any(fnmatch.fnmatch(n, p) for p in patterns) for n in wanted)
    unwanted = ["tf_model.h5", "flax_model.msgpack", "pytorch_model.bin"]
    assert not any(fnmatch.fnmatch(n, p) for n in unwanted for p in patterns)


def test_a_file_or_an_unreachable_hub_id_says_what_to_pass(tiny_clip, tmp_path, monkeypatch):
    with pytest.raises(
        NotADirectoryError,
        match=r"CLIP model '.*model.safetensors' is a file; give a transformers CLIP folder",
    ):
        load_clip(tiny_clip / "model.safetensors")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError) as info:
        load_clip("no-such-owner/no-such-clip")
    msg = str(info.value)
    assert "\n" not in msg, msg
    assert msg.startswith("CLIP model 'no-such-owner/no-such-clip' is not a local folder")
    assert "Nothing can be downloaded here" in msg and "pass the local folder DIR" in msg


def test_words_the_clip_cannot_read_are_named_in_a_warning_once(tmp_path, caplog):
    """The micro-CLIP reads the microworld's words only: 'a purple elephant' was scored as 'a purple <unk>'
    without a word, and a prompt past the token limit was cut off silently (``generate``/``enhance`` name
    both for their text encoders)."""
    import logging

    from streamt2v.microworld.dataset import eval_scene
    from streamt2v.microworld.render import render

    scorer = load_clip("microworld")
    video = render(eval_scene("a red circle bouncing on a blue background", 5), 4, 32)[None]
    with caplog.at_level(logging.WARNING, logger="streamt2v.metrics.clip_score"):
        clip_score([video, video], ["a purple elephant", "a purple elephant"], scorer)
        clip_score(video, "a red circle bouncing on a blue background", scorer)
        clip_score(video, " ".join(["a red circle"] * 10), scorer)
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 2, warnings
    assert "'a purple elephant'" in warnings[0] and "(read as <unk>): elephant" in warnings[0]
    assert f"32 tokens, of which CLIP reads the first {scorer.max_length}" in warnings[1]


_PEAK_SCRIPT = """
import resource
import numpy as np
import torch
torch.set_num_threads(1)
from streamt2v.metrics.clip_score import load_clip
scorer = load_clip("microworld")
frames = np.random.default_rng(0).integers(0, 256, (16, 1080, 1920, 3), dtype=np.uint8)
scorer.embed_frames(frames[:1, :64, :64])  # the model's first call, before the baseline
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
emb = scorer.embed_frames(frames)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(frames.nbytes, (after - before) * 1024, tuple(emb.shape))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ru_maxrss in KiB is Linux's")
def test_large_frames_are_resized_a_few_at_a_time():
    """A batch of frames was converted to float32 whole, then copied twice more before the resize: 20 frames of
    4K (500 MB) peaked at 6.8 GB. Now at most a few frames are float at a time (the same embeddings)."""
    out = subprocess.run([sys.executable, "-c", _PEAK_SCRIPT], capture_output=True, text=True, check=True)
    nbytes, grown, shape = out.stdout.split(maxsplit=2)
    assert shape.strip() == "(16, 64)"
    assert int(grown) < 2 * int(nbytes), (
        f"embedding {int(nbytes) / 1e6:.0f} MB of frames took {int(grown) / 1e6:.0f} MB"
    )


def test_frames_resized_a_few_at_a_time_embed_as_one_batch(monkeypatch):
    module = importlib.import_module(
        "streamt2v.metrics.clip_score"
    )  # the package's clip_score is the function
    scorer = load_clip("microworld")
    frames = np.random.default_rng(1).integers(0, 256, (5, 40, 56, 3), dtype=np.uint8)
    whole = scorer.embed_frames(frames)
    monkeypatch.setattr(module, "_RESIZE_VALUES", 40 * 56 * 3 * 2)  # two frames at a time
    assert torch.equal(scorer.embed_frames(frames), whole)


def test_frames_are_prepared_as_clips_own_image_processor_prepares_them():
    """Shortest side resized to the model's size (bicubic, antialiased), centre crop, CLIP's mean and std, as
    transformers' CLIPImageProcessor (PIL: rounded to uint8, hence the tolerance). Only the scores were
    checked, so a corner crop, a bilinear resize without antialiasing or no normalisation passed."""
    from transformers import CLIPImageProcessor

    scorer = load_clip("microworld")
    size, mean, std = scorer.image_size, scorer.mean.flatten().tolist(), scorer.std.flatten().tolist()
    blocks = np.random.default_rng(0).integers(0, 256, (2, 6, 10, 3)).astype(np.uint8)
    frames = np.stack([np.kron(f, np.ones((8, 8, 1), np.uint8)) for f in blocks])  # 48×80: resized, cropped
    processor = CLIPImageProcessor(
        size={"shortest_edge": size},
        crop_size={"height": size, "width": size},
        image_mean=mean,
        image_std=std,
    )
    expected = torch.from_numpy(np.stack(processor(list(frames), return_tensors="np")["pixel_values"]))
    error = (scorer._pixel_values(frames) - expected).abs()
    assert error.shape == (2, 3, size, size) and float(error.mean()) < 0.01 and float(error.max()) < 0.15


def test_one_video_with_a_list_of_prompts(tiny_clip, tmp_path):
    """One video (a path, uint8 frames, a (3, T, H, W) tensor) with a list of one prompt is one video: it was
    iterated (a path by its characters: 'got 12 video(s) but 1 prompt(s)'; frames by frame)."""
    from streamt2v.io.video import from_uint8_frames, write_video

    frames = np.random.default_rng(1).integers(0, 256, size=(3, 32, 32, 3), dtype=np.uint8)
    path = write_video(tmp_path / "frames", frames, fps=8)
    scorer = load_clip(tiny_clip)
    want = clip_score(frames, "a red circle", scorer)
    for video in (str(path), path, frames, from_uint8_frames(frames)[0]):
        assert clip_score(video, ["a red circle"], scorer) == [pytest.approx(want, abs=1e-3)]
    with pytest.raises(ValueError, match="1 video.*2 prompt"):
        clip_score(str(path), ["a red circle", "a blue square"], scorer)
    # a batch tensor (B, 3, T, H, W) stays a list of B videos
    batch = from_uint8_frames(frames).repeat(2, 1, 1, 1, 1)
    assert clip_score(batch, ["a red circle"] * 2, scorer) == [pytest.approx(want, abs=1e-3)] * 2


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_absent_gpu_is_named_before_loading(tiny_clip):
    # was an AssertionError from torch ('Torch not compiled with CUDA enabled') after the weights loaded
    with pytest.raises(ValueError, match="CUDA is not available; use device='cpu'"):
        load_clip(tiny_clip, device="cuda")


def test_a_damaged_preprocessor_config_is_named(tiny_clip, tmp_path):
    """A damaged preprocessor_config.json was the JSON decoder's words, naming no file."""
    folder = tmp_path / "clip"
    shutil.copytree(tiny_clip, folder)
    (folder / "preprocessor_config.json").write_text('{"image_mean": [0.4')
    with pytest.raises(ValueError, match=r"^CLIP preprocessor config '.*clip/preprocessor_config.json' is"):
        load_clip(folder)


def test_clip_quality_refuses_a_micro_clip_without_vocabulary(tmp_path):
    """clip_quality loaded the tokenizer with AutoTokenizer, past the check every other loader makes: a
    folder without a vocabulary failed in transformers' words ("Couldn't instantiate the backend
    tokenizer from one of: ..."), naming no folder."""
    from streamt2v.assets import microworld_clip_dir
    from streamt2v.microworld import quality

    (tmp_path / "clip").mkdir()
    for name in ("config.json", "model.safetensors", "tokenizer_config.json"):
        shutil.copy(microworld_clip_dir() / name, tmp_path / "clip" / name)
    shutil.copytree(microworld_clip_dir(), tmp_path / "image_encoder")  # refused before it is read
    with pytest.raises(FileNotFoundError, match=r"micro-CLIP folder '.*clip' holds no tokenizer vocabulary"):
        quality.clip_quality(tmp_path, samples=2, rounds=1)
