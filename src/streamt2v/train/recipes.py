"""Training recipes: what each model of the system learns from (paper §4 and appendix; DESIGN.md §6).

- ``vae``: diffusers ``AutoencoderKL`` on frames, reconstruction MSE (optionally edge-weighted) + a small
  KL; the latent scaling factor is measured on data after training (``1 / std`` of the latents) and
  stored in its config.
- ``clip``: micro-CLIP, a transformers ``CLIPTextModelWithProjection`` + ``CLIPVisionModelWithProjection``
  trained contrastively on (frame, caption) with a word-level tokenizer over the world's vocabulary.
  It is the text encoder, the APM image encoder (paper §4.2) and the CLIP-score model of the world.
- ``base``, ``stream``, ``refiner``: the video UNets (:mod:`streamt2v.train.video_recipes`).

Each recipe is a dataclass of its model/data settings (saved in every checkpoint), with ``build()``
(a module whose ``forward(batch, generator)`` returns ``(loss, logs)``), ``dataset(seed)``,
``sample(...)`` and ``export(...)`` (writes loadable ``save_pretrained`` folders under ``final/``).
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, get_type_hints

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

from streamt2v.microworld.captions import (
    BOS_TOKEN,
    EOS_TOKEN,
    PAD_TOKEN,
    SPECIAL_TOKENS,
    UNK_TOKEN,
    VOCABULARY,
)
from streamt2v.microworld.dataset import ClipSpec, MicroworldDataset
from streamt2v.microworld.render import FPS
from streamt2v.models.denoiser import weighted_mse
from streamt2v.typed_values import typed_value

logger = logging.getLogger(__name__)


@dataclass
class DataOptions:
    """Where samples come from: ``"microworld"`` or a folder of videos with a captions file."""

    data: str = "microworld"
    captions: str | None = None
    size: int = 32  # frame size (pixels, square)

    def make_dataset(self, spec: ClipSpec, seed: int) -> Dataset:
        if spec.size != self.size:
            raise ValueError(f"clip size {spec.size} != data size {self.size}")
        if self.data == "microworld":
            if self.captions is not None:  # else the run would quietly train on the microworld
                raise ValueError(f"--captions {self.captions} needs --data FOLDER (the videos it captions)")
            return MicroworldDataset(spec, seed)
        from streamt2v.train.data import VideoFolderDataset

        if self.captions is None:
            raise ValueError(f"--data {self.data!r} is a folder: pass --captions FILE (CSV or JSONL)")
        dataset = VideoFolderDataset(self.data, self.captions, spec, seed=seed)
        dataset.check()  # every video readable and long enough, before the first step
        return dataset

    def check_caption_words(self, tokenizer: Any, warn_above: float = 0.05) -> float:
        """The share of the captions' words ``tokenizer`` reads as unknown (0 on the microworld), with a
        warning naming some of them above ``warn_above``: a text encoder trained on other captions (e.g.
        the microworld's micro-CLIP on real videos) would condition on ``<unk>``."""
        if self.data == "microworld" or self.captions is None or tokenizer.unk_token_id is None:
            return 0.0
        from streamt2v.train.data import read_captions

        words = [w for text in read_captions(self.captions).values() for w in caption_words(text)]
        # each distinct word through the tokenizer itself (a BPE tokenizer's vocabulary holds "dog</w>")
        unknown = {
            w
            for w in set(words)
            if tokenizer.unk_token_id in tokenizer(w, add_special_tokens=False).input_ids
        }
        share = sum(w in unknown for w in words) / max(len(words), 1)
        if share > warn_above:
            examples = sorted(unknown)[:8]
            logger.warning(
                "%.0f%% of the caption words in %s are unknown to the text encoder's tokenizer (e.g. %s): "
                "train micro-CLIP on these captions (`streamt2v train clip --data ... --captions ...`)",
                100 * share,
                self.captions,
                examples,
            )
        return share


def write_sample(path: Path, video: torch.Tensor) -> None:
    """Write a sample video of a training run (values in [-1, 1]) at the world's frame rate."""
    from streamt2v.io.video import write_video

    write_video(path, video.detach().float().cpu().clamp(-1, 1), fps=FPS)


# --------------------------------------------------------------------------------------------------
# vae
# --------------------------------------------------------------------------------------------------
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
        factor = 2 ** (len(self.block_out_channels) - 1)
        if not self.decoder_only_from and self.size % factor:  # else the decoder's output is smaller
            raise ValueError(
                f"vae size {self.size} must be a multiple of the VAE's downsampling factor {factor} "
                f"(block_out_channels {tuple(self.block_out_channels)})"
            )

    def config(self) -> dict[str, Any]:
        return asdict(self)

    def build(self) -> nn.Module:
        from diffusers import AutoencoderKL

        if self.decoder_only_from:
            src = Path(self.decoder_only_from)
            if not (src / "config.json").is_file():
                raise FileNotFoundError(f"decoder_only_from: {src} is not a saved AutoencoderKL folder")
            vae = AutoencoderKL.from_pretrained(src)
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

    def dataset(self, seed: int) -> Dataset:
        return self.make_dataset(ClipSpec(self.frames_per_sample, self.size), seed)

    def sample(self, module: nn.Module, step: int, out_dir: Path) -> None:
        from streamt2v.models.autoencoder import VideoAutoencoder

        video = self.dataset(seed=12345)[0]["video"][None]  # (1, 3, T, H, W)
        ae = VideoAutoencoder(module.vae)
        rec = ae.decode(ae.encode(video.to(ae.device, ae.dtype)))
        write_sample(out_dir / f"vae-{step:08d}.mp4", torch.cat([video, rec.cpu()], dim=-1))

    @torch.no_grad()
    def measure_scaling_factor(self, vae: nn.Module, seed: int = 99991) -> float:
        """``1 / std`` of the posterior-mode latents over ``scaling_samples`` held-aside samples."""
        ds = self.dataset(seed)
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
        logger.info("vae exported to %s (scaling_factor %.5f)", out_dir / "vae", scale)


# --------------------------------------------------------------------------------------------------
# clip
# --------------------------------------------------------------------------------------------------
def caption_words(text: str) -> list[str]:
    """The words the word-level tokenizer sees in ``text``: lower-cased, words and punctuation split."""
    from tokenizers import normalizers, pre_tokenizers

    normalized = normalizers.Lowercase().normalize_str(text)
    return [word for word, _ in pre_tokenizers.Whitespace().pre_tokenize_str(normalized)]


def caption_vocabulary(captions: Iterable[str], min_count: int = 1) -> tuple[str, ...]:
    """The special tokens, then every word of ``captions`` seen at least ``min_count`` times (most frequent
    first, ties alphabetical): a word-level vocabulary for real data, where the microworld's is fixed."""
    counts = Counter(w for text in captions for w in caption_words(text))
    words = sorted(
        (w for w, n in counts.items() if n >= min_count and w not in SPECIAL_TOKENS),
        key=lambda w: (-counts[w], w),
    )
    return SPECIAL_TOKENS + tuple(words)


def build_word_tokenizer(max_length: int, vocabulary: tuple[str, ...] = VOCABULARY) -> Any:
    """A transformers fast tokenizer (``tokenizers`` WordLevel) over ``vocabulary`` (default the
    microworld's :data:`VOCABULARY`; it must start with the special tokens).

    Lower-cases, splits words and punctuation, wraps as ``<bos> … <eos>``; pad id 0. Save it with
    ``save_pretrained``; ``AutoTokenizer.from_pretrained`` loads it back.
    """
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    if tuple(vocabulary[: len(SPECIAL_TOKENS)]) != SPECIAL_TOKENS:
        raise ValueError(f"a word vocabulary must start with {SPECIAL_TOKENS}, got {tuple(vocabulary[:4])}")
    vocab = {w: i for i, w in enumerate(vocabulary)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token=UNK_TOKEN))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(
        single=f"{BOS_TOKEN} $A {EOS_TOKEN}",
        special_tokens=[(BOS_TOKEN, vocab[BOS_TOKEN]), (EOS_TOKEN, vocab[EOS_TOKEN])],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=BOS_TOKEN,
        eos_token=EOS_TOKEN,
        pad_token=PAD_TOKEN,
        unk_token=UNK_TOKEN,
        model_max_length=max_length,
    )


