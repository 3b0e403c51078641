"""The stage-2 network against vectors from the official implementation (reference README §2).

For every reference folder, the model is built from its ``tiny_config.json``, loaded from its
``tiny_state_dict.safetensors`` through :func:`map_official_unet_key`, run in float64, and every stored
output/intermediate vector that belongs to the stage-2 network is recomputed and compared, as tightly as the
numbers allow: a swapped attention scale, a GroupNorm or LayerNorm eps off by 10x or a missing residual fails.
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Callable
from dataclasses import asdict
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import torch
from diffusers import UNet3DConditionModel
from safetensors import safe_open
from safetensors.torch import load_file

from conftest import reference_cases
from streamt2v.config import PRESETS, StreamingConfig
from streamt2v.io.official_unet_keys import STAGE2_PREFIXES, map_official_unet_key, unmap_official_unet_key
from streamt2v.models.denoiser import Denoiser
from streamt2v.models.unet import StreamingUNet

# Relative error allowed (norm of the difference / norm of the reference). Both sides run in float64, so a
# vector stored in float64 agrees to rounding; one stored in float32 to float32's rounding (measured: 4e-8).
# The timestep's sinusoid is computed in float32 (diffusers, as the official code) with the CPU's exp, whose
# last bit differs between machines: here one element of time_proj by 1 ulp, 3e-6 of time_proj and 1e-6 of
# eps. A GroupNorm eps of 1e-5 for the mergers' 1e-6 moves merger outputs by 1e-6, a LayerNorm eps of 1e-6
# for the APM's 1e-5 its x_cross by 1e-6: caught by the timestep-free vectors. Another CPU's exp, simulated
# by moving 1 to 32 of the 32 frequencies by 1 ulp, moved time_proj by up to 1.5e-5: hence 5e-5 there.
RTOL = {"F64": 1e-9, "F32": 2e-7}
RTOL_TIMESTEP = 5e-5
# Vectors computed through the timestep embedding.
TIMESTEP_DEPENDENT = re.compile(r"out\.eps_\w+|mid\.base\.time_\w+|mid\.cam\.(down_res\.[1-9]\d*|mid_res)")
VECTOR_FILES = ("tiny_io.safetensors", "tiny_modules.safetensors")
# Vectors of modules that are not part of the stage-2 network (the CLIP image encoder).
NOT_OURS = re.compile(r"^(out\.image_emb|image_encoder\.)")


def _is_input(key: str) -> bool:
    return key.startswith("in.") or bool(re.search(r"\.in(_\w+)?$", key))


def _section(cfg: dict[str, Any], prefix: str) -> dict[str, Any]:
    (value,) = [v for k, v in cfg.items() if k.split(" ")[0] == prefix]
    return value


def _case_vectors() -> list[tuple[Path, str, str, float]]:
    """``(case, file, key, tolerance)`` of every stored vector of the stage-2 network."""
    out = []
    for case in reference_cases():
        for fname in VECTOR_FILES:
            path = case / fname
            if not path.exists():
                continue
            with safe_open(str(path), "pt") as f:
                for k in sorted(f.keys()):
                    if _is_input(k) or NOT_OURS.match(k):
                        continue
                    dtype = f.get_slice(k).get_dtype()
                    rtol = RTOL_TIMESTEP if TIMESTEP_DEPENDENT.fullmatch(k) else RTOL.get(dtype, 1e-3)
                    out.append((case, fname, k, rtol))
    return out


def _build(case: Path) -> tuple[StreamingUNet, dict[str, Any]]:
    cfg = json.loads((case / "tiny_config.json").read_text())
    base = _section(cfg, "base_model")
    cam = _section(cfg, "unet")
    resampler = _section(cfg, "resampler")
    image_encoder = _section(cfg, "image_encoder")
    step = cfg["step"]
    allowed = inspect.signature(UNet3DConditionModel.__init__).parameters
    unet = {k: v for k, v in base["constructor_args"].items() if k in allowed}
    (clip_cfg,) = [v for k, v in image_encoder.items() if k.startswith("open_clip_model_config")]
    with safe_open(str(case / "tiny_io.safetensors"), "pt") as f:
        num_text_tokens = f.get_slice("in.text_emb").get_shape()[1]
    head_dims = {m["head_dim"] for m in base["derived_structure"]["mergers"]}
    (merger_head_dim,) = head_dims
    streaming = StreamingConfig(
        cond_embedding_channels=tuple(cam["from_unet_args"]["conditioning_embedding_out_channels"]),
        num_cond_frames=cam["from_unet_args"]["num_frames"],
        num_frames=step["frames"],
        merger_head_dim=merger_head_dim,
        num_text_tokens=num_text_tokens,
        num_image_tokens=resampler["constructor_args"]["expansion_factor"],
        image_embed_dim=clip_cfg["embed_dim"],
        resampler_inner_dim=resampler["constructor_args"]["inner_dim"],
    )
    model = StreamingUNet(unet, asdict(streaming)).double().eval()
    official = load_file(str(case / "tiny_state_dict.safetensors"))
    state = {}
    for key, value in official.items():
        ours = map_official_unet_key(key)
        if ours is not None:
            state[ours] = value.to(torch.float64)
    model.load_state_dict(state, strict=True)
    return model, cfg


class _Case:
    """Lazily computed vectors of one reference case."""

    def __init__(self, case: Path) -> None:
        self.model, self.cfg = _build(case)
        self.io = {
            k: v.to(torch.float64) if v.is_floating_point() else v
            for k, v in load_file(str(case / "tiny_io.safetensors")).items()
        }
        mod_path = case / "tiny_modules.safetensors"
        self.mod = (
            {k: v.to(torch.float64) for k, v in load_file(str(mod_path)).items()} if mod_path.exists() else {}
        )
        self._cache: dict[str, torch.Tensor] = {}

    # ---- full step (tiny_io) -------------------------------------------------------------------
    def tokens(self) -> tuple[torch.Tensor, torch.Tensor]:
        m = self.model
        return m.image_tokens(self.io["out.image_emb_uncond"]), m.image_tokens(self.io["out.image_emb"])

    def step_inputs(self) -> dict[str, torch.Tensor]:
        io = self.io
        unc, cond = self.tokens()
        frames = io["in.cond_frames"].permute(0, 2, 1, 3, 4)  # B F C H W -> B C F H W
        return {
            "sample": torch.cat([io["in.latents"]] * 2),
            "timestep": io["in.timestep"],
            "text_embeds": torch.cat([io["in.neg_text_emb"], io["in.text_emb"]]),
            "image_tokens": torch.cat([unc, cond]),
            "cond_frames": torch.cat([frames] * 2),
        }

    def eps(self) -> torch.Tensor:
        if "eps" not in self._cache:
            self._cache["eps"] = self.model(**self.step_inputs())
        return self._cache["eps"]

    def guided(self, guidance_scale: float) -> torch.Tensor:
        """The guided prediction as stage 2 samples it (pipeline.stream): the Denoiser's CFG around the model."""
        x = self.step_inputs()
        unc, cond = self.tokens()
        den = Denoiser("epsilon", torch.full((1000,), 0.5))  # guidance does not read the noise schedule
        return den.guided_output(
            self.model,
            self.io["in.latents"],
            x["timestep"],
            {"text_embeds": self.io["in.text_emb"], "image_tokens": cond},
            {"text_embeds": self.io["in.neg_text_emb"], "image_tokens": unc},
            guidance_scale,
            shared_kwargs={"cond_frames": x["cond_frames"][:1]},
        )

    def cam(self) -> tuple[tuple[torch.Tensor, ...], torch.Tensor]:
        x = self.step_inputs()
        n = self.model.streaming_config.num_cond_frames
        t = x["timestep"].reshape(-1).expand(x["sample"].shape[0])
        return self.model.cam(x["sample"][:, :, :n], t, x["text_embeds"], x["cond_frames"])

    def compute(self, key: str) -> torch.Tensor:
        io, mod, m = self.io, self.mod, self.model
        as_bfchw = lambda x: x.permute(0, 2, 1, 3, 4)  # noqa: E731  (B, C, F, H, W) <-> (B, F, C, H, W)
        cond_half = lambda x: as_bfchw(x[1:2])[0]  # noqa: E731  (2, C, F, h, w) -> (F, C, h, w)
        g = float(io["in.guidance_scale"])
        rules: list[tuple[str, Callable[[re.Match[str]], torch.Tensor]]] = [
            (r"out\.resampler_tokens$", lambda _: self.tokens()[1]),
            (r"out\.resampler_tokens_uncond$", lambda _: self.tokens()[0]),
            (r"out\.eps_uncond$", lambda _: self.eps()[:1]),
            (r"out\.eps_cond$", lambda _: self.eps()[1:]),
            (r"out\.eps_cfg$", lambda _: self.guided(g)),
            (r"out\.eps_nocam$", lambda _: m(**{**self.step_inputs(), "cond_frames": None})),
            (r"mid\.base\.time_proj$", lambda _: self._time_proj()),
            (r"mid\.base\.time_embedding$", lambda _: m.base.time_embedding(self._time_proj())),
            (r"mid\.cam\.E_cond$", lambda _: m.cam.controlnet_cond_embedding(io["in.cond_frames"][0])),
            (r"mid\.cam\.down_res\.(\d+)$", lambda r: cond_half(self.cam()[0][int(r[1])])),
            (r"mid\.cam\.mid_res$", lambda _: cond_half(self.cam()[1])),
            (r"(mid\.base\.)?merger_down\.(\d+)\.out$", lambda r: self._merger(r[1] or "", int(r[2]))),
            (r"E_cond\.out$", lambda _: m.cam.controlnet_cond_embedding(mod["E_cond.in"])),
            (r"resampler\.out$", lambda _: m.image_tokens(mod["resampler.in"][None])),
            (
                r"apm_attn2\.out$",
                lambda _: self._apm()(
                    mod["apm_attn2.in_hidden_states"],
                    encoder_hidden_states=mod["apm_attn2.in_encoder_hidden_states"],
                ),
            ),
            (
                r"apm_attn2\.mid_x_cross$",
                lambda _: self._apm().processor.mix(mod["apm_attn2.in_encoder_hidden_states"]),
            ),
        ]
        for pattern, fn in rules:
            if match := re.fullmatch(pattern, key):
                with torch.no_grad():
                    return fn(match)
        pytest.fail(f"no rule to compute reference vector {key!r}: teach test_model_reference about it")

    def _time_proj(self) -> torch.Tensor:
        t = self.io["in.timestep"].reshape(-1).expand(2)
        return self.model.base.time_proj(t).to(torch.float64)

    def _merger(self, where: str, index: int) -> torch.Tensor:
        m = self.model
        if where:  # inside the full step: its conditioning input is the CAM's down_res (reference README)
            sample = self.io[f"mid.base.merger_down.{index}.in_sample"]
            res = self.io[f"mid.cam.down_res.{index}"]
            cond = res.reshape(1, -1, *res.shape[1:])  # (B F) C H W -> B F C H W
        else:
            sample = self.mod[f"merger_down.{index}.in_sample"]
            cond = self.mod[f"merger_down.{index}.in_cond"]
        out = m.down_mergers[index](sample.permute(0, 2, 1, 3, 4), cond.permute(0, 2, 1, 3, 4))
        return out.permute(0, 2, 1, 3, 4)

    def _apm(self) -> torch.nn.Module:
        # The module the reference README names for the apm_attn2 vectors.
        ours = map_official_unet_key("base_model.down_blocks.0.attentions.0.transformer_blocks.0.attn2.alpha")
        path = ours.removesuffix(".processor.alpha").split(".", 1)[1]
        return self.model.base.get_submodule(path)


