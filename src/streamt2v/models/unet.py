"""The video UNet (ModelScope T2V architecture) and the streaming composite (paper §3, §4).

- :func:`build_video_unet` — the plain ModelScope video UNet (stage 1 base model, stage 3 refiner):
  diffusers' ``UNet3DConditionModel`` as is.
- :class:`StreamingUNet` — stage 2 (paper §4, Fig. 2/3): the base UNet with APM attention processors on
  its spatial cross-attentions, the CAM encoder, and the 13 T-MHA mergers that replace the base UNet's
  12 skip tensors and its mid-block output with ``merger(x_sc, x_cam)``.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import torch
from diffusers import ConfigMixin, ModelMixin, UNet3DConditionModel
from diffusers.configuration_utils import register_to_config
from torch import Tensor, nn

from streamt2v.config import StreamingConfig, UNetConfig
from streamt2v.models.apm import APMAttnProcessor, ImageTokenResampler, is_apm_layer
from streamt2v.models.cam import (
    CAMEncoder,
    TemporalCrossAttentionMerger,
    from_frames,
    run_down_and_mid,
    to_frames,
)

# UNet3DConditionModel config entries that also shape the CAM encoder (it mirrors the base encoder).
_CAM_ARGS = (
    "in_channels",
    "down_block_types",
    "block_out_channels",
    "layers_per_block",
    "downsample_padding",
    "mid_block_scale_factor",
    "act_fn",
    "norm_num_groups",
    "norm_eps",
    "cross_attention_dim",
    "attention_head_dim",
)


def build_video_unet(cfg: UNetConfig) -> UNet3DConditionModel:
    """The plain ModelScope T2V video UNet (paper §3 "Video-LDM"; official-facts §2.1)."""
    return UNet3DConditionModel(**cfg.to_diffusers())


def skip_channels(block_out_channels: tuple[int, ...] | list[int], layers_per_block: int) -> list[int]:
    """Channels of the base encoder's skip tensors, in order (12 at full size).

    The first is ``transformer_in(conv_in(z))``; each down block adds one per resnet and one for its
    downsampler (all blocks but the last).
    """
    channels = [block_out_channels[0]]
    for i, c in enumerate(block_out_channels):
        channels += [c] * (layers_per_block + (i != len(block_out_channels) - 1))
    return channels


def _streaming_config(streaming: dict[str, Any]) -> StreamingConfig:
    return StreamingConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in streaming.items()})


class StreamingUNet(ModelMixin, ConfigMixin):
    """Stage-2 network: base video UNet + CAM (paper §4.1) + APM (paper §4.2).

    Attributes:
        base: the base ``UNet3DConditionModel`` with :class:`APMAttnProcessor` on its spatial ``attn2``.
        cam: the :class:`CAMEncoder`.
        down_mergers: one :class:`TemporalCrossAttentionMerger` per skip connection (12 at full size).
        mid_merger: the merger of the mid-block output.
        resampler: the :class:`ImageTokenResampler` (anchor CLIP embedding -> image tokens).
    """

    @register_to_config
    def __init__(self, unet: dict[str, Any], streaming: dict[str, Any]) -> None:
        super().__init__()
        s = _streaming_config(streaming)
        self.streaming_config = s
        self.base = UNet3DConditionModel(**unet)
        bc = self.base.config
        self.cam = CAMEncoder(
            **{k: bc[k] for k in _CAM_ARGS}, cond_embedding_channels=s.cond_embedding_channels
        )

        def merger(c: int) -> TemporalCrossAttentionMerger:
            return TemporalCrossAttentionMerger(c, s.merger_head_dim, s.merger_norm_groups, s.merger_norm_eps)

        channels = skip_channels(bc.block_out_channels, bc.layers_per_block)
        self.down_mergers = nn.ModuleList(merger(c) for c in channels)
        self.mid_merger = merger(bc.block_out_channels[-1])
        self.resampler = ImageTokenResampler(
            s.image_embed_dim, s.resampler_inner_dim, s.num_image_tokens, bc.cross_attention_dim
        )
        processors = {
            name: APMAttnProcessor(s.num_text_tokens, s.num_image_tokens, bc.cross_attention_dim)
            if is_apm_layer(name)
            else proc
            for name, proc in self.base.attn_processors.items()
        }
        self.base.set_attn_processor(processors)

    @classmethod
    def from_config_objects(cls, unet: UNetConfig, streaming: StreamingConfig) -> StreamingUNet:
        """Build a randomly initialized model from the config dataclasses."""
        return cls(unet.to_diffusers(), asdict(streaming))

    @classmethod
    def from_base(cls, base: UNet3DConditionModel, streaming: StreamingConfig) -> StreamingUNet:
        """Training initialization (paper §4, official ``ControlNetModel.from_unet``).

        The base weights are copied; the CAM's ``conv_in``, ``time_embedding``, ``transformer_in``,
        ``down_blocks`` and ``mid_block`` are copies of the base's. Zero-initialized (so the model starts
        as exactly the base UNet): ``E_cond.conv_out``, every merger's ``proj_out``, every APM ``alpha``.
        """
        unet_cfg = {k: v for k, v in base.config.items() if not k.startswith("_")}
        model = cls(unet_cfg, asdict(streaming)).to(base.device)
        if model.dtype != base.dtype:  # diffusers' to(dtype) warns even when nothing needs fp32
            model = model.to(dtype=base.dtype)
        missing, unexpected = model.base.load_state_dict(base.state_dict(), strict=False)
        bad_missing = [k for k in missing if ".processor." not in k]
        if bad_missing or unexpected:
            raise ValueError(f"base UNet does not fit: missing {bad_missing}, unexpected {unexpected}")
        for name in ("conv_in", "time_embedding", "transformer_in", "down_blocks", "mid_block"):
            getattr(model.cam, name).load_state_dict(getattr(base, name).state_dict())
        return model

    def set_use_memory_efficient_attention_xformers(
        self, valid: bool, attention_op: Any | None = None
    ) -> None:
        """Refused: diffusers would replace the APM processors (and drop their weights).

        torch's scaled-dot-product attention, used by every processor here, is already memory-efficient.
        """
        if valid:
            raise ValueError(
                "xformers processors would replace the APM attention processors of StreamingUNet; "
                "it already uses torch scaled_dot_product_attention"
            )

    def image_tokens(self, image_embeds: Tensor) -> Tensor:
        """APM image tokens (paper §4.2): ``(B, E)`` or ``(B, F, E)`` -> ``(B, N_img, D)``."""
        return self.resampler(image_embeds)

    def _check_inputs(
        self, sample: Tensor, text_embeds: Tensor, image_tokens: Tensor | None, cond_frames: Tensor | None
    ) -> None:
        s, bc = self.streaming_config, self.base.config
        if sample.ndim != 5 or sample.shape[1] != bc.in_channels:
            raise ValueError(
                f"sample must be (B, {bc.in_channels}, F, h, w) latents; got shape {tuple(sample.shape)}"
            )
        b, _, f, h, w = sample.shape
        want_text = (b, s.num_text_tokens, bc.cross_attention_dim)
        if tuple(text_embeds.shape) != want_text:
            raise ValueError(
                f"text_embeds must have shape {want_text} (B, num_text_tokens={s.num_text_tokens}, "
                f"cross_attention_dim); got {tuple(text_embeds.shape)}"
            )
        if image_tokens is not None:
            want_img = (b, s.num_image_tokens, bc.cross_attention_dim)
            if tuple(image_tokens.shape) != want_img:
                raise ValueError(
                    f"image_tokens must have shape {want_img} (B, num_image_tokens={s.num_image_tokens}, "
                    f"cross_attention_dim); got {tuple(image_tokens.shape)}"
                )
        if cond_frames is not None:
            k = self.cam.controlnet_cond_embedding.downscale
            if cond_frames.ndim != 5 or cond_frames.shape[:2] != (b, 3):
                raise ValueError(
                    f"cond_frames must be (B={b}, 3, F_cond, H, W) RGB; got shape {tuple(cond_frames.shape)}"
                )
            if cond_frames.shape[2] != s.num_cond_frames:
                raise ValueError(
                    f"expected {s.num_cond_frames} conditioning frames (num_cond_frames); "
                    f"got {cond_frames.shape[2]}"
                )
            if s.num_cond_frames > f:
                raise ValueError(f"num_cond_frames={s.num_cond_frames} exceeds the {f} frames of sample")
            if tuple(cond_frames.shape[3:]) != (k * h, k * w):
                raise ValueError(
                    f"conditioning frames must be {k * h}x{k * w} ({k}x the {h}x{w} latent); "
                    f"got {cond_frames.shape[3]}x{cond_frames.shape[4]}"
                )

    def forward(
        self,
        sample: Tensor,
        timestep: Tensor | float | int,
        text_embeds: Tensor,
        image_tokens: Tensor | None = None,
        cond_frames: Tensor | None = None,
    ) -> Tensor:
        """One network evaluation (paper §4, Fig. 3). No guidance here.

        Args:
            sample: ``(B, C, F, h, w)`` noisy latents.
            timestep: scalar or ``(B,)``.
            text_embeds: ``(B, T, D)`` text tokens.
            image_tokens: ``(B, N_img, D)`` APM tokens, or None (APM off: text tokens only).
            cond_frames: ``(B, 3, F_cond, H, W)`` RGB in [-1, 1], or None (no CAM, mergers skipped).

        Returns:
            the raw network output ``(B, C_out, F, h, w)``.
        """
        self._check_inputs(sample, text_embeds, image_tokens, cond_frames)
        base = self.base
        batch, _, num_frames, h, w = sample.shape

        up_factor = 2**base.num_upsamplers
        forward_upsample_size = h % up_factor != 0 or w % up_factor != 0

        timesteps = timestep
        if not torch.is_tensor(timesteps):
            dtype = torch.float64 if isinstance(timestep, float) else torch.int64
            timesteps = torch.tensor([timesteps], dtype=dtype, device=sample.device)
        elif timesteps.ndim == 0:
            timesteps = timesteps[None].to(sample.device)
        timesteps = timesteps.expand(batch)  # (B,)

        t_emb = base.time_proj(timesteps).to(dtype=base.dtype)  # float32 sinusoid, cast (as diffusers)
        emb = base.time_embedding(t_emb).repeat_interleave(num_frames, dim=0)  # (B*F, 4*C0)
        context = text_embeds if image_tokens is None else torch.cat([text_embeds, image_tokens], dim=1)
        context = context.repeat_interleave(num_frames, dim=0)  # (B*F, T[+N_img], D)

        x = base.conv_in(to_frames(sample))  # (B*F, C0, h, w)
        x = base.transformer_in(x, num_frames=num_frames, return_dict=False)[0]
        skips, x = run_down_and_mid(base.down_blocks, base.mid_block, x, emb, context, num_frames)

        if cond_frames is not None:
            n_cond = self.streaming_config.num_cond_frames
            cam_skips, cam_mid = self.cam(sample[:, :, :n_cond], timesteps, text_embeds, cond_frames)
            skips = tuple(
                to_frames(merger(from_frames(s, batch), c))
                for merger, s, c in zip(self.down_mergers, skips, cam_skips, strict=True)
            )
            x = to_frames(self.mid_merger(from_frames(x, batch), cam_mid))

        upsample_size = None
        for i, block in enumerate(base.up_blocks):
            n_res = len(block.resnets)
            res, skips = skips[-n_res:], skips[:-n_res]
            if i < len(base.up_blocks) - 1 and forward_upsample_size:
                upsample_size = skips[-1].shape[2:]
            if getattr(block, "has_cross_attention", False):
                x = block(
                    hidden_states=x,
                    temb=emb,
                    res_hidden_states_tuple=res,
                    encoder_hidden_states=context,
                    upsample_size=upsample_size,
                    num_frames=num_frames,
                )
            else:
                x = block(
                    hidden_states=x,
                    temb=emb,
                    res_hidden_states_tuple=res,
                    upsample_size=upsample_size,
                    num_frames=num_frames,
                )
        if base.conv_norm_out is not None:
            x = base.conv_act(base.conv_norm_out(x))
        x = base.conv_out(x)  # (B*F, C_out, h, w)
        return from_frames(x, batch)  # (B, C_out, F, h, w)
