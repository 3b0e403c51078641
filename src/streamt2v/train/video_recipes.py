"""Video-UNet recipes: ``base`` (stage 1) here, ``stream`` (stage 2, CAM + APM;
``train/stream_recipe.py``) and ``refiner`` (stage 3; ``train/refiner_recipe.py``) built on it.

All three train a latent video diffusion model with the DDPM objective (paper §3; scaled-linear betas
0.00085→0.012, 1000 steps, ε-prediction unless configured) through :class:`Denoiser.loss`, so training
and sampling share one definition of the target (:class:`DiffusionTrainer`). The frozen VAE and micro-CLIP
come from the ``vae`` and ``clip`` recipes' ``final/`` folders.

- ``base``: text-to-video UNet on 16-frame clips, caption replaced by ``""`` 10% of the time
  (classifier-free guidance, paper §10.1).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import Dataset

from streamt2v.arguments import ArgumentValueError, naming_arguments
from streamt2v.config import UNetConfig, get_preset
from streamt2v.io.folders import saved_class_name
from streamt2v.microworld.dataset import ClipSpec
from streamt2v.microworld.render import FRAME_LIMIT
from streamt2v.models.strict_loading import from_pretrained_strict
from streamt2v.sampling.noise import check_correlation, frame_correlated_noise
from streamt2v.train.frozen import (
    as_given,
    clip_text_width,
    load_frozen_clip,
    load_frozen_vae,
    named_folder,
    names_a_shipped_part,
    need_dir,
    refuse_other_class,
    shipped_advice,
)
from streamt2v.train.recipes import (
    DataOptions,
    SampleInputs,
    check_at_least,
    name_shipped_parts,
    option_arg,
    write_sample,
)
from streamt2v.train.unet_schedules import warn_of_other_schedule
from streamt2v.typed_values import as_index

logger = logging.getLogger(__name__)

# What the foreground loss weights follow (``foreground_weight_from``).
FOREGROUND_SOURCES = ("target", "both")


def foreground_weights(z0: torch.Tensor, strength: float) -> torch.Tensor:
    """Loss weights ``1 + strength · d / mean d``, ``(B, 1, F, h, w)``, of clean latents ``(B, c, F, h, w)``.

    ``d`` is each latent position's distance (over channels) from its frame's per-channel spatial median,
    i.e. how far it is from the background; dividing by each frame's mean makes the weight independent of
    contrast. Small objects are a few latent positions of a frame, so a plain mean spends the UNet's
    capacity on the background; these weights make the objects' positions count.
    """
    z = z0.float()
    median = z.flatten(3).median(dim=3).values[..., None, None]  # (B, c, F, 1, 1)
    d = (z - median).square().sum(1, keepdim=True).sqrt()
    return 1.0 + strength * d / d.mean(dim=(3, 4), keepdim=True).clamp_min(1e-6)


class DiffusionTrainer(nn.Module):
    """DDPM training step of a video UNet with frozen VAE/text (and image) encoders: the base and refiner
    objective (:meth:`objective`; the stream's is :class:`~streamt2v.train.stream_recipe.StreamTrainer`'s)."""

    def __init__(
        self,
        net: nn.Module,
        vae: Any,
        text: Any,
        denoiser: Any,
        recipe: Any,
        image: Any = None,
        degradation: nn.Module | None = None,
    ):
        super().__init__()
        self.net = net
        self.vae = vae
        self.text = text
        self.image = image
        self.denoiser = denoiser
        self.recipe = recipe
        # Restoration training (train/degradation.py): the UNet sees the noised latents of the degraded
        # clip and learns the clean clip's.
        self.degradation = degradation

    def train(self, mode: bool = True) -> DiffusionTrainer:
        super().train(mode)
        for frozen in (self.vae, self.text, self.image, self.degradation):
            if frozen is not None:
                frozen.eval()
        return self

    def compile_parts(self) -> list[nn.Module]:
        """What ``compile`` compiles (:mod:`streamt2v.compiling`): the UNet, and the frozen VAE's encoder,
        which encodes every batch (25–35% of a CPU step without a latent cache)."""
        return [self.net, self.vae.vae.encoder]

    def forward(self, batch: dict[str, Any], generator: torch.Generator) -> tuple[torch.Tensor, dict]:
        video = batch["video"]  # (B, 3, F, H, W); only the CAM's frames with a latent cache
        z0 = batch["latents"].float() if "latents" in batch else self.encode(video)  # (B, c, F, h, w)
        return self.objective(batch, z0, *self.draw(z0, generator), generator=generator)

    def objective(
        self,
        batch: dict[str, Any],
        z0: torch.Tensor,
        u: torch.Tensor,
        noise: torch.Tensor,
        t: torch.Tensor,
        generator: torch.Generator,
    ) -> tuple[torch.Tensor, dict]:
        """``(loss, logs)`` of the base / refiner objective (text dropped at ``text_drop``; joint images
        and restoration where the recipe has them) on clean latents ``z0`` with the step's draws."""
        source = self.degraded_latents(batch["video"])
        loss, drop_text = self.text_to_video_loss(z0, batch["caption"], u, noise, t, source=source)
        logs = {"text_dropped": float(drop_text.float().mean())}
        if "images" in batch:  # joint image-video training (train/joint_images.py): 1-frame videos
            images = batch["images"].flatten(0, 1).unsqueeze(2)  # (B K, 3, 1, H, W)
            captions = [c for caps in batch["image_captions"] for c in caps]
            z_img = self.encode(images)
            image_loss, _ = self.text_to_video_loss(
                z_img, captions, *self.draw(z_img, generator), source=self.degraded_latents(images)
            )
            loss = loss + self.recipe.image_loss_weight * image_loss
            logs["image_loss"] = float(image_loss.detach())
        return loss, logs

    def degraded_latents(self, video: torch.Tensor) -> torch.Tensor | None:
        """Latents of the degraded ``video`` for restoration training, or None without a degradation."""
        if self.degradation is None:
            return None
        return self.encode(self.degradation(video))

    def encode(self, video: torch.Tensor) -> torch.Tensor:
        """Scaled latents of ``video`` in float32: under bf16/fp16 autocast the frozen VAE computes in
        that precision, but the noised input and the loss target are built from the latents in full
        precision (the UNet's own computation stays under autocast)."""
        return self.vae.encode(video).float()

    def draw(self, z0: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, ...]:
        """Per-sample dropout draws ``u``, the training noise and the timesteps ``t``, in that order."""
        r = self.recipe
        b = z0.shape[0]
        u = torch.rand(b, generator=generator)
        noise = frame_correlated_noise(tuple(z0.shape), r.noise_correlation, generator=generator).to(z0)
        t = torch.randint(0, r.timestep_limit(), (b,), generator=generator).to(z0.device)
        return u, noise, t

    def text_to_video_loss(
        self,
        z0: torch.Tensor,
        captions: list[str],
        u: torch.Tensor,
        noise: torch.Tensor,
        t: torch.Tensor,
        source: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(loss, text dropped per sample)`` of the base / refiner objective on latents ``z0``, noised
        from ``source`` (degraded latents) when given."""
        drop_text = u < self.recipe.text_drop
        emb = self.text.encode(["" if d else c for d, c in zip(drop_text, captions)])

        def model_fn(x: torch.Tensor, tt: torch.Tensor) -> torch.Tensor:
            return self.net(x, tt, encoder_hidden_states=emb.to(x.dtype)).sample

        loss = self.denoiser.loss(
            model_fn, z0, noise, t, self.loss_weight(z0), source=source, x0_space=self.recipe.x0_loss
        )
        return loss, drop_text

    def loss_weight(self, z0: torch.Tensor) -> torch.Tensor | Callable[[torch.Tensor], torch.Tensor] | None:
        """Per-position loss weights of latents ``z0`` (:func:`foreground_weights`), or None: plain MSE.
        With ``foreground_weight_from="both"``, a function of the model's predicted x̂0 giving the larger
        of the target's and the prediction's weights, so an object drawn where there is none costs as
        much as one missed (with the target's weights alone, a spurious object sits on weight 1)."""
        strength = self.recipe.foreground_weight
        if strength <= 0:
            return None
        target_weights = foreground_weights(z0, strength)
        if self.recipe.foreground_weight_from == "target":
            return target_weights
        return lambda x0_pred: torch.maximum(target_weights, foreground_weights(x0_pred, strength))


@dataclass
class BaseRecipe(DataOptions):
    """Stage-1 text-to-video UNet. Architecture: ``preset`` (``config.PRESETS``) with the latent
    channels, cross-attention width and sample size taken from the VAE / text encoder / frame size."""

    name: str = "base"
    preset: str = "tiny"
    vae: str = ""
    clip: str = ""
    num_frames: int = 16
    max_start: int = 200
    text_drop: float = 0.1
    prediction_type: str = "epsilon"
    beta_start: float = 0.00085
    beta_end: float = 0.012
    beta_schedule: str = "scaled_linear"
    num_train_timesteps: int = 1000
    # Zero terminal SNR (Lin et al. 2023): the last training step is pure noise, as sampling starts, so
    # low-frequency content (background, object colours) must come from the conditioning rather than a
    # trace of the clip left in x_T. Needs v-prediction; sample with "trailing" timesteps.
    rescale_betas_zero_snr: bool = False
    timestep_spacing: str = "leading"
    sample_steps: int = 20
    sample_guidance: float = 5.0  # the sample videos' classifier-free guidance (guidance_scale before)
    # A trained UNet folder to start from (e.g. continue a base run with another ``prediction_type``);
    # its architecture must equal the one ``preset`` gives for this VAE / text encoder / size. For the
    # stream: a trained stream run's UNet (the base/CAM/APM weights all come from it).
    init_unet: str = ""
    # > 0: encode this many training clips once and cycle through them (train/latent_cache.py) instead
    # of encoding every batch; saves the VAE's share of each step for a finite training set.
    latent_cache: int = 0
    # > 0: training noise correlated across frames (PYoCo mixed noise prior, sampling/noise.py); sample
    # such a model with the matching ``init_noise_correlation`` (stage 1) / ``noise_correlation`` (stage 2).
    noise_correlation: float = 0.0
    # > 0: train only the timesteps t < max_train_timestep, for a model that is only sampled there, as
    # the refiner is by SDEdit from a low noise level (the SDXL refiner's specialisation); 0 = all.
    max_train_timestep: int = 0
    # > 0: joint image-video training (train/joint_images.py): each clip comes with this many single
    # frames of other videos of the same data, trained as 1-frame videos in the same step, their loss
    # weighted by ``image_loss_weight``; appearance then sees many more scenes per step.
    image_batch: int = 0
    image_loss_weight: float = 1.0
    # > 0: each latent position's squared error weighted by ``1 + foreground_weight · d / mean d``, d its
    # distance from the frame's background (:func:`foreground_weights`): small objects count as much as
    # the background they sit on; 0 = plain MSE.
    foreground_weight: float = 0.0
    # Whose foreground the weights follow: "target" (the clean clip's) or "both" (the larger of the
    # clip's and the model's predicted x̂0's, so spurious objects are penalised too).
    foreground_weight_from: str = "target"
    # The squared error of the predicted clean latent x̂0 instead of the ε / v target's (v's is x̂0's
    # divided by 1 - ᾱ_t, which lets the timesteps near 0 outweigh the rest); for ``degrade_scale``.
    x0_loss: bool = False

    def __post_init__(self) -> None:
        from streamt2v.sampling.schedulers import TIMESTEP_SPACINGS

        name_shipped_parts(self)
        with naming_arguments(option_arg("noise_correlation")) as (correlation,):
            check_correlation(self.noise_correlation, correlation)
        check_at_least(self, 1, "sample_steps", "num_train_timesteps")
        # ClipSpec's own check would name its fields, after the model was built
        for name, least in (("num_frames", 1), ("max_start", 0)):
            value = getattr(self, name)
            if as_index(value) is None or value < least:
                raise ArgumentValueError(option_arg(name), f" must be an integer ≥ {least}, got {value!r}")
        if self.max_start + self.num_frames > FRAME_LIMIT:  # numpy draws the start in int64
            raise ArgumentValueError(
                option_arg("max_start"),
                " + ",
                option_arg("num_frames"),
                f" must be ≤ 2**53, got {self.max_start} + {self.num_frames}",
            )
        if not 0 < self.beta_start <= self.beta_end < 1:
            raise ArgumentValueError(
                option_arg("beta_start"),
                " and ",
                option_arg("beta_end"),
                f" must satisfy 0 < start ≤ end < 1, got {self.beta_start} and {self.beta_end}",
            )
        if not 0 <= self.text_drop <= 1:
            raise ArgumentValueError(
                option_arg("text_drop"), f" is a probability, in [0, 1]; got {self.text_drop}"
            )
        if self.timestep_spacing not in TIMESTEP_SPACINGS:
            raise ArgumentValueError(
                option_arg("timestep_spacing"),
                f" must be one of {', '.join(TIMESTEP_SPACINGS)}, got {self.timestep_spacing!r}",
            )
        check_at_least(self, 0, "foreground_weight", meaning=" (0 = plain MSE)")
        if self.foreground_weight_from not in FOREGROUND_SOURCES:
            raise ArgumentValueError(
                option_arg("foreground_weight_from"),
                f" must be one of {', '.join(FOREGROUND_SOURCES)}, got {self.foreground_weight_from!r}",
            )
        check_at_least(self, 0, "image_batch", meaning=" (0 = videos only)")
        check_at_least(self, 0, "image_loss_weight")
        # checked here, not when the data is first drawn: after the model was built
        check_at_least(self, 0, "latent_cache", meaning=" (0 = off)")
        if not 0 <= self.max_train_timestep <= self.num_train_timesteps:
            raise ArgumentValueError(
                option_arg("max_train_timestep"),
                f" must be in [0, {self.num_train_timesteps}] (0 = all timesteps), got "
                f"{self.max_train_timestep}",
            )

    def timestep_limit(self) -> int:
        """Training timesteps are drawn uniformly from ``[0, timestep_limit())``."""
        return self.max_train_timestep or self.num_train_timesteps

    def config(self) -> dict[str, Any]:
        return asdict(self)

    def scheduler_config(self) -> dict[str, Any]:
        return {
            "num_train_timesteps": self.num_train_timesteps,
            "beta_start": self.beta_start,
            "beta_end": self.beta_end,
            "beta_schedule": self.beta_schedule,
            "prediction_type": self.prediction_type,
            "rescale_betas_zero_snr": self.rescale_betas_zero_snr,
            "timestep_spacing": self.timestep_spacing,
            "clip_sample": False,
            "set_alpha_to_one": False,
            "steps_offset": 1,
        }

    def make_denoiser(self) -> Any:
        from diffusers import DDPMScheduler

        from streamt2v.models.denoiser import Denoiser

        return Denoiser.from_scheduler(DDPMScheduler.from_config(self.scheduler_config()))

    def unet_config(self, vae: Any, text: Any) -> UNetConfig:
        f = vae.scale_factor
        if self.size % f:
            raise ArgumentValueError(
                "frame size ", option_arg("size", self.size), f" is not divisible by the VAE factor {f}"
            )
        c = vae.latent_channels
        return replace(
            get_preset(self.preset).unet,
            in_channels=c,
            out_channels=c,
            cross_attention_dim=text.hidden_size,
            sample_size=self.size // f,
        )

    def parameter_counts(self) -> tuple[int, int]:
        """The parameters of the UNet :meth:`build` makes and of those it trains, counted on the meta device
        from ``preset`` and the text encoder's width (:meth:`counted_unet`): for the loop's memory check,
        before anything is built."""
        from streamt2v.models.unet import build_video_unet

        with torch.device("meta"):
            count = sum(p.numel() for p in build_video_unet(self.counted_unet()).parameters())
        return count, count

    def counted_unet(self) -> UNetConfig:
        """``preset``'s UNet with the cross-attention width of ``clip``'s text encoder, read from its
        config.json (the preset's 1024 counted 24 million weights too many for modelscope-1.7b with the
        micro-CLIP's 64, 0.48 GB of training memory); the preset's where it cannot be read. The VAE's latent
        channels size two convolutions alone."""
        unet = get_preset(self.preset).unet
        width = clip_text_width(self.clip)
        return unet if width is None else replace(unet, cross_attention_dim=width)

    def build(self) -> nn.Module:
        from streamt2v.models.unet import build_video_unet

        degradation = self.make_degradation()
        vae = load_frozen_vae(self.vae, recipe=self.name)
        text, _ = load_frozen_clip(self.clip)
        self.check_caption_words(text.tokenizer)
        self.check_caption_lengths(text.tokenizer, text.max_length)
        net = build_video_unet(self.unet_config(vae, text))
        self.load_init_unet(net)
        return DiffusionTrainer(net, vae, text, self.make_denoiser(), self, degradation=degradation)

    def make_degradation(self) -> nn.Module | None:
        """What the UNet is given instead of the clip in restoration training (the refiner's
        ``degrade_scale``), or None: the plain denoising objective."""
        return None

    def load_init_unet(self, net: nn.Module) -> None:
        """Copy the weights of ``init_unet`` (a trained UNet folder of ``net``'s class and architecture)."""
        if not self.init_unet:
            return
        # named as the caller gave it: init_unet to Python, --set init_unet on the command line
        option = option_arg("init_unet")
        shipped = shipped_advice("init_unet", self.name, self.init_unet)
        how = f"pass OUT/final/unet of a {self.name} run, or {shipped}"
        with naming_arguments(option) as (arg,):
            p = need_dir(self.init_unet, "the initial UNet ({})", how, option)
            refuse_other_class(
                p,
                type(net).__name__,
                saved_class_name(p / "config.json", f"{arg} config"),
                named=as_given(self.init_unet, option),  # quoted as need_dir's refusals quote it
                why=how.removeprefix("pass "),
                takes=f"the {self.name} recipe continues",
            )
            init = from_pretrained_strict(type(net), p, f"{arg} folder")
            want, got = net.state_dict(), init.state_dict()
            bad = sorted(k for k in want if k not in got or got[k].shape != want[k].shape)
            bad += sorted(set(got) - set(want))  # weights the architecture has no place for
            if bad:
                raise ArgumentValueError(
                    as_given(self.init_unet, option),
                    f" does not match the {self.preset!r} architecture: {', '.join(bad[:3])}",
                )
        net.load_state_dict(got)
        shipped_unet = names_a_shipped_part("init_unet", p, self.name)
        named = (
            named_folder("init_unet", p, self.name, "") if shipped_unet else as_given(self.init_unet, option)
        )
        warn_of_other_schedule(self, p, named)

    def clip_spec(self) -> ClipSpec:
        """What one training clip holds."""
        return ClipSpec(self.num_frames, self.size, self.max_start)

    def clips(self, seed: int, progress: bool = False) -> Dataset:
        """The training clips in pixels (``dataset`` serves them, from the latent cache if enabled)."""
        return self.make_dataset(self.clip_spec(), seed, progress)

    def cached_pixel_frames(self) -> int:
        """Leading frames a cached sample keeps in pixels (the stream's CAM conditioning frames)."""
        return 0

    def dataset(self, seed: int, progress: bool = False) -> Dataset:
        data = self.clips(seed, progress)
        if self.latent_cache > 0:
            from streamt2v.train.latent_cache import LatentCache

            vae = load_frozen_vae(self.vae, recipe=self.name)
            data = LatentCache(
                data,
                vae,
                self.latent_cache,
                seed=seed,
                pixel_frames=self.cached_pixel_frames(),
                progress=progress,
            )
        if self.image_batch == 0:
            return data
        from streamt2v.train.joint_images import IMAGE_SEED_OFFSET, WithImages

        # not checked again: the clips' check read the frames these 1-frame clips are drawn from
        spec = ClipSpec(1, self.size, self.max_start)
        frames = self.make_dataset(spec, seed + IMAGE_SEED_OFFSET, check=False)
        return WithImages(data, frames, self.image_batch)

    def sample_inputs(self) -> SampleInputs:
        """One clip of a fixed draw, made once per run (:meth:`DataOptions.held_aside`)."""
        return self.held_aside(self.clip_spec(), 1)

    @torch.no_grad()
    def sample(self, module: nn.Module, step: int, out_dir: Path, inputs: SampleInputs) -> None:
        """One guided DDIM sample for the caption of the clip of ``inputs``, beside that clip."""
        from streamt2v.sampling.schedulers import make_scheduler, sample_loop

        item = inputs.items[0]
        device = next(module.net.parameters()).device
        cond = module.text.encode([item["caption"]])
        uncond = module.text.encode([""])
        vae = module.vae
        f = vae.scale_factor
        shape = (1, vae.latent_channels, self.num_frames, self.size // f, self.size // f)
        gen = torch.Generator().manual_seed(0)
        noise = torch.randn(shape, generator=gen).to(device)
        den = module.denoiser

        def model_fn(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            return den.guided_output(
                lambda xx, tt, encoder_hidden_states: module.net(xx, tt, encoder_hidden_states).sample,
                x,
                t,
                {"encoder_hidden_states": cond},
                {"encoder_hidden_states": uncond},
                self.sample_guidance,
            )

        sched = make_scheduler("ddim", self.scheduler_config())
        z = sample_loop(sched, noise, model_fn, num_steps=self.sample_steps, generator=gen)
        video = vae.decode(z).cpu()
        write_sample(
            out_dir / f"{self.name}-{step:08d}.mp4",
            torch.cat([item["video"][None], video], dim=-1),
            inputs.fps,
            item["caption"],
        )

    def export(self, module: nn.Module, out_dir: Path) -> None:
        """``unet/`` (diffusers ``save_pretrained``) and ``scheduler/`` (the training noise schedule)."""
        from diffusers import DDPMScheduler

        module.net.save_pretrained(out_dir / "unet", safe_serialization=True)
        DDPMScheduler.from_config(self.scheduler_config()).save_pretrained(out_dir / "scheduler")
