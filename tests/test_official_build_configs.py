"""The full-size architecture against the official release's own descriptions (reference README §1):
``full_build_configs/*.json`` (the configs of damo-vilab/text-to-video-ms-1.7b the official model is built
from) and ``keys_summary.txt`` (parameter totals, the 13 T-MHA mergers and the 16 APM layers). The key
manifest itself (``keys_full.tsv``) is checked key by key in test_checkpoint_mapping / test_model_reference."""

from __future__ import annotations

import inspect
import json
import re
from collections import defaultdict
from pathlib import Path

import pytest
from diffusers import AutoencoderKL, UNet3DConditionModel
from transformers import CLIPTextConfig

from conftest import reference_cases
from streamt2v.config import PRESETS
from streamt2v.io.official_unet_keys import map_official_unet_key
from streamt2v.models.bundle import component_configs
from streamt2v.models.unet import skip_channels

CASES = [
    c for c in reference_cases() if (c / "full_build_configs").is_dir() and (c / "keys_summary.txt").is_file()
]
PRESET = PRESETS["modelscope-1.7b"]
TEXT_CONFIG_ENTRIES = set(CLIPTextConfig().to_dict()) - {"architectures", "transformers_version"}


def _defaults(cls: type) -> dict[str, object]:
    return {k: p.default for k, p in inspect.signature(cls.__init__).parameters.items()}


def _differences(ours: dict, official: dict, defaults: dict) -> list[str]:
    """Every official entry that ours (or, where ours leaves it out, the library's default) does not equal."""
    out = []
    for key, want in official.items():
        got = ours.get(key, defaults.get(key, "<absent>"))
        if (list(got) if isinstance(got, tuple) else got) != want:
            out.append(f"{key}: ours {got!r}, official {want!r}")
    return out


def test_reference_cases_found() -> None:
    assert CASES, "no full_build_configs/ and keys_summary.txt under ../shared/reference/official_modelscope*"


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_the_full_size_components_are_built_as_the_official_model(case: Path) -> None:
    """A wrong beta schedule, VAE scaling factor, norm eps or text-encoder depth would load the official
    weights without complaint (the shapes fit) and sample something else."""
    read = lambda name: json.loads((case / "full_build_configs" / f"{name}.json").read_text())  # noqa: E731
    comps = component_configs(PRESET)
    problems = {
        "unet": _differences(
            PRESET.unet.to_diffusers(), read("unet_config"), _defaults(UNet3DConditionModel)
        ),
        "scheduler": _differences(comps.scheduler, read("scheduler_config"), {}),
        "vae": _differences(comps.vae, read("vae_config"), _defaults(AutoencoderKL)),
        # the entries transformers reads (the official file also has dropout, which this version ignores)
        "text_encoder": _differences(
            CLIPTextConfig(**comps.text).to_dict(),
            {k: v for k, v in read("text_encoder_config").items() if k in TEXT_CONFIG_ENTRIES},
            {},
        ),
    }
    assert not any(problems.values()), problems


def _summary_totals(text: str) -> dict[str, tuple[int, int]]:
    """``prefix -> (params, keys)`` of the per-prefix lines of keys_summary.txt."""
    found = re.findall(r"^(\w+\.)\s+([\d,]+) params\s+(\d+) keys", text, re.M)
    return {p: (int(n.replace(",", "")), int(k)) for p, n, k in found}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_the_key_manifest_is_complete_and_mergers_and_apm_layers_are_ours(case: Path) -> None:
    summary = (case / "keys_summary.txt").read_text()
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for line in (case / "keys_full.tsv").read_text().splitlines()[1:]:
        key, _, _, numel, *_ = line.split("\t")
        totals[key.split(".")[0] + "."][0] += int(numel)
        totals[key.split(".")[0] + "."][1] += 1
    # keys_full.tsv, which the conversion tests check key by key, is the whole checkpoint
    assert {p: tuple(v) for p, v in totals.items()} == _summary_totals(summary)
    # the 13 T-MHA mergers: channels and heads (C // 64) in order, down blocks then mid
    mergers = re.findall(
        r"cross_attention_merger_(down_blocks\.\d+|mid_block)\s+C=(\d+)\s+heads=(\d+)", summary
    )
    u, s = PRESET.unet, PRESET.streaming
    channels = [*skip_channels(u.block_out_channels, u.layers_per_block), u.block_out_channels[-1]]
    assert [(int(c), int(h)) for _, c, h in mergers] == [(c, c // s.merger_head_dim) for c in channels]
    # the 16 APM layers, each a home in our model for its alpha
    apm = re.findall(
        r"^  ((?:down|up)_blocks\.\d+\.attentions\.\d+\.\S+\.attn2|mid_block\.\S+\.attn2)$", summary, re.M
    )
    assert len(apm) == 16
    assert all(map_official_unet_key(f"base_model.{layer}.alpha") for layer in apm)
