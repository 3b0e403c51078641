"""The ``clip`` recipe: micro-CLIP, a transformers ``CLIPTextModelWithProjection`` +
``CLIPVisionModelWithProjection`` trained contrastively on (frame, caption) with a word-level tokenizer
(:mod:`streamt2v.train.word_tokenizer`). It is the text encoder, the APM image encoder (paper §4.2) and
the CLIP-score model of the world."""

from __future__ import annotations

import json
import logging
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

from streamt2v.arguments import Arg, RecipeOption
from streamt2v.io.folders import atomic_write_file, named_path
from streamt2v.microworld.captions import BOS_TOKEN, EOS_TOKEN, PAD_TOKEN, SPECIAL_TOKENS, VOCABULARY
from streamt2v.microworld.dataset import ClipSpec
from streamt2v.train.recipes import (
    DataOptions,
    SampleInputs,
    check_at_least,
    check_frames_per_sample,
    name_shipped_parts,
)
from streamt2v.train.word_tokenizer import build_word_tokenizer, caption_vocabulary

logger = logging.getLogger(__name__)


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

    def __post_init__(self) -> None:
        name_shipped_parts(self)
        check_frames_per_sample(self.frames_per_sample)
        sizes = (
            "hidden_size",
            "num_layers",
            "num_heads",
            "intermediate_size",
            "projection_dim",
            "patch_size",
        )
        check_at_least(self, 1, *sizes, "min_word_count")
        # a caption is <bos> words <eos>: at 2 tokens every caption reads the same, at 1 a batch fails
        check_at_least(self, 3, "max_length", meaning=" (<bos>, a word, <eos>)")
        check_at_least(self, self.patch_size, "image_size", meaning=" (patch_size)")

    def config(self) -> dict[str, Any]:
        return asdict(self)

    def vocabulary(self) -> tuple[str, ...]:
        """The tokenizer's words: the microworld's, or those of the captions of ``--data FOLDER``."""
        if self.data == "microworld":
            return VOCABULARY
        from streamt2v.train.captions import read_captions

        vocabulary = caption_vocabulary(read_captions(self.captions_file()).values(), self.min_word_count)
        if len(vocabulary) == len(SPECIAL_TOKENS):
            raise ValueError(
                f"captions file {named_path(self.captions)} has no word seen {self.min_word_count}+ times"
            )
        logger.info(
            "clip: %d words from %s", len(vocabulary) - len(SPECIAL_TOKENS), named_path(self.captions)
        )
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
        self.check_caption_lengths(tokenizer, self.max_length)
        return ClipTrainer(
            CLIPTextModelWithProjection(text_cfg),
            CLIPVisionModelWithProjection(vision_cfg),
            tokenizer,
            self.max_length,
        )

    def clip_spec(self) -> ClipSpec:
        """What one training sample holds."""
        return ClipSpec(self.frames_per_sample, self.size)

    def dataset(self, seed: int, progress: bool = False) -> Dataset:
        return self.make_dataset(self.clip_spec(), seed, progress)

    def short_videos_advice(self) -> tuple[Arg, int]:
        return RecipeOption("frames_per_sample"), 1

    def sample_inputs(self) -> SampleInputs:
        """32 samples of a fixed draw (new scenes on the microworld, clips of the training videos on a video
        folder), made once per run (:meth:`DataOptions.held_aside`)."""
        return self.held_aside(self.clip_spec(), 32)

    def sample(self, module: nn.Module, step: int, out_dir: Path, inputs: SampleInputs) -> None:
        """Frame→caption retrieval accuracy on the samples of ``inputs``, logged and written to
        ``clip-<step>.json``: a contrastive model has no picture to show."""
        items = inputs.items
        frames = torch.stack([it["video"][:, 0] for it in items]).to(module.logit_scale.device)
        sim = module.embed_frames(frames) @ module.embed_text([it["caption"] for it in items]).t()
        caps = [it["caption"] for it in items]
        top1 = sum(caps[int(j)] == caps[i] for i, j in enumerate(sim.argmax(dim=1))) / len(items)
        logger.info("clip step %d: frame→caption top-1 %.2f", step, top1)
        result = {"step": step, "frame_to_caption_top1": top1, "samples": len(items)}
        text = json.dumps(result) + "\n"  # whole or not at all, as the loop's other files (a kill mid-write)
        atomic_write_file(out_dir / f"clip-{step:08d}.json", lambda tmp: tmp.write_text(text))

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
            raise RuntimeError(
                f"micro-CLIP export: missing {', '.join(missing) or 'none'}, "
                f"unexpected {', '.join(unexpected) or 'none'}"
            )
        clip.save_pretrained(out_dir / "clip", safe_serialization=True)
        module.tokenizer.save_pretrained(out_dir / "clip")
