"""Shared fixtures: where the official reference data lives, deterministic torch settings."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
# The reference data produced by running the official implementation lives beside the checkout.
REFERENCE_ROOT = REPO_ROOT.parent / "shared" / "reference"


def reference_cases(prefix: str = "official_modelscope") -> list[Path]:
    """Every reference folder ``<prefix>*`` (new cases are picked up without code changes)."""
    return sorted(p for p in REFERENCE_ROOT.glob(f"{prefix}*") if p.is_dir())


@pytest.fixture(autouse=True)
def _torch_settings():
    torch.manual_seed(0)
    yield


def first_reference_case(prefix: str = "official_modelscope") -> Path:
    """The first reference folder; fails naming the path when the reference data is not beside the repo."""
    cases = reference_cases(prefix)
    if not cases:
        pytest.fail(
            f"no reference data: expected {REFERENCE_ROOT}/{prefix}* (the shared/ folder beside the repo)"
        )
    return cases[0]
