"""write_video / to_uint8_frames and frames of another pixel convention: refused with the conversion, never
saturated into a white or black video (README: frames of another convention are refused)."""

import re

import numpy as np
import pytest
import torch

from streamt2v.io.video import from_uint8_frames, read_video, to_uint8_frames, video_frames, write_video


def _video(t: int = 3) -> torch.Tensor:
    return torch.linspace(-1, 1, 3 * t * 8 * 8).reshape(1, 3, t, 8, 8)


@pytest.mark.parametrize(
    ("bad", "said"),
    [
        (lambda v: (v + 1) * 127.5, "x.float() / 127.5 - 1"),  # 0-255 floats: was an all-white video
        (lambda v: v.clone().index_fill_(2, torch.tensor([1]), float("nan")), "NaN or infinite"),
    ],
    ids=["0-255 floats", "NaN"],
)
def test_another_convention_is_refused_and_nothing_written(tmp_path, bad, said):
    video = bad(_video())
    with pytest.raises(ValueError, match=re.escape(said)):
        to_uint8_frames(video)
    with pytest.raises(ValueError, match=re.escape(said)):
        write_video(tmp_path / "out.mp4", video, fps=8)
    assert list(tmp_path.iterdir()) == []


def test_slight_overshoot_saturates_as_before():
    video = _video() * 1.07  # decoders overshoot (the shipped VAE to 1.067): that is still a [-1, 1] video
    frames = to_uint8_frames(video)
    assert frames.min() == 0 and frames.max() == 255


def test_uint8_frames_as_a_tensor_are_written_like_the_numpy_array(tmp_path):
    frames = to_uint8_frames(_video())
    write_video(tmp_path / "a", frames, fps=8)
    write_video(tmp_path / "b", torch.from_numpy(frames), fps=8)  # was refused for its shape
    np.testing.assert_array_equal(to_uint8_frames(read_video(tmp_path / "b")[0]), frames)
    np.testing.assert_array_equal(to_uint8_frames(read_video(tmp_path / "a")[0]), frames)


def test_a_uint8_video_is_written_as_its_0_255_values(tmp_path):
    """A uint8 video (1, 3, T, H, W) was refused by write_video (saturated as if in [-1, 1] before that: almost
    all white) while the metrics read it as 0-255: one rule now, the metrics' (io.video.video_frames). The
    float converter still refuses it, naming the conversion."""
    video = _video()
    as_uint8 = ((video + 1) * 127.5).round().to(torch.uint8)
    with pytest.raises(ValueError, match=re.escape("dtype torch.uint8")):
        to_uint8_frames(as_uint8)
    write_video(tmp_path / "a", as_uint8, fps=8)
    write_video(tmp_path / "b", as_uint8[0], fps=8)  # (3, T, H, W) too
    for name in ("a", "b"):
        np.testing.assert_array_equal(to_uint8_frames(read_video(tmp_path / name)[0]), to_uint8_frames(video))


@pytest.mark.parametrize(
    "bad, said",
    [
        # uint8 is taken as frames too: the refusal listed only the channels-first layouts
        (torch.zeros(5, 6, 3, dtype=torch.uint8), "expected uint8 frames (T, H, W, 3) or a video tensor"),
        # an integer video that is not uint8: said what to give, not how
        (torch.zeros(3, 2, 4, 4, dtype=torch.int64), "(0-255 integers: x.to(torch.uint8))"),
        # a bool mask: the integer conversion would write True as 1 of 255, nearly black
        (torch.zeros(3, 2, 4, 4, dtype=torch.bool), "(masks: x.to(torch.uint8) * 255)"),
        # a float numpy array: which convention it holds is the caller's to say, with the conversion
        (np.zeros((2, 4, 4, 3), np.float32), "[-1, 1] floats: torch.from_numpy(x).permute(3, 0, 1, 2)"),
    ],
)
def test_a_video_of_the_wrong_form_is_refused_with_the_form_to_give(tmp_path, bad, said):
    with pytest.raises(ValueError, match=re.escape(said)):
        write_video(tmp_path / "v.mp4", bad, 8)
    assert not (tmp_path / "v.mp4").exists()


@pytest.mark.parametrize(
    "shape, said",
    [
        # a tensor's layout as numpy (video.numpy()): the hint was the frames' permute, which fails on 5-D
        ((1, 3, 2, 4, 4), "0-255 floats: x[0].transpose(1, 2, 3, 0).round().astype(np.uint8)"),
        ((1, 3, 2, 4, 4), "[-1, 1] floats: torch.from_numpy(x)"),
        ((3, 2, 4, 4), "[-1, 1] floats: torch.from_numpy(x)"),
        ((1, 2, 4, 4, 3), "[-1, 1] floats: torch.from_numpy(x[0]).permute(3, 0, 1, 2)"),
        ((2, 3, 4, 4), "[-1, 1] floats: torch.from_numpy(x).permute(1, 0, 2, 3)"),
    ],
)
def test_a_float_array_is_given_the_conversion_for_its_own_layout(tmp_path, shape, said):
    from streamt2v.metrics.probes import probe_video

    video = np.zeros(shape, np.float32)
    for call in (lambda: write_video(tmp_path / "v.mp4", video, 8), lambda: probe_video(video)):
        with pytest.raises(ValueError, match=re.escape(said) + "(;|$)"):  # the whole expression
            call()


