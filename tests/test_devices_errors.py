"""What ``--device`` (``device=``) errors say: the device as the user wrote it, and a device to use instead."""

from __future__ import annotations

import pytest
import torch

from streamt2v.memory import resolve_device


def test_a_cuda_index_past_the_gpus_present_says_which_to_use(monkeypatch):
    """``--device cuda:1`` on a one-GPU machine said only "only 1 CUDA device(s) present", not what to use."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device("cuda:1") == torch.device("cuda:1")
    with pytest.raises(ValueError) as refused:
        resolve_device("cuda:2")
    assert str(refused.value) == (
        "device 'cuda:2' requested but only 2 CUDA devices are present (cuda:0 to cuda:1); "
        "use device='cuda:0' or device='auto'"
    )
    assert str(refused.value.as_flags()).endswith("; use --device cuda:0 or --device auto")  # the CLI's
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(ValueError, match=r"only 1 CUDA device is present \(cuda:0\); use device='cuda:0'"):
        resolve_device(torch.device("cuda", 1))


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_a_torch_device_is_named_as_the_user_would_write_it():
    """``model.to(torch.device("cuda"))`` without CUDA said "device device(type='cuda') requested"."""
    with pytest.raises(
        ValueError, match=r"^device 'cuda:0' requested but CUDA is not available; use device='cpu'"
    ):
        resolve_device(torch.device("cuda", 0))
