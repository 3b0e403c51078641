"""The ``stream`` recipe (paper §4, appendix): the stage-2 streaming UNet.

:meth:`StreamingUNet.from_base` (CAM initialised from the base encoder, zero-initialised mergers and APM
α), the base's temporal layers frozen, everything else trained. Each sample is a 16-frame clip whose
first ``F_cond`` frames (pixels) condition the CAM; the APM anchor is a frame drawn from the first 16
frames of the source video. Dropout: text only 5%, anchor only 5%, both 5% (a dropped anchor is an
all-zero image, as in the unconditional branch at sampling time; dropped text is ``""``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn
from torch.utils.data import Dataset

from streamt2v.arguments import Arg, ArgumentValueError, naming_arguments
from streamt2v.config import PRESETS, StreamingConfig, get_preset
from streamt2v.microworld.dataset import ClipSpec
from streamt2v.microworld.render import FRAME_LIMIT
from streamt2v.models.strict_loading import from_pretrained_strict
from streamt2v.train.frozen import (
    as_given,
    load_frozen_clip,
    load_frozen_vae,
    named_folder,
    names_a_shipped_part,
    need_model_dir,
    shipped_advice,
)
from streamt2v.train.part_sources import TRAINED_SOURCES
from streamt2v.train.recipes import (
    SampleInputs,
    check_at_least,
    option_arg,
    refuse_unread_options,
    write_sample,
)
from streamt2v.train.unet_schedules import warn_of_other_schedule
from streamt2v.train.video_recipes import BaseRecipe, DiffusionTrainer

logger = logging.getLogger(__name__)

# Parameter-name parts of the temporal layers of a diffusers UNet3DConditionModel.
TEMPORAL_LAYER_KEYS = ("temp_convs", "temp_attentions", "transformer_in")


def noise_augment(frames: torch.Tensor, max_std: float, generator: torch.Generator) -> torch.Tensor:
    """``frames`` (B, ...) plus Gaussian noise of a per-sample std ~ U(0, max_std), drawn on the CPU
    ``generator``."""
    b = frames.shape[0]
    std = torch.rand(b, generator=generator) * max_std
    eps = torch.randn(frames.shape, generator=generator)
    return frames + (std.view(b, *([1] * (frames.dim() - 1))) * eps).to(frames)


def colour_shift(frames: torch.Tensor, max_shift: float, generator: torch.Generator) -> torch.Tensor:
    """``frames`` (B, 3, F, H, W) in [-1, 1] with one offset per sample and colour channel, shared by all
    its frames, drawn from U(-max_shift, max_shift) on the CPU ``generator``; clamped to [-1, 1]."""
    b, c = frames.shape[:2]
    offset = (torch.rand(b, c, generator=generator) * 2 - 1) * max_shift
    return (frames + offset.view(b, c, *([1] * (frames.dim() - 2))).to(frames)).clamp(-1, 1)


class StreamTrainer(DiffusionTrainer):
    """The stream recipe's training step (paper §4, appendix): the base UNet's step with CAM and APM
    conditioning, the conditions dropped as the recipe says."""

    def objective(
        self,
        batch: dict[str, Any],
        z0: torch.Tensor,
        u: torch.Tensor,
        noise: torch.Tensor,
        t: torch.Tensor,
        generator: torch.Generator,
    ) -> tuple[torch.Tensor, dict]:
        """The stream objective: text only / anchor only / both dropped, CAM on the clip's first frames."""
        r = self.recipe
        video = batch["video"]
        a, c = r.text_drop, r.anchor_drop
        drop_text = (u < a) | ((u >= a + c) & (u < a + c + r.both_drop))
        drop_anchor = u >= a
        drop_anchor &= u < a + c + r.both_drop
        emb = self.text.encode(["" if d else cap for d, cap in zip(drop_text, batch["caption"])])
        # A dropped anchor is an all-zero image in [-1, 1], exactly the unconditional branch at sampling
        # time (official: the image encoder applied to zeros_like(anchor); paper §10.1).
        anchor = torch.where(drop_anchor.to(video.device)[:, None, None, None], 0.0, batch["anchor"])
        img = self.image.encode(anchor).float()  # (B, E)
        tokens = self.net.image_tokens(img.to(self.net.dtype))
        cond = video[:, :, : self.net.streaming_config.num_cond_frames]  # (B, 3, F_cond, H, W)
        # Drawn after the step's other draws (colour after noise): a run without them draws as before.
        if r.cond_noise_aug > 0:
            cond = noise_augment(cond, r.cond_noise_aug, generator)
        if r.cond_colour_aug > 0:
            cond = colour_shift(cond, r.cond_colour_aug, generator)

        def model_fn(x: torch.Tensor, tt: torch.Tensor) -> torch.Tensor:
            return self.net(x, tt, emb.to(x.dtype), image_tokens=tokens, cond_frames=cond.to(x.dtype))

        loss = self.denoiser.loss(model_fn, z0, noise, t, self.loss_weight(z0), x0_space=self.recipe.x0_loss)
        return loss, {"text_dropped": float(drop_text.float().mean())}


