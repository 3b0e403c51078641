"""Conditional Attention Module (CAM, short-term memory), paper §4.1.

- :class:`CondFrameEncoder` — the frame encoder ``E_cond`` (ControlNet conditioning embedding).
- :class:`CAMEncoder` — a ControlNet-like copy of the video UNet's encoder and mid block that sees the
  first ``F_cond`` noisy frames and the last ``F_cond`` frames of the previous chunk.
- :class:`TemporalCrossAttentionMerger` — the temporal multi-head attention (T-MHA) that injects one
  CAM feature into one skip connection (or the mid output) of the base UNet.

Layouts: public tensors are ``(B, C, F, H, W)``; inside the UNet blocks features are diffusers'
batch-major ``(B*F, C, H, W)`` (row = b*F + f).
"""

from __future__ import annotations

from collections.abc import Sequence

from diffusers.models.attention_processor import Attention
from diffusers.models.embeddings import TimestepEmbedding, Timesteps
from diffusers.models.transformers.transformer_temporal import TransformerTemporalModel
from diffusers.models.unets.unet_3d_blocks import UNetMidBlock3DCrossAttn, get_down_block
from torch import Tensor, nn


class CondFrameEncoder(nn.Module):
    """``E_cond`` (paper §4.1): stacked 3x3 convolutions + SiLU, downsampling by ``2**(len(ladder)-1)``.

    ``conv_in`` (3 -> c0) + SiLU, then per ladder step ``c -> c'``: conv3x3 (c -> c) + SiLU, conv3x3
    stride 2 (c -> c') + SiLU, then the zero-initialized ``conv_out`` (c_last -> out_channels), the
    paper's "zero-convolution". No norms (the official ModelScope branch has none, official-facts §2.5).
    """

    def __init__(self, channels: Sequence[int], out_channels: int, in_channels: int = 3) -> None:
        super().__init__()
        channels = tuple(channels)
        self.downscale = 2 ** (len(channels) - 1)
        self.conv_in = nn.Conv2d(in_channels, channels[0], kernel_size=3, padding=1)
        blocks = []
        for c_in, c_out in zip(channels[:-1], channels[1:], strict=True):
            blocks.append(nn.Conv2d(c_in, c_in, kernel_size=3, padding=1))
            blocks.append(nn.Conv2d(c_in, c_out, kernel_size=3, padding=1, stride=2))
        self.blocks = nn.ModuleList(blocks)
        self.conv_out = nn.Conv2d(channels[-1], out_channels, kernel_size=3, padding=1)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    def forward(self, frames: Tensor) -> Tensor:
        """``(N, 3, H, W)`` RGB in [-1, 1] -> ``(N, out_channels, H / downscale, W / downscale)``."""
        x = nn.functional.silu(self.conv_in(frames))
        for block in self.blocks:
            x = nn.functional.silu(block(x))
        return self.conv_out(x)


