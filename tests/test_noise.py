"""Frame-correlated noise (sampling/noise.py): the PYoCo mixed noise prior used in training and sampling."""

import pytest
import torch

from streamt2v.sampling.noise import frame_correlated_noise


def _frame_correlation(noise: torch.Tensor, a: int, b: int) -> float:
    pair = torch.stack([noise[:, :, a].flatten(), noise[:, :, b].flatten()])
    return float(torch.corrcoef(pair)[0, 1])


def test_zero_correlation_is_the_plain_draw():
    # seeds keep giving the videos they gave before the option existed
    shape = (2, 4, 5, 3, 3)
    plain = torch.randn(shape, generator=torch.Generator().manual_seed(7))
    assert torch.equal(frame_correlated_noise(shape, 0.0, generator=torch.Generator().manual_seed(7)), plain)


@pytest.mark.parametrize("rho", [0.0, 0.3, 0.8])
def test_unit_variance_and_frame_correlation(rho):
    noise = frame_correlated_noise((64, 8, 6, 8, 8), rho, generator=torch.Generator().manual_seed(1))
    assert noise.std().item() == pytest.approx(1.0, abs=0.02)
    for a, b in [(0, 1), (0, 5), (2, 4)]:
        assert _frame_correlation(noise, a, b) == pytest.approx(rho, abs=0.03)
    # only frames share noise: two clips of the batch stay independent
    clips = torch.stack([noise[0].flatten(), noise[1].flatten()])
    assert abs(float(torch.corrcoef(clips)[0, 1])) < 0.05


def test_same_generator_state_same_noise():
    draw = [
        frame_correlated_noise((1, 2, 4, 2, 2), 0.5, generator=torch.Generator().manual_seed(3)) for _ in "ab"
    ]
    assert torch.equal(*draw)


@pytest.mark.parametrize("rho", [1.0, -0.2, 1.5])
def test_bad_correlation_names_the_value(rho):
    with pytest.raises(ValueError, match=f"noise_correlation must be in \\[0, 1\\), got {rho}"):
        frame_correlated_noise((1, 1, 2, 1, 1), rho)