class ClipTrainer(nn.Module):
    """Symmetric InfoNCE between frame and caption embeddings (CLIP, Radford et al. 2021).

    Identical captions in a batch are common in a small world, so the targets are soft: each frame's
    target distribution is uniform over all items with its caption (no false negatives).
    """

    def __init__(self, text: nn.Module, vision: nn.Module, tokenizer: Any, max_length: int) -> None:
        super().__init__()
        from streamt2v.models.encoders import ImageEncoder

        self.text = text
        self.vision = vision
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.preprocess = ImageEncoder(vision).preprocess  # the same preprocessing as at inference
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))

    def compile_parts(self) -> list[nn.Module]:
        """What ``compile`` compiles (:mod:`streamt2v.compiling`): both towers."""
        return [self.text, self.vision]

    def embed_text(self, captions: list[str]) -> torch.Tensor:
        ids = self.tokenizer(
            captions, padding="max_length", max_length=self.max_length, truncation=True, return_tensors="pt"
        ).input_ids.to(self.logit_scale.device)
        return F.normalize(self.text(input_ids=ids).text_embeds.float(), dim=-1)

    def embed_frames(self, frames: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.vision(pixel_values=self.preprocess(frames)).image_embeds.float(), dim=-1)

    def forward(self, batch: dict[str, Any], generator: torch.Generator) -> tuple[torch.Tensor, dict]:
        video = batch["video"]  # (B, 3, T, H, W): one random frame per sample
        b, _, t = video.shape[:3]
        k = torch.randint(0, t, (b,), generator=generator).to(video.device)
        frames = video[torch.arange(b, device=video.device), :, k]  # (B, 3, H, W)
        img, txt = self.embed_frames(frames), self.embed_text(list(batch["caption"]))
        logits = self.logit_scale.clamp(max=math.log(100)).exp() * img @ txt.t()  # (B, B)
        same = torch.tensor(
            [[a == c for c in batch["caption"]] for a in batch["caption"]], dtype=torch.float32
        ).to(logits.device)
        target = same / same.sum(dim=1, keepdim=True)
        loss = 0.5 * (
            torch.sum(-target * F.log_softmax(logits, dim=1), dim=1).mean()
            + torch.sum(-target * F.log_softmax(logits.t(), dim=1), dim=1).mean()
        )
        acc = float((logits.argmax(dim=1) == torch.arange(b, device=logits.device)).float().mean())
        return loss, {"acc": acc}