class CAMEncoder(nn.Module):
    """The CAM encoder (paper §4.1, Fig. 3): UNet encoder + mid block with ``E_cond`` fused in.

    Built like ``diffusers.UNet3DConditionModel``'s encoder half, so its names match the base UNet's
    (``conv_in``, ``time_proj``, ``time_embedding``, ``transformer_in``, ``down_blocks``, ``mid_block``)
    plus ``controlnet_cond_embedding`` (``E_cond``). It sees only the text tokens (no APM).

    Fusion: ``h = transformer_in(conv_in(z)) + E_cond(frames)``; returns every skip feature the base
    encoder would produce (12 at full size) and the mid-block output, without zero-convs.
    """

    def __init__(
        self,
        *,
        in_channels: int = 4,
        down_block_types: Sequence[str],
        block_out_channels: Sequence[int],
        layers_per_block: int = 2,
        downsample_padding: int = 1,
        mid_block_scale_factor: float = 1,
        act_fn: str = "silu",
        norm_num_groups: int = 32,
        norm_eps: float = 1e-5,
        cross_attention_dim: int = 1024,
        attention_head_dim: int = 64,
        cond_embedding_channels: Sequence[int] = (32, 96, 256, 512),
    ) -> None:
        super().__init__()
        block_out_channels = tuple(block_out_channels)
        # diffusers' UNet3DConditionModel uses attention_head_dim as the per-head dimension passed on as
        # ``num_attention_heads`` (see its constructor); mirror it exactly.
        num_attention_heads = attention_head_dim
        time_embed_dim = block_out_channels[0] * 4

        self.conv_in = nn.Conv2d(in_channels, block_out_channels[0], kernel_size=3, padding=1)
        self.time_proj = Timesteps(block_out_channels[0], True, 0)
        self.time_embedding = TimestepEmbedding(block_out_channels[0], time_embed_dim, act_fn=act_fn)
        self.transformer_in = TransformerTemporalModel(
            num_attention_heads=8,
            attention_head_dim=attention_head_dim,
            in_channels=block_out_channels[0],
            num_layers=1,
            norm_num_groups=norm_num_groups,
        )
        self.down_blocks = nn.ModuleList()
        output_channel = block_out_channels[0]
        for i, block_type in enumerate(down_block_types):
            input_channel = output_channel
            output_channel = block_out_channels[i]
            self.down_blocks.append(
                get_down_block(
                    block_type,
                    num_layers=layers_per_block,
                    in_channels=input_channel,
                    out_channels=output_channel,
                    temb_channels=time_embed_dim,
                    add_downsample=i != len(block_out_channels) - 1,
                    resnet_eps=norm_eps,
                    resnet_act_fn=act_fn,
                    resnet_groups=norm_num_groups,
                    cross_attention_dim=cross_attention_dim,
                    num_attention_heads=num_attention_heads,
                    downsample_padding=downsample_padding,
                    dual_cross_attention=False,
                )
            )
        self.mid_block = UNetMidBlock3DCrossAttn(
            in_channels=block_out_channels[-1],
            temb_channels=time_embed_dim,
            resnet_eps=norm_eps,
            resnet_act_fn=act_fn,
            output_scale_factor=mid_block_scale_factor,
            cross_attention_dim=cross_attention_dim,
            num_attention_heads=num_attention_heads,
            resnet_groups=norm_num_groups,
            dual_cross_attention=False,
        )
        self.controlnet_cond_embedding = CondFrameEncoder(cond_embedding_channels, block_out_channels[0])

    def forward(
        self, sample: Tensor, timesteps: Tensor, text_embeds: Tensor, cond_frames: Tensor
    ) -> tuple[tuple[Tensor, ...], Tensor]:
        """Run the CAM (paper §4.1).

        Args:
            sample: ``(B, C, F_cond, h, w)`` the first ``F_cond`` noisy latent frames.
            timesteps: ``(B,)``.
            text_embeds: ``(B, T, D)`` text tokens only.
            cond_frames: ``(B, 3, F_cond, H, W)`` RGB in [-1, 1], ``H = h * E_cond.downscale``.

        Returns:
            ``(skips, mid)``: each skip ``(B, C_k, F_cond, h_k, w_k)`` in base-encoder order, and the
            mid-block output ``(B, C_last, F_cond, h_last, w_last)``.
        """
        batch, _, num_frames = sample.shape[:3]
        t_emb = self.time_proj(timesteps).to(dtype=self.conv_in.weight.dtype)  # float32 sinusoid, cast
        emb = self.time_embedding(t_emb)  # (B, 4*C0)
        emb = emb.repeat_interleave(num_frames, dim=0)  # (B*F_cond, 4*C0)
        context = text_embeds.repeat_interleave(num_frames, dim=0)  # (B*F_cond, T, D)

        x = to_frames(sample)  # (B*F_cond, C, h, w)
        x = self.conv_in(x)
        x = self.transformer_in(x, num_frames=num_frames, return_dict=False)[0]
        x = x + self.controlnet_cond_embedding(to_frames(cond_frames))  # (B*F_cond, C0, h, w)

        skips, mid = run_down_and_mid(self.down_blocks, self.mid_block, x, emb, context, num_frames)
        return tuple(from_frames(s, batch) for s in skips), from_frames(mid, batch)


