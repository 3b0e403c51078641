"""Official StreamingT2V (ModelScope branch) checkpoint keys -> :class:`StreamingUNet` state-dict keys.

The official ``VideoLDM`` state dict (official-facts §2; reference ``keys_full.tsv``) prefixes the
stage-2 network's parts as ``base_model.`` (UNet with T-MHA mergers and APM), ``unet.`` (the CAM) and
``resampler.``. Our names:

=========================================================================  ======================================
official                                                                   ours
=========================================================================  ======================================
``base_model.cross_attention_merger_down_blocks.{i}.temporal_transformer.*``  ``down_mergers.{i}.*``
``base_model.cross_attention_merger_mid_block.temporal_transformer.*``      ``mid_merger.*``
``base_model.<...>.attn2.{conv.*, conv_ln.*, alpha}`` (APM)                 ``base.<...>.attn2.processor.<same>``
``base_model.*`` (everything else)                                          ``base.*``
``unet.*``                                                                  ``cam.*``
``resampler.*``                                                             ``resampler.*``
=========================================================================  ======================================

The mapping is a bijection between the official keys of those three prefixes and our state dict.
"""

from __future__ import annotations

import re

_MERGER_DOWN = re.compile(
    r"^base_model\.cross_attention_merger_down_blocks\.(\d+)\.temporal_transformer\.(.+)$"
)
_MERGER_MID = re.compile(r"^base_model\.cross_attention_merger_mid_block\.temporal_transformer\.(.+)$")
_APM = re.compile(r"^base_model\.(.+\.attn2)\.(conv\.weight|conv\.bias|conv_ln\.weight|conv_ln\.bias|alpha)$")

_OURS_MERGER_DOWN = re.compile(r"^down_mergers\.(\d+)\.(.+)$")
_OURS_MERGER_MID = re.compile(r"^mid_merger\.(.+)$")
_OURS_APM = re.compile(r"^base\.(.+\.attn2)\.processor\.(.+)$")

# the official prefixes of the stage-2 network (the keys map_official_unet_key maps)
STAGE2_PREFIXES = ("base_model.", "unet.", "resampler.")


def map_official_unet_key(key: str) -> str | None:
    """Our ``StreamingUNet`` key for an official checkpoint key, or None if it is not part of stage 2.

    Keys of other official prefixes (``vae.``, ``text_encoder.``, ``image_encoder.``) return None.
    """
    if m := _MERGER_DOWN.match(key):
        return f"down_mergers.{m[1]}.{m[2]}"
    if m := _MERGER_MID.match(key):
        return f"mid_merger.{m[1]}"
    if m := _APM.match(key):
        return f"base.{m[1]}.processor.{m[2]}"
    if key.startswith("base_model."):
        return "base." + key[len("base_model.") :]
    if key.startswith("unet."):
        return "cam." + key[len("unet.") :]
    if key.startswith("resampler."):
        return key
    return None


def unmap_official_unet_key(key: str) -> str:
    """The inverse of :func:`map_official_unet_key`: our key -> the official key."""
    if m := _OURS_MERGER_DOWN.match(key):
        return f"base_model.cross_attention_merger_down_blocks.{m[1]}.temporal_transformer.{m[2]}"
    if m := _OURS_MERGER_MID.match(key):
        return f"base_model.cross_attention_merger_mid_block.temporal_transformer.{m[1]}"
    if m := _OURS_APM.match(key):
        return f"base_model.{m[1]}.{m[2]}"
    if key.startswith("base."):
        return "base_model." + key[len("base.") :]
    if key.startswith("cam."):
        return "unet." + key[len("cam.") :]
    if key.startswith("resampler."):
        return key
    raise ValueError(f"{key!r} is not a StreamingUNet key (expected base.*, cam.*, *_merger*, resampler.*)")
