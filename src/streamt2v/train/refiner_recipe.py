"""The ``refiner`` recipe (stage 3, paper §4.3): the base objective at the enhanced resolution, optionally
restoration training (``train/degradation.py``), with samples that fit a UNet trained on low noise only."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from streamt2v.arguments import ArgumentValueError, RecipeOption
from streamt2v.train.frozen import as_given, load_frozen_vae
from streamt2v.train.recipes import SampleInputs, option_arg, write_sample
from streamt2v.train.video_recipes import BaseRecipe


@dataclass
class RefinerRecipe(BaseRecipe):
    """Stage-3 refiner: the same text-to-video objective at the enhanced resolution (2× the base) on
    24-frame clips, the enhancer's chunk length (paper §4.3); optionally restoration training."""

    name: str = "refiner"
    size: int = 64
    num_frames: int = 24
    # ≥ 2: restoration training (train/degradation.py): each clip downscaled by this factor and upscaled
    # back as stage 3 upscales its input, then noised; the target stays the clean clip, so SDEdit from
    # the low noise levels this recipe trains (``max_train_timestep``) sharpens what it is given instead
    # of keeping its blur. 0 = the plain objective.
    degrade_scale: int = 0
    # With ``degrade_scale``: a VAE folder whose round trip at the low resolution is part of the
    # degradation; the stage-1/2 model's ``vae/``, which decodes the videos stage 3 refines.
    degrade_vae: str = ""

    def __post_init__(self) -> None:
        super().__post_init__()
        scale = option_arg("degrade_scale", self.degrade_scale)
        if self.degrade_scale < 0 or self.degrade_scale == 1:
            raise ArgumentValueError(
                option_arg("degrade_scale"), f" must be 0 (off) or an integer ≥ 2, got {self.degrade_scale}"
            )
        if self.degrade_scale and self.size % self.degrade_scale:
            raise ArgumentValueError(option_arg("size", self.size), " is not divisible by ", scale)
        if self.degrade_vae and not self.degrade_scale:
            raise ArgumentValueError(
                as_given(self.degrade_vae, option_arg("degrade_vae")),
                " needs ",
                option_arg("degrade_scale"),
                " ≥ 2",
            )
        if self.degrade_scale and self.latent_cache:
            raise ArgumentValueError(
                scale,
                " needs every clip in pixels; ",
                option_arg("latent_cache", self.latent_cache),
                " keeps only latents (use ",
                option_arg("latent_cache", 0),
                ")",
            )

    def make_degradation(self) -> nn.Module | None:
        if not self.degrade_scale:
            return None
        from streamt2v.train.degradation import LowResolutionDegradation

        vae = None
        if self.degrade_vae:
            vae = load_frozen_vae(
                self.degrade_vae,
                option=RecipeOption("degrade_vae"),
                recipe=self.name,
                what="the degradation VAE ({})",
                source="the stage-1/2 model's vae/",
            )
        return LowResolutionDegradation(self.degrade_scale, vae)

    @torch.no_grad()
    def sample(self, module: nn.Module, step: int, out_dir: Path, inputs: SampleInputs) -> None:
        """A low-noise refiner cannot sample from noise: one denoising step from the middle of its
        trained noise levels on the held-aside clip of ``inputs`` (degraded as in training, if it is),
        written as the clip, the refiner's input and its x̂0 side by side."""
        if not (self.max_train_timestep or self.degrade_scale):
            return super().sample(module, step, out_dir, inputs)
        item = inputs.items[0]
        device = next(module.net.parameters()).device
        video = item["video"][None].to(device)
        given = module.degradation(video) if module.degradation is not None else video
        z = module.vae.encode(given)
        t = torch.tensor([self.timestep_limit() // 2], device=device)
        noise = torch.randn(z.shape, generator=torch.Generator().manual_seed(0)).to(z)
        x_t = module.denoiser.add_noise(z, noise, t)
        emb = module.text.encode([item["caption"]])
        pred = module.net(x_t, t, encoder_hidden_states=emb.to(x_t.dtype)).sample
        restored = module.vae.decode(module.denoiser.to_x0(pred, x_t, t))
        write_sample(
            out_dir / f"{self.name}-{step:08d}.mp4",
            torch.cat([video, given, restored], dim=-1),
            inputs.fps,
            item["caption"],
        )