@dataclass
class StreamRecipe(BaseRecipe):
    """Stage-2 streaming UNet (CAM + APM) initialised from a trained base UNet (``base_unet``)."""

    name: str = "stream"
    base_unet: str = ""
    text_drop: float = 0.05
    anchor_drop: float = 0.05
    both_drop: float = 0.05
    anchor_frames: int = 16
    sample_guidance: float = 1.0  # not read (recorded as a base's): the stream's samples run unguided
    # the base options the stream does not read, refused by make_recipe saying why
    unread_options: ClassVar[dict[str, str]] = {"sample_guidance": "the stream's sample videos run unguided"}
    # > 0: conditioning augmentation (Ho et al. 2022, cascaded diffusion): the CAM's training frames get
    # Gaussian noise of a per-sample std drawn from U(0, cond_noise_aug) (pixels in [-1, 1]), so it learns
    # to continue frames that are not clean renders, as its own generated frames are at sampling time;
    # the target stays the clean clip. Sampling feeds the frames as they are.
    cond_noise_aug: float = 0.0
    # > 0: the CAM's training frames of each sample shifted by one colour offset per channel drawn from
    # U(-cond_colour_aug, cond_colour_aug) (after the noise), the target and the anchor unchanged: the
    # drift of its own decoded chunks at sampling time, which it then learns to correct from the anchor
    # and the text rather than carry on.
    cond_colour_aug: float = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        refuse_unread_options(self)  # StreamRecipe(sample_guidance=3): make_recipe refuses the name itself
        drops = (self.text_drop, self.anchor_drop, self.both_drop)
        if min(drops) < 0 or sum(drops) > 1:
            raise ArgumentValueError(
                option_arg("text_drop"),
                ", ",
                option_arg("anchor_drop"),
                " and ",
                option_arg("both_drop"),
                f" are probabilities of disjoint events: each ≥ 0, together ≤ 1; got {drops}",
            )
        # the APM anchor is drawn from the first anchor_frames frames (0: samples without one, a
        # KeyError at step 1)
        check_at_least(self, 1, "anchor_frames")
        if self.anchor_frames > FRAME_LIMIT:  # ClipSpec would refuse it naming its field, after the build
            raise ArgumentValueError(
                option_arg("anchor_frames"), f" must be ≤ 2**53, got {self.anchor_frames}"
            )
        check_at_least(self, 0, "cond_noise_aug", "cond_colour_aug", meaning=" (0 = off)")
        if self.image_batch:
            raise ArgumentValueError(
                option_arg("image_batch", self.image_batch),
                ": the stream recipe trains on clips only (every sample needs the CAM's conditioning "
                "frames); joint image training is for base and refiner",
            )

    def streaming_config(self, vae: Any, text: Any, image: Any) -> StreamingConfig:
        """The preset's CAM/APM sizes fitted to the encoders: text length, image embedding width and an
        ``E_cond`` ladder whose downscale equals the VAE factor (frames → latent grid)."""
        s = get_preset(self.preset).streaming
        if self.num_frames <= s.num_cond_frames:
            raise ArgumentValueError(
                Arg("num_frames", self.num_frames),
                f" must exceed the {s.num_cond_frames} conditioning frames of preset {self.preset!r}",
            )
        levels = vae.scale_factor.bit_length()  # 2**(levels-1) == factor
        ladder = tuple(s.cond_embedding_channels)
        if len(ladder) != levels:
            ladder = (ladder + (ladder[-1],) * levels)[:levels]
            logger.info("stream: E_cond channels %s fitted to VAE factor %d", ladder, vae.scale_factor)
        return replace(
            s,
            cond_embedding_channels=ladder,
            num_frames=self.num_frames,
            num_text_tokens=text.max_length,
            image_embed_dim=image.projection_dim,
        )

    def parameter_counts(self) -> tuple[int, int]:
        """:meth:`BaseRecipe.parameter_counts` of the stream's UNet (base, CAM and APM) and of those it trains
        (all but the base's temporal layers), from ``preset``, whose channels the base run's must have."""
        from dataclasses import asdict

        from streamt2v.models.unet import StreamingUNet

        preset = get_preset(self.preset)
        with torch.device("meta"):
            net = StreamingUNet(self.counted_unet().to_diffusers(), asdict(preset.streaming))
        count = sum(p.numel() for p in net.parameters())
        temporal = (
            p for name, p in net.base.named_parameters() if any(k in name for k in TEMPORAL_LAYER_KEYS)
        )
        return count, count - sum(p.numel() for p in temporal)

    def build(self) -> nn.Module:
        from diffusers import UNet3DConditionModel

        from streamt2v.models.unet import StreamingUNet

        vae = load_frozen_vae(self.vae, recipe=self.name)
        text, image = load_frozen_clip(self.clip, image=True)
        self.check_caption_words(text.tokenizer)
        self.check_caption_lengths(text.tokenizer, text.max_length)
        shipped = shipped_advice("base_unet", self.name, self.base_unet)
        base_named = named_folder("base_unet", self.base_unet, self.name, "the base UNet")
        vae_named = named_folder("vae", self.vae, self.name, "the VAE")
        with naming_arguments("base_unet") as (base_arg,):
            p = need_model_dir(
                self.base_unet,
                "a trained base UNet ({})",
                f"pass {TRAINED_SOURCES['base_unet']}, or {shipped}",
                "UNet3DConditionModel",
                Arg("base_unet"),
                self.name,
            )
            base = from_pretrained_strict(UNet3DConditionModel, p, f"{base_arg} folder")
        if base.config.cross_attention_dim != text.hidden_size:
            raise ArgumentValueError(
                f"base UNet cross_attention_dim={base.config.cross_attention_dim} != text encoder "
                f"hidden size {text.hidden_size}; train the base with the same ",
                Arg("clip"),
            )
        if base.config.in_channels != vae.latent_channels:
            raise ArgumentValueError(
                base_named,
                f" takes {base.config.in_channels} latent channels, ",
                vae_named,
                f" makes {vae.latent_channels}; give the ",
                Arg("vae"),
                " the base was trained with",
            )
        latent, f = base.config.sample_size, vae.scale_factor
        if isinstance(latent, int) and self.size != latent * f:
            # the stream takes the base's latent size, which assemble and generate make its videos at: a
            # stream trained at another size was trained at a size it never generates at
            raise ArgumentValueError(
                Arg("size", self.size),
                ": ",
                base_named,
                f" was trained at {latent * f} px (latents {latent}×{latent}, VAE factor "
                f"{f}), the size the model generates at; train the stream at ",
                Arg("size", latent * f),
                ", or on a base trained at ",
                Arg("size", self.size),
            )
        self.check_base_preset(self.base_unet, tuple(base.config.block_out_channels))
        shipped_base = names_a_shipped_part("base_unet", p, self.name)
        warn_of_other_schedule(
            self,
            p,
            base_named if shipped_base else as_given(self.base_unet, Arg("base_unet")),
            also="; the model folder samples the stage-1 UNet with the stream's schedule, so assemble model "
            "refuses the pair",
        )
        net = StreamingUNet.from_base(base, self.streaming_config(vae, text, image))
        self.load_init_unet(net)  # continue a trained stream run (its base temporal layers stay frozen)
        frozen = 0
        for name, p in net.base.named_parameters():
            if any(k in name for k in TEMPORAL_LAYER_KEYS):
                p.requires_grad_(False)
                frozen += p.numel()
        logger.info("stream: froze %d temporal parameters of the base UNet", frozen)
        return StreamTrainer(net, vae, text, self.make_denoiser(), self, image=image)

    def check_base_preset(self, path: Any, channels: tuple[int, ...]) -> None:
        """The CAM/APM sizes come from ``preset``, the UNet from the base run: a base of another preset's
        channels is refused naming the preset that fits (else the CAM's mergers fail on a width)."""
        expected = tuple(get_preset(self.preset).unet.block_out_channels)
        if channels == expected:
            return
        fits = [name for name, cfg in PRESETS.items() if tuple(cfg.unet.block_out_channels) == channels]
        hint = (
            ("pass ", Arg("preset", fits[0]), ", the preset the base was trained with")
            if fits
            else ("train the base with this preset",)
        )
        raise ArgumentValueError(
            named_folder("base_unet", path, self.name, "the base UNet"),
            f" has block channels {channels}, the preset {self.preset!r} {expected}: ",
            *hint,
        )

    def clip_spec(self) -> ClipSpec:
        return ClipSpec(self.num_frames, self.size, self.max_start, anchor_frames=self.anchor_frames)

    def short_videos_advice(self) -> tuple[Arg, int]:
        # a clip holds its conditioning frames and at least one to predict
        frames_option, _ = super().short_videos_advice()
        return frames_option, get_preset(self.preset).streaming.num_cond_frames + 1

    def cached_pixel_frames(self) -> int:
        return get_preset(self.preset).streaming.num_cond_frames

    def dataset(self, seed: int, progress: bool = False) -> Dataset:
        if self.latent_cache > 0:
            logger.warning(
                "stream with latent_cache=%d: on the microworld both stream runs trained with a latent cache "
                "made large chunk-boundary jumps (CAM little used) while runs without it did not "
                "(docs/training.md); prefer latent_cache=0",
                self.latent_cache,
            )
        return super().dataset(seed, progress)

    @torch.no_grad()
    def sample(self, module: nn.Module, step: int, out_dir: Path, inputs: SampleInputs) -> None:
        """One chunk continuing the conditioning frames of the clip of ``inputs``, beside it."""
        from streamt2v.sampling.schedulers import make_scheduler, sample_loop

        item = inputs.items[0]
        device = next(module.net.parameters()).device
        net, vae = module.net, module.vae
        emb = module.text.encode([item["caption"]])
        tokens = net.image_tokens(module.image.encode(item["anchor"][None].to(device)).to(net.dtype))
        cond = item["video"][None, :, : net.streaming_config.num_cond_frames].to(device)
        f = vae.scale_factor
        shape = (1, vae.latent_channels, self.num_frames, self.size // f, self.size // f)
        gen = torch.Generator().manual_seed(0)

        def model_fn(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            return net(x, t, emb, image_tokens=tokens, cond_frames=cond)

        sched = make_scheduler("ddim", self.scheduler_config())
        z = sample_loop(
            sched, torch.randn(shape, generator=gen).to(device), model_fn, num_steps=self.sample_steps
        )
        video = vae.decode(z).cpu()
        write_sample(
            out_dir / f"stream-{step:08d}.mp4",
            torch.cat([item["video"][None], video], dim=-1),
            inputs.fps,
            item["caption"],
        )