@dataclass
class ClipRecipe(DataOptions):
    """micro-CLIP sizes; ``projection_dim`` is the APM ``image_embed_dim``, ``hidden_size`` the UNet's
    ``cross_attention_dim``, ``max_length`` its ``num_text_tokens``."""

    name: str = "clip"
    hidden_size: int = 64
    num_layers: int = 2
    num_heads: int = 4
    intermediate_size: int = 128
    projection_dim: int = 64
    max_length: int = 24
    image_size: int = 32
    patch_size: int = 4
    frames_per_sample: int = 1
    # Real data (--data FOLDER): the tokenizer's words are those of the captions file seen at least this
    # often (the rest read as <unk>); the microworld's vocabulary is fixed (microworld.captions).
    min_word_count: int = 1

    def config(self) -> dict[str, Any]:
        return asdict(self)

    def vocabulary(self) -> tuple[str, ...]:
        """The tokenizer's words: the microworld's, or those of the captions of ``--data FOLDER``."""
        if self.data == "microworld":
            return VOCABULARY
        if self.captions is None:
            raise ValueError(f"--data {self.data!r} is a folder: pass --captions FILE (CSV or JSONL)")
        from streamt2v.train.data import read_captions

        vocabulary = caption_vocabulary(read_captions(self.captions).values(), self.min_word_count)
        if len(vocabulary) == len(SPECIAL_TOKENS):
            raise ValueError(f"captions file {self.captions} has no word seen {self.min_word_count}+ times")
        logger.info("clip: %d words from %s", len(vocabulary) - len(SPECIAL_TOKENS), self.captions)
        return vocabulary

    def build(self) -> nn.Module:
        from transformers import (
            CLIPTextConfig,
            CLIPTextModelWithProjection,
            CLIPVisionConfig,
            CLIPVisionModelWithProjection,
        )

        vocabulary = self.vocabulary()
        vocab = {w: i for i, w in enumerate(vocabulary)}
        text_cfg = CLIPTextConfig(
            vocab_size=len(vocabulary),
            hidden_size=self.hidden_size,
            intermediate_size=self.intermediate_size,
            num_hidden_layers=self.num_layers,
            num_attention_heads=self.num_heads,
            max_position_embeddings=self.max_length,
            projection_dim=self.projection_dim,
            pad_token_id=vocab[PAD_TOKEN],
            bos_token_id=vocab[BOS_TOKEN],
            eos_token_id=vocab[EOS_TOKEN],  # ≠ 2: pooled output at the first <eos>
        )
        vision_cfg = CLIPVisionConfig(
            hidden_size=self.hidden_size,
            intermediate_size=self.intermediate_size,
            num_hidden_layers=self.num_layers,
            num_attention_heads=self.num_heads,
            image_size=self.image_size,
            patch_size=self.patch_size,
            projection_dim=self.projection_dim,
        )
        tokenizer = build_word_tokenizer(self.max_length, vocabulary)
        return ClipTrainer(
            CLIPTextModelWithProjection(text_cfg),
            CLIPVisionModelWithProjection(vision_cfg),
            tokenizer,
            self.max_length,
        )

    def dataset(self, seed: int) -> Dataset:
        return self.make_dataset(ClipSpec(self.frames_per_sample, self.size), seed)

    def sample(self, module: nn.Module, step: int, out_dir: Path) -> None:
        """Log retrieval accuracy on 32 samples of a fixed draw (seed 12345: new scenes on the microworld,
        clips of the training videos on a video folder)."""
        ds = self.dataset(seed=12345)
        items = [ds[i] for i in range(32)]
        frames = torch.stack([it["video"][:, 0] for it in items]).to(module.logit_scale.device)
        sim = module.embed_frames(frames) @ module.embed_text([it["caption"] for it in items]).t()
        caps = [it["caption"] for it in items]
        hit = sum(caps[int(j)] == caps[i] for i, j in enumerate(sim.argmax(dim=1)))
        logger.info("clip step %d: frame→caption top-1 %.2f", step, hit / len(items))

    def export(self, module: nn.Module, out_dir: Path) -> None:
        """Write ``text_encoder/`` (``CLIPTextModel``: the UNets' text conditioning), ``image_encoder/``
        (``CLIPVisionModelWithProjection``: the APM encoder), ``tokenizer/`` and ``clip/`` (a whole
        ``CLIPModel`` + tokenizer: the CLIP-score model, ``metrics.clip_score.load_clip``)."""
        from transformers import CLIPConfig, CLIPModel, CLIPTextModel

        text_sd = module.text.state_dict()
        text = CLIPTextModel(module.text.config)
        # transformers 5 names CLIPTextModel's weights without the "text_model." prefix; accept both.
        inner = {k.removeprefix("text_model."): v for k, v in text_sd.items() if k.startswith("text_model.")}
        want = set(text.state_dict())
        text.load_state_dict(
            inner if set(inner) == want else {f"text_model.{k}": v for k, v in inner.items()}
        )
        text.save_pretrained(out_dir / "text_encoder", safe_serialization=True)
        module.vision.save_pretrained(out_dir / "image_encoder", safe_serialization=True)
        module.tokenizer.save_pretrained(out_dir / "tokenizer")
        clip_cfg = CLIPConfig(
            text_config=module.text.config.to_dict(),
            vision_config=module.vision.config.to_dict(),
            projection_dim=self.projection_dim,
        )
        clip = CLIPModel(clip_cfg)
        state = {**text_sd, **module.vision.state_dict(), "logit_scale": module.logit_scale.detach()}
        missing, unexpected = clip.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise RuntimeError(f"micro-CLIP export: missing {missing}, unexpected {unexpected}")
        clip.save_pretrained(out_dir / "clip", safe_serialization=True)
        module.tokenizer.save_pretrained(out_dir / "clip")


