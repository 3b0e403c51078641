"""Appearance Preservation Module (APM, long-term memory), paper §4.2.

Two parts:

- :class:`ImageTokenResampler` turns the CLIP image embedding of the anchor frame into ``N_img`` tokens
  of the cross-attention width (the official ``ImgEmbContextResampler``).
- :class:`APMAttnProcessor` is a diffusers attention processor for the *spatial* cross-attentions
  (``attn2``) of the base UNet. It mixes the image tokens into the text tokens before the key/value
  projections (paper §4.2, appendix Tab. 12)::

      x_cross = x_text + SiLU(alpha) * LayerNorm(Conv1d_{(T+N_img) -> T, k=3}([x_text; x_img]))

  The tokens are the Conv1d *channels*; the feature axis is the convolved length. ``alpha`` starts
  at 0, so a freshly initialized APM leaves the network's output unchanged.
"""

from __future__ import annotations

import torch
from diffusers.models.attention_processor import Attention, AttnProcessor2_0
from torch import Tensor, nn


class ImageTokenResampler(nn.Module):
    """Anchor-frame CLIP embedding -> ``num_tokens`` context tokens (paper §4.2, "MLP").

    mean over the given frames -> Linear(embed -> inner) -> SiLU -> Linear(inner -> N_img * D) -> view.
    Parameter names follow the official ``ImgEmbContextResampler`` (``context_embedding.{0,2}``).
    """

    def __init__(self, embed_dim: int, inner_dim: int, num_tokens: int, token_dim: int) -> None:
        super().__init__()
        self.embed_dim = embed_dim
        self.num_tokens = num_tokens
        self.token_dim = token_dim
        self.context_embedding = nn.Sequential(
            nn.Linear(embed_dim, inner_dim),
            nn.SiLU(),
            nn.Linear(inner_dim, num_tokens * token_dim),
        )

    def forward(self, image_embeds: Tensor) -> Tensor:
        """``(B, E)`` (one frame each) or ``(B, F, E)`` (mean over F) -> ``(B, N_img, D)``."""
        if image_embeds.ndim == 2:
            image_embeds = image_embeds[:, None]
        if image_embeds.ndim != 3 or image_embeds.shape[-1] != self.embed_dim:
            raise ValueError(
                f"image embeddings must have shape (B, {self.embed_dim}) or (B, F, {self.embed_dim}); "
                f"got {tuple(image_embeds.shape)}"
            )
        x = image_embeds.mean(dim=1)  # (B, E)
        x = self.context_embedding(x)  # (B, N_img * D)
        return x.view(x.shape[0], self.num_tokens, self.token_dim)


class APMAttnProcessor(nn.Module):
    """Attention processor implementing the APM token mixing of one spatial cross-attention (§4.2).

    Installed with ``UNet3DConditionModel.set_attn_processor`` on the base UNet's spatial ``attn2``
    layers only (like diffusers' IP-Adapter processors); its parameters therefore appear in the state
    dict as ``...attn2.processor.{conv,conv_ln,alpha}``.

    If the encoder states carry only the ``num_text_tokens`` text tokens (no image tokens given), the
    processor is plain cross-attention over the text.
    """

    def __init__(self, num_text_tokens: int, num_image_tokens: int, token_dim: int) -> None:
        super().__init__()
        self.num_text_tokens = num_text_tokens
        self.num_image_tokens = num_image_tokens
        self.conv = nn.Conv1d(num_text_tokens + num_image_tokens, num_text_tokens, kernel_size=3, padding=1)
        self.conv_ln = nn.LayerNorm(token_dim)
        self.alpha = nn.Parameter(torch.zeros(()))
        self._attention = AttnProcessor2_0()

    def mix(self, encoder_hidden_states: Tensor) -> Tensor:
        """``(N, T + N_img, D)`` -> ``x_cross`` ``(N, T, D)``; ``(N, T, D)`` is returned unchanged."""
        n_tokens = encoder_hidden_states.shape[1]
        if n_tokens == self.num_text_tokens:
            return encoder_hidden_states
        if n_tokens != self.num_text_tokens + self.num_image_tokens:
            raise ValueError(
                f"APM cross-attention expects {self.num_text_tokens} text tokens or "
                f"{self.num_text_tokens} + {self.num_image_tokens} text+image tokens; got {n_tokens}"
            )
        x_text = encoder_hidden_states[:, : self.num_text_tokens]  # (N, T, D)
        mixed = self.conv_ln(self.conv(encoder_hidden_states))  # (N, T+N_img, D) -> (N, T, D)
        return x_text + nn.functional.silu(self.alpha) * mixed

    def __call__(  # type: ignore[override]  # the diffusers processor protocol, as IP-Adapter processors
        self,
        attn: Attention,
        hidden_states: Tensor,
        encoder_hidden_states: Tensor | None = None,
        attention_mask: Tensor | None = None,
        temb: Tensor | None = None,
    ) -> Tensor:
        if encoder_hidden_states is not None:
            encoder_hidden_states = self.mix(encoder_hidden_states)
        return self._attention(attn, hidden_states, encoder_hidden_states, attention_mask, temb)

    def forward(self, *args: object, **kwargs: object) -> Tensor:  # pragma: no cover - same as __call__
        return self.__call__(*args, **kwargs)  # type: ignore[arg-type]


def is_apm_layer(processor_name: str) -> bool:
    """Whether a diffusers processor name is a spatial cross-attention of the base UNet (APM site).

    Spatial cross-attentions live in ``*.attentions.*.transformer_blocks.*.attn2``; temporal ones
    (``temp_attentions``, ``transformer_in``) never see text or image tokens.
    """
    parts = processor_name.split(".")
    return "attentions" in parts and parts[-2] == "attn2" and "transformer_in" not in parts
