"""The ``vae`` recipe: diffusers ``AutoencoderKL`` on frames, reconstruction MSE (optionally edge-weighted) +
a small KL; the latent scaling factor is measured on data after training (``1 / std`` of the latents) and
stored in its config."""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

from streamt2v.arguments import Arg, ArgumentValueError, RecipeOption, naming_arguments
from streamt2v.microworld.dataset import ClipSpec
from streamt2v.models.denoiser import weighted_mse
from streamt2v.models.strict_loading import from_pretrained_strict
from streamt2v.train.frozen import need_model_dir, shipped_advice
from streamt2v.train.part_sources import TRAINED_SOURCES
from streamt2v.train.recipes import (
    DataOptions,
    SampleInputs,
    check_at_least,
    check_frames_per_sample,
    name_shipped_parts,
    option_arg,
    write_sample,
)

logger = logging.getLogger(__name__)


def edge_weights(x: torch.Tensor, strength: float) -> torch.Tensor:
    """Per-pixel loss weights ``1 + strength · |∇x| / mean |∇x|`` for ``(N, C, H, W)`` targets.

    |∇x| is the Sobel gradient magnitude summed over channels; dividing by each image's mean makes the
    weight independent of contrast. Edges are a few percent of the pixels of a small frame, so a plain
    mean lets a decoder round corners at little cost; these weights make edge pixels count.
    """
    sobel = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]], device=x.device)
    kernels = torch.stack([sobel, sobel.T])[:, None].repeat(x.shape[1], 1, 1, 1)  # (2C, 1, 3, 3)
    padded = F.pad(x.float(), (1, 1, 1, 1), mode="replicate")
    grad = F.conv2d(padded, kernels, groups=x.shape[1])  # (N, 2C, H, W): d/dx, d/dy per channel
    magnitude = grad.square().unflatten(1, (x.shape[1], 2)).sum(2).sqrt().sum(1, keepdim=True)
    return 1.0 + strength * magnitude / magnitude.mean(dim=(2, 3), keepdim=True).clamp_min(1e-6)


class VAETrainer(nn.Module):
    """Frame autoencoder objective: ``MSE(x, D(z)) + kl_weight · KL(q(z|x) ‖ N(0, I)) / latent size``,
    the MSE weighted by :func:`edge_weights` when ``edge_weight > 0``.

    ``latent_noise = s > 0`` decodes ``z + σ·ε``, ``σ`` drawn from ``U(0, s)`` per frame times the batch's
    ``std(z)``: the decoder learns to map latents off the encoder's manifold (as a diffusion model's samples
    are) back onto clean frames.
    """

    def __init__(
        self, vae: nn.Module, kl_weight: float, edge_weight: float = 0.0, latent_noise: float = 0.0
    ) -> None:
        super().__init__()
        self.vae = vae
        self.kl_weight = kl_weight
        self.edge_weight = edge_weight
        self.latent_noise = latent_noise

    def compile_parts(self) -> list[nn.Module]:
        """What ``compile`` compiles (:mod:`streamt2v.compiling`): the encoder and the decoder."""
        return [self.vae.encoder, self.vae.decoder]

    def forward(self, batch: dict[str, Any], generator: torch.Generator) -> tuple[torch.Tensor, dict]:
        x = batch["video"]  # (B, 3, T, H, W)
        b, c, t, h, w = x.shape
        x = x.permute(0, 2, 1, 3, 4).reshape(b * t, c, h, w)  # (B T, 3, H, W)
        post = self.vae.encode(x).latent_dist
        eps = torch.randn(post.mean.shape, generator=generator).to(post.mean)
        z = post.mean + post.std * eps
        if self.latent_noise > 0:
            u = torch.rand((z.shape[0], 1, 1, 1), generator=generator).to(z)
            noise = torch.randn(z.shape, generator=generator).to(z)
            z = z + self.latent_noise * u * z.detach().std() * noise
        rec = self.vae.decode(z).sample
        logs = {}
        if self.edge_weight > 0:
            rec_loss = weighted_mse(rec, x, edge_weights(x, self.edge_weight))
            logs["mse"] = float(weighted_mse(rec.detach(), x))
        else:
            rec_loss = weighted_mse(rec, x)
        kl = (post.kl().float() / z[0].numel()).mean()  # per latent element
        loss = rec_loss + self.kl_weight * kl
        return loss, {"rec": float(rec_loss.detach()), **logs, "kl": float(kl.detach())}