# --------------------------------------------------------------------------------------------------
# registry
# --------------------------------------------------------------------------------------------------
def recipe_classes() -> dict[str, type]:
    from streamt2v.train.refiner_recipe import RefinerRecipe
    from streamt2v.train.video_recipes import BaseRecipe, StreamRecipe

    return {
        "vae": VAERecipe,
        "clip": ClipRecipe,
        "base": BaseRecipe,
        "stream": StreamRecipe,
        "refiner": RefinerRecipe,
    }


RECIPES: tuple[str, ...] = ("vae", "clip", "base", "stream", "refiner")


def make_recipe(name: str, /, **options: Any) -> Any:
    """Build recipe ``name`` with ``options`` (its dataclass fields); an unknown name, or a value that is
    not of its option's type, raises ValueError. Options from text (``--set x0_loss=false``) may spell a
    boolean as true/false and a tuple as a list."""
    classes = recipe_classes()
    if name not in classes:
        raise ValueError(f"unknown recipe {name!r}; choose one of {list(RECIPES)}")
    cls = classes[name]
    allowed = {f.name for f in fields(cls)} - {"name"}
    bad = sorted(set(options) - allowed)
    if bad:
        raise ValueError(f"recipe {name!r} has no option(s) {bad}; its options: {sorted(allowed)}")
    hints = get_type_hints(cls)
    return cls(**{k: _typed_option(name, k, v, hints[k]) for k, v in options.items()})


def _typed_option(recipe: str, key: str, value: Any, hint: Any) -> Any:
    try:
        return typed_value(value, hint)
    except ValueError as err:
        raise ValueError(f"recipe {recipe!r} option {key}={value!r} {err}") from None
