"""Defects found by the session-43 QA of ``streamt2v train`` (each test fails on the code before its fix)."""

from __future__ import annotations

import pytest

from streamt2v.train.loop import TrainConfig


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"lr": float("inf")}, "lr must be a finite number > 0, got inf"),
        ({"lr": float("nan")}, "lr must be a finite number > 0, got nan"),
        ({"weight_decay": float("inf")}, "weight_decay must be a finite number ≥ 0, got inf"),
        ({"weight_decay": -0.1}, r"weight_decay must be a finite number ≥ 0, got -0.1"),
    ],
)
def test_a_learning_rate_or_weight_decay_that_is_not_finite_is_refused_up_front(options, message):
    """--lr inf took a step (logged as "lr": Infinity, which is no JSON) and failed at the export with "latent
    std is nan; the VAE did not train"; --lr nan and a negative weight decay got torch's words, naming no
    setting; --weight-decay inf trained into NaN weights."""
    with pytest.raises(ValueError, match=message):
        TrainConfig(**options)