def test_each_conversion_a_float_array_is_given_makes_the_same_video(tmp_path):
    """The hints are code that runs: each one turns the (1, 3, T, H, W) array into the video it holds."""
    x = np.random.default_rng(0).uniform(-1, 1, (1, 3, 2, 4, 4)).astype(np.float32)
    expected = to_uint8_frames(torch.from_numpy(x))
    unit = (x + 1) / 2  # [0, 1]
    assert np.array_equal(video_frames(torch.from_numpy(x)), expected)
    assert np.array_equal(
        video_frames((unit[0].transpose(1, 2, 3, 0) * 255).round().astype(np.uint8)), expected
    )
    with pytest.raises(ValueError, match=re.escape("as frames: x[0].transpose(1, 2, 3, 0)")):
        video_frames(expected.transpose(3, 0, 1, 2)[None])


@pytest.mark.parametrize(
    "layout",
    [
        lambda v: v[0].transpose(1, 2, 3, 0),  # frames (T, H, W, 3)
        lambda v: v[0].transpose(1, 2, 3, 0)[None],  # (1, T, H, W, 3)
        lambda v: v,  # a video tensor's (1, 3, T, H, W)
        lambda v: v[0],  # (3, T, H, W)
        lambda v: v[0].transpose(1, 0, 2, 3),  # (T, 3, H, W)
    ],
)
@pytest.mark.parametrize("as_tensor", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_from_uint8_frames_gives_floats_conversions_that_make_the_video_it_returns(layout, as_tensor, dtype):
    """from_uint8_frames of a float array: each hint, run as written, makes what it returns, a (1, 3, T, H, W)
    float32 video (the [-1, 1] one made a (3, T, H, W) tensor: '[None]' was missing; a float64 one kept its
    dtype). A float tensor is given them in torch (it was given none: review Y)."""
    frames = np.random.default_rng(0).integers(0, 256, (2, 4, 4, 3), dtype=np.uint8)
    video = from_uint8_frames(frames)
    x = layout(video.numpy()).astype(dtype)
    if as_tensor:
        x = torch.from_numpy(np.ascontiguousarray(x))
    with pytest.raises(ValueError) as err:
        from_uint8_frames(x)
    hints = dict(re.findall(r"; ([^:;]+ floats): ([^;]+)", str(err.value)))
    assert list(hints) == ["0-255 floats", "[0, 1] floats", "[-1, 1] floats"], str(err.value)
    held = {"0-255 floats": (x + 1) * 127.5, "[0, 1] floats": (x + 1) / 2, "[-1, 1] floats": x}
    for convention, code in hints.items():
        made = eval(code, {"np": np, "torch": torch, "x": held[convention]})
        made = made if convention == "[-1, 1] floats" else from_uint8_frames(made)
        assert made.dtype == video.dtype and torch.equal(made, video), code  # torch.equal takes other dtypes


@pytest.mark.parametrize("given", ["array", "tensor", "list"])
@pytest.mark.parametrize("dtype", ["int64", "bool"])
@pytest.mark.parametrize(
    "layout", [lambda f: f, lambda f: f.transpose(3, 0, 1, 2)]
)  # (T, H, W, 3), (3, T, H, W)
def test_from_uint8_frames_tells_integer_frames_of_another_dtype_the_conversion(layout, dtype, given):
    """int64 frames (0-255 read by another library) are told the uint8 conversion, and bool masks the one that
    makes True white, which run as written: a tensor was told nothing, an array too, a list of frames still
    was."""
    frames = np.random.default_rng(0).integers(0, 256, (2, 4, 4, 3), dtype=np.uint8)
    if dtype == "bool":  # a mask: black and white frames
        frames = (frames > 127).astype(np.uint8) * 255
    x = np.ascontiguousarray(layout(frames)).astype(dtype)
    x = {"array": x, "tensor": torch.from_numpy(x), "list": list(x)}[given]
    with pytest.raises(ValueError) as err:
        from_uint8_frames(x)
    told = "masks" if dtype == "bool" else "0-255 integers"
    (code,) = re.findall(rf"; {told}: ([^;]+)$", str(err.value))
    made = eval(code, {"np": np, "torch": torch, "x": x})
    assert torch.equal(from_uint8_frames(made), from_uint8_frames(frames)), code