class TemporalCrossAttentionMerger(nn.Module):
    """T-MHA merger (paper §4.1, Eq. for x'_SC): ``x_sc + proj_out(Attn(proj_in(GN(x_sc)), kv=x_cam))``.

    Per pixel, the ``F`` frames of the base feature attend to the ``F_cond`` CAM frames. GroupNorm runs
    over ``(B, C, F, H, W)`` (spatio-temporal). No positional encoding, no mask; ``proj_out`` is
    zero-initialized so a fresh merger is the identity.
    """

    def __init__(
        self, channels: int, head_dim: int = 64, norm_groups: int = 32, norm_eps: float = 1e-6
    ) -> None:
        super().__init__()
        if channels % head_dim:
            raise ValueError(f"merger channels {channels} must be a multiple of merger_head_dim {head_dim}")
        self.norm = nn.GroupNorm(norm_groups, channels, eps=norm_eps, affine=True)
        self.proj_in = nn.Linear(channels, channels)
        self.attention = Attention(
            query_dim=channels,
            cross_attention_dim=channels,
            heads=channels // head_dim,
            dim_head=head_dim,
            bias=False,
        )
        self.proj_out = nn.Linear(channels, channels)
        nn.init.zeros_(self.proj_out.weight)
        nn.init.zeros_(self.proj_out.bias)

    def forward(self, x: Tensor, cond: Tensor) -> Tensor:
        """``x`` ``(B, C, F, H, W)`` (skip feature), ``cond`` ``(B, C, F_cond, H, W)`` -> ``(B, C, F, H, W)``."""
        b, c, f, h, w = x.shape
        n = self.norm(x)
        q = n.permute(0, 3, 4, 2, 1).reshape(b * h * w, f, c)  # (B*H*W, F, C)
        kv = cond.permute(0, 3, 4, 2, 1).reshape(b * h * w, cond.shape[2], c)  # (B*H*W, F_cond, C)
        a = self.attention(self.proj_in(q), encoder_hidden_states=kv)
        a = self.proj_out(a).reshape(b, h, w, f, c).permute(0, 4, 3, 1, 2)  # (B, C, F, H, W)
        return x + a


def to_frames(x: Tensor) -> Tensor:
    """``(B, C, F, H, W)`` -> diffusers' batch-major ``(B*F, C, H, W)``."""
    b, c, f, h, w = x.shape
    return x.permute(0, 2, 1, 3, 4).reshape(b * f, c, h, w)


def from_frames(x: Tensor, batch: int) -> Tensor:
    """Batch-major ``(B*F, C, H, W)`` -> ``(B, C, F, H, W)``."""
    bf, c, h, w = x.shape
    return x.reshape(batch, bf // batch, c, h, w).permute(0, 2, 1, 3, 4)


def run_down_and_mid(
    down_blocks: nn.ModuleList,
    mid_block: nn.Module,
    x: Tensor,
    emb: Tensor,
    context: Tensor,
    num_frames: int,
) -> tuple[tuple[Tensor, ...], Tensor]:
    """The encoder half of a video UNet, shared by the base UNet and the CAM (which mirrors it).

    ``x`` is ``transformer_in(conv_in(z))`` as ``(B*F, C0, h, w)``; returns the skip tensors (``x`` first,
    then one per resnet and downsampler, 12 at full size) and the mid-block output, all ``(B*F, C, h, w)``.
    """
    skips: tuple[Tensor, ...] = (x,)
    for block in down_blocks:
        if getattr(block, "has_cross_attention", False):
            x, res = block(hidden_states=x, temb=emb, encoder_hidden_states=context, num_frames=num_frames)
        else:
            x, res = block(hidden_states=x, temb=emb, num_frames=num_frames)
        skips += res
    mid = mid_block(x, emb, encoder_hidden_states=context, num_frames=num_frames)
    return skips, mid


__all__ = [
    "CAMEncoder",
    "CondFrameEncoder",
    "TemporalCrossAttentionMerger",
    "from_frames",
    "run_down_and_mid",
    "to_frames",
]
