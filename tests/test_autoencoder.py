"""VideoAutoencoder: scaling, frame slicing and layout over a tiny random AutoencoderKL."""

from __future__ import annotations

import pytest
import torch
from diffusers import AutoencoderKL

from streamt2v.models.autoencoder import VideoAutoencoder


def _tiny_vae(scaling: float = 0.18215) -> AutoencoderKL:
    torch.manual_seed(0)
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 3,
        up_block_types=("UpDecoderBlock2D",) * 3,
        block_out_channels=(8, 8, 16),
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=4,
        sample_size=16,
        scaling_factor=scaling,
    ).eval()


def test_encode_is_scaled_per_frame_and_slicing_invariant() -> None:
    vae = _tiny_vae()
    ae = VideoAutoencoder(vae, frames_per_slice=2)
    assert ae.scale_factor == 4 and ae.scaling_factor == pytest.approx(0.18215)
    video = torch.rand(2, 3, 5, 16, 16) * 2 - 1
    z = ae.encode(video)
    assert z.shape == (2, 4, 5, 4, 4)
    # Frame (b=1, t=3) through the raw VAE, scaled by the config's factor.
    ref = vae.encode(video[1:2, :, 3]).latent_dist.mode() * 0.18215
    torch.testing.assert_close(z[1:2, :, 3], ref, atol=1e-5, rtol=1e-5)
    whole = VideoAutoencoder(vae, frames_per_slice=100).encode(video)
    torch.testing.assert_close(z, whole, atol=1e-5, rtol=1e-5)


def test_decode_unscales_clamps_and_slices() -> None:
    vae = _tiny_vae()
    ae = VideoAutoencoder(vae, frames_per_slice=3)
    z = torch.randn(1, 4, 4, 4, 4) * 5
    x = ae.decode(z)
    assert x.shape == (1, 3, 4, 16, 16)
    assert x.min() >= -1 and x.max() <= 1
    ref = vae.decode(z[:, :, 2] / 0.18215).sample.clamp(-1, 1)
    torch.testing.assert_close(x[:, :, 2], ref, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(x, VideoAutoencoder(vae, 1).decode(z), atol=1e-5, rtol=1e-5)


def test_scaling_factor_comes_from_config() -> None:
    video = torch.rand(1, 3, 2, 16, 16) * 2 - 1
    a = VideoAutoencoder(_tiny_vae(0.5)).encode(video)
    b = VideoAutoencoder(_tiny_vae(1.0)).encode(video)
    torch.testing.assert_close(a * 2, b, atol=1e-5, rtol=1e-5)


def test_sampling_uses_generator() -> None:
    ae = VideoAutoencoder(_tiny_vae())
    video = torch.rand(1, 3, 2, 16, 16) * 2 - 1
    s1 = ae.encode(video, generator=torch.Generator().manual_seed(1), sample=True)
    s2 = ae.encode(video, generator=torch.Generator().manual_seed(1), sample=True)
    s3 = ae.encode(video, generator=torch.Generator().manual_seed(2), sample=True)
    assert torch.equal(s1, s2) and not torch.equal(s1, s3)


def test_bad_inputs_raise() -> None:
    ae = VideoAutoencoder(_tiny_vae())
    with pytest.raises(ValueError, match="frame size 10x16 is not divisible by the VAE scale factor 4"):
        ae.encode(torch.zeros(1, 3, 1, 10, 16))
    with pytest.raises(ValueError, match=r"\(B, 3, T, H, W\)"):
        ae.encode(torch.zeros(1, 3, 16, 16))
    with pytest.raises(ValueError, match=r"\(B, 4, T, H, W\)"):
        ae.decode(torch.zeros(1, 3, 1, 4, 4))
    with pytest.raises(ValueError, match="frames_per_slice"):
        VideoAutoencoder(_tiny_vae(), frames_per_slice=0)
