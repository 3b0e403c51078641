import pytest
import torch

from streamt2v.pixels import check_pixels


def test_check_pixels_refuses_other_conventions_naming_the_input():
    ok = torch.rand(1, 3, 2, 4, 4) * 2 - 1
    with pytest.raises(ValueError, match=r"init_video has dtype torch.uint8.*x.float\(\) / 127.5 - 1"):
        check_pixels(((ok + 1) * 127.5).to(torch.uint8), "init_video")
    with pytest.raises(ValueError, match=r"anchor has values in \[0, 255\]; pixels are in \[-1, 1\]"):
        check_pixels(torch.tensor([0.0, 255.0]), "anchor")
    nan = ok.clone()
    nan[0, 1, 1, 2, 3] = float("nan")
    with pytest.raises(ValueError, match="video has 1 NaN or infinite value"):
        check_pixels(nan, "video")
    with pytest.raises(TypeError, match="frames must be a torch.Tensor.*ndarray"):
        check_pixels(ok.numpy(), "frames")


def test_check_pixels_clamps_a_small_overshoot_into_a_new_tensor():
    x = torch.tensor([-1.04, 0.0, 1.07])  # 1.07: the shipped VAE's own decode of training clips, unclamped
    out = check_pixels(x, "video")
    assert out.tolist() == pytest.approx([-1.0, 0.0, 1.0])
    out.add_(1)  # the caller's tensor is not aliased
    assert x.tolist() == pytest.approx([-1.04, 0.0, 1.07])


@pytest.mark.parametrize("dtype", ["float32", "float16", "float64", "int64", "uint8", "bool"])
@pytest.mark.parametrize("listed", [False, True])
@pytest.mark.parametrize("image", [False, True])
def test_the_conversion_a_numpy_input_is_told_runs_and_makes_the_float32_pixels_asked_for(
    dtype, listed, image
):
    """check_pixels of numpy frames names a conversion that runs as written and gives float32 pixels: a
    float16/float64 array's kept its dtype, an int64 array was called uint8 and told from_uint8_frames(x),
    which refuses it, and a list's expression was rewritten by string replacement. A bool mask (True white)
    was told nothing."""
    import numpy as np

    import streamt2v.io.video

    frames = np.random.default_rng(0).integers(0, 256, (2, 4, 4, 3), dtype=np.uint8)
    if dtype == "bool":  # a mask: black and white frames
        frames = (frames > 127).astype(np.uint8) * 255
    video = streamt2v.io.video.from_uint8_frames(frames)
    as_floats = np.dtype(dtype).kind == "f"
    array = (video[0].permute(1, 2, 3, 0).numpy() if as_floats else frames).astype(dtype)
    x = list(array) if listed else array
    with pytest.raises(TypeError) as err:
        check_pixels(x, "frames", image=image)
    told = str(err.value).split("; ", 1)[1]
    assert f"{dtype} numpy {'frames' if listed else 'array'}" in told, told
    code = told.split(": ", 1)[1]
    made = eval(code, {"np": np, "torch": torch, "streamt2v": streamt2v, "x": x})
    wanted = video[:, :, 0] if image else video
    assert made.dtype == torch.float32, code
    assert torch.allclose(check_pixels(made, "frames"), wanted, atol=1e-2 if dtype == "float16" else 0), code