@cache
def _case(case: Path) -> _Case:
    return _Case(case)


VECTORS = _case_vectors()


@pytest.mark.skipif(not VECTORS, reason="no official reference data beside the checkout")
@pytest.mark.parametrize(
    ("case", "fname", "key", "rtol"), VECTORS, ids=[f"{c.name}:{k}" for c, _, k, _ in VECTORS]
)
def test_matches_official_vector(case: Path, fname: str, key: str, rtol: float) -> None:
    c = _case(case)
    ref = (c.io if fname == "tiny_io.safetensors" else c.mod)[key]
    out = c.compute(key)
    assert tuple(out.shape) == tuple(ref.shape), f"{key}: shape {tuple(out.shape)} != {tuple(ref.shape)}"
    err = (torch.linalg.vector_norm(out.double() - ref) / torch.linalg.vector_norm(ref)).item()
    assert err <= rtol, f"{key}: relative error {err:.3g} > {rtol}"


@pytest.mark.skipif(not reference_cases(), reason="no official reference data beside the checkout")
@pytest.mark.parametrize("case", reference_cases(), ids=lambda p: p.name)
def test_state_dict_loads_strictly(case: Path) -> None:
    """Every stage-2 official tensor has a home and every one of ours is loaded (done in _build)."""
    model = _case(case).model
    assert sum(p.numel() for p in model.parameters()) > 0


