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