@dataclass
class VAERecipe(DataOptions):
    """diffusers ``AutoencoderKL`` at spatial factor ``2**(len(block_out_channels)-1)`` (4 in the world)."""

    name: str = "vae"
    block_out_channels: tuple[int, ...] = (32, 64, 64)
    layers_per_block: int = 1
    latent_channels: int = 4
    norm_num_groups: int = 16
    kl_weight: float = 1e-3
    frames_per_sample: int = 4
    scaling_samples: int = 64  # samples used to measure the latent std at export
    edge_weight: float = 0.0  # > 0: reconstruction error on edges counts more (see edge_weights)
    latent_noise: float = 0.0  # > 0: decode noised latents too (see VAETrainer)
    # A trained VAE folder: fine-tune only its decoder (encoder, quant conv and scaling factor frozen, so
    # the latent space of models trained on that VAE's encoder is unchanged).
    decoder_only_from: str = ""

    def __post_init__(self) -> None:
        name_shipped_parts(self)
        check_frames_per_sample(self.frames_per_sample)
        check_at_least(self, 1, "scaling_samples", "layers_per_block", "latent_channels", "norm_num_groups")
        check_at_least(self, 0, "kl_weight")
        check_at_least(self, 0, "edge_weight", "latent_noise", meaning=" (0 = off)")
        factor = 2 ** (len(self.block_out_channels) - 1)
        if not self.decoder_only_from and self.size % factor:  # else the decoder's output is smaller
            raise ArgumentValueError(
                "vae ",
                option_arg("size", self.size),
                f" must be a multiple of the VAE's downsampling factor {factor} (",
                option_arg("block_out_channels", tuple(self.block_out_channels)),
                ")",
            )
        self._check_channels()

    def _check_channels(self) -> None:
        """``block_out_channels``: whole numbers ≥ 1, each a multiple of ``norm_num_groups`` (the group norms
        of each level split its channels in that many groups): torch refused them at the build, naming no
        option ("num_channels (8) must be divisible by num_groups (16)")."""
        channels = self.block_out_channels  # a list of whole numbers: make_recipe checks the type
        if not channels or min(channels) < 1:
            raise ArgumentValueError(
                f"recipe {self.name!r} option ",
                option_arg("block_out_channels", channels),
                " is empty: give" if not channels else " must be whole numbers ≥ 1:",
                " the channels of each level, e.g. [32,64,64]",
            )
        if any(c % self.norm_num_groups for c in channels):
            raise ArgumentValueError(
                f"recipe {self.name!r} option ",
                option_arg("block_out_channels", tuple(channels)),
                " must be multiples of ",
                option_arg("norm_num_groups", self.norm_num_groups),
                " (its normalisations split each level's channels in that many groups): change either",
            )

    def config(self) -> dict[str, Any]:
        return asdict(self)

    def build(self) -> nn.Module:
        from diffusers import AutoencoderKL

        if self.decoder_only_from:
            option = RecipeOption("decoder_only_from")
            where = shipped_advice(option.name, self.name, self.decoder_only_from)
            how = f"pass {TRAINED_SOURCES['vae']}, or {where}"
            src = need_model_dir(self.decoder_only_from, "the VAE to tune ({})", how, "AutoencoderKL", option)
            with naming_arguments(option) as (arg,):
                vae = from_pretrained_strict(AutoencoderKL, src, f"{arg} folder")
            vae.encoder.requires_grad_(False)
            vae.quant_conv.requires_grad_(False)
            return VAETrainer(vae, self.kl_weight, self.edge_weight, self.latent_noise)
        n = len(self.block_out_channels)
        vae = AutoencoderKL(
            in_channels=3,
            out_channels=3,
            down_block_types=("DownEncoderBlock2D",) * n,
            up_block_types=("UpDecoderBlock2D",) * n,
            block_out_channels=tuple(self.block_out_channels),
            layers_per_block=self.layers_per_block,
            latent_channels=self.latent_channels,
            norm_num_groups=self.norm_num_groups,
            sample_size=self.size,
        )
        return VAETrainer(vae, self.kl_weight, self.edge_weight, self.latent_noise)

    def clip_spec(self) -> ClipSpec:
        """What one training sample holds."""
        return ClipSpec(self.frames_per_sample, self.size)

    def dataset(self, seed: int, progress: bool = False) -> Dataset:
        return self.make_dataset(self.clip_spec(), seed, progress)

    def short_videos_advice(self) -> tuple[Arg, int]:
        return RecipeOption("frames_per_sample"), 1

    def sample_inputs(self) -> SampleInputs:
        """One sample of a fixed draw, made once per run (:meth:`DataOptions.held_aside`)."""
        return self.held_aside(self.clip_spec(), 1)

    def sample(self, module: nn.Module, step: int, out_dir: Path, inputs: SampleInputs) -> None:
        """The sample of ``inputs`` beside its reconstruction."""
        from streamt2v.models.autoencoder import VideoAutoencoder

        video = inputs.items[0]["video"][None]  # (1, 3, T, H, W)
        ae = VideoAutoencoder(module.vae)
        rec = ae.decode(ae.encode(video.to(ae.device, ae.dtype)))
        write_sample(
            out_dir / f"vae-{step:08d}.mp4",
            torch.cat([video, rec.cpu()], dim=-1),
            inputs.fps,
            inputs.items[0]["caption"],
        )

    @torch.no_grad()
    def measure_scaling_factor(self, vae: nn.Module, seed: int = 99991) -> float:
        """``1 / std`` of the posterior-mode latents over ``scaling_samples`` held-aside samples of the
        training data (checked here only when the run was given a dataset of its own: :meth:`held_aside`)."""
        ds = self.make_dataset(self.clip_spec(), seed, check=not self.folder_checked())
        device, dtype = vae.device, vae.dtype
        zs = []
        for i in range(self.scaling_samples):
            x = ds[i]["video"].permute(1, 0, 2, 3).to(device, dtype)  # (T, 3, H, W)
            zs.append(vae.encode(x).latent_dist.mode().float().flatten())
        std = float(torch.cat(zs).std())
        if not math.isfinite(std) or std <= 0:
            raise RuntimeError(f"latent std is {std}; the VAE did not train")
        return 1.0 / std

    def export(self, module: nn.Module, out_dir: Path) -> None:
        vae = module.vae
        # decoder-only fine-tuning keeps the source's latent scaling (its encoder is unchanged)
        scale = (
            float(vae.config.scaling_factor) if self.decoder_only_from else self.measure_scaling_factor(vae)
        )
        vae.register_to_config(scaling_factor=scale)
        vae.save_pretrained(out_dir / "vae", safe_serialization=True)
        # out_dir is the loop's temporary folder, renamed to final/ once every part is written: not named here
        how = f"kept from {self.decoder_only_from}" if self.decoder_only_from else "measured"
        logger.info("vae: latent scaling_factor %.5f (%s)", scale, how)