@pytest.mark.skipif(not reference_cases(), reason="no official reference data beside the checkout")
@pytest.mark.parametrize("case", reference_cases(), ids=lambda p: p.name)
def test_official_keys_map_bijectively_onto_full_size_model(case: Path) -> None:
    """Every stage-2 key of the real checkpoint (keys_full.tsv) has exactly one home of the same shape."""
    manifest = case / "keys_full.tsv"
    if not manifest.exists():
        pytest.skip(f"{manifest} missing")
    preset = PRESETS["modelscope-1.7b"]
    with torch.device("meta"):
        model = StreamingUNet.from_config_objects(preset.unet, preset.streaming)
    ours = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    mapped: dict[str, str] = {}
    shape_errors = []
    for line in manifest.read_text().splitlines()[1:]:
        key, shape, *_ = line.split("\t")
        target = map_official_unet_key(key)
        if target is None:
            assert not key.startswith(STAGE2_PREFIXES), key
            continue
        assert target not in mapped, f"{key} and {mapped[target]} both map to {target}"
        mapped[target] = key
        want = () if shape == "scalar" else tuple(int(n) for n in shape.split("x"))
        if ours.get(target, want) != want:
            shape_errors.append((key, want, ours[target]))
        assert unmap_official_unet_key(target) == key
    assert not shape_errors, shape_errors[:5]
    assert sorted(set(mapped) - set(ours))[:5] == [], "official keys without a home"
    assert sorted(set(ours) - set(mapped))[:5] == [], "our keys not in the official checkpoint"
