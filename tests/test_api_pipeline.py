"""StreamingT2VPipeline as a diffusers user drives it (tiny random-weight model, CPU): what it refuses or warns
about at once, before any chunk is sampled."""

from __future__ import annotations

import pytest

from streamt2v.pipeline.generate import StreamingT2VPipeline


def test_the_pipeline_refuses_what_is_no_model_naming_from_pretrained(tmp_path):
    """``StreamingT2VPipeline("path/to/model")`` (diffusers' habit is ``from_pretrained``) was taken, and the
    first call failed with ``'str' object has no attribute 'sampler'``."""
    for bad, name in ((str(tmp_path), "str"), (tmp_path, "PosixPath"), (None, "NoneType")):
        with pytest.raises(TypeError, match=rf"takes a StreamingT2VModel, got {name}; .*from_pretrained"):
            StreamingT2VPipeline(bad)
