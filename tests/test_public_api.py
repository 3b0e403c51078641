import subprocess
import sys

import streamt2v


def test_every_public_name_resolves():
    for name in streamt2v.__all__:
        assert getattr(streamt2v, name) is not None, name


def test_import_is_cheap_and_touches_no_heavy_module():
    code = "import sys, streamt2v; print('torch' in sys.modules, 'diffusers' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_unknown_attribute_names_itself():
    try:
        streamt2v.nope  # noqa: B018
    except AttributeError as err:
        assert "'nope'" in str(err)
    else:
        raise AssertionError("expected AttributeError")


def test_the_pipeline_names_a_model_argument_that_is_no_path():
    """``StreamingT2VPipeline.from_pretrained(3)`` looked for a folder named '3' ("model folder '.../3' does
    not exist"); a list, Python's 'expected str, bytes or os.PathLike object'."""
    import pytest

    from streamt2v.pipeline.generate import StreamingT2VPipeline

    for bad, shown in ((3, r"3 \(int\)"), (["a"], r"\['a'\] \(list\)")):
        with pytest.raises(
            TypeError, match=rf"^the model must be a folder path, a hub id or a preset name, got {shown}$"
        ):
            StreamingT2VPipeline.from_pretrained(bad, device="cpu")


def test_the_pipeline_takes_diffusers_torch_dtype_and_says_what_it_returns():
    """``StreamingT2VPipeline.from_pretrained(path, torch_dtype=...)`` was an unexpected keyword, while the
    model and the refiner take it; ``help(pipe)`` said nothing of what ``pipe(...)`` returns."""
    import pytest
    import torch

    from streamt2v import StreamingT2VPipeline

    pipe = StreamingT2VPipeline.from_pretrained(device="cpu", torch_dtype=torch.bfloat16)
    assert pipe.dtype == torch.bfloat16
    assert StreamingT2VPipeline.from_pretrained(device="cpu", dtype="bf16", torch_dtype="bfloat16").dtype == (
        torch.bfloat16
    )
    with pytest.raises(ValueError, match=r"^torch_dtype=torch.bfloat16 and dtype='fp32' disagree; give one$"):
        StreamingT2VPipeline.from_pretrained(device="cpu", dtype="fp32", torch_dtype=torch.bfloat16)
    assert "float32 in ``[-1, 1]``" in StreamingT2VPipeline.__call__.__doc__
    assert "torch_dtype" in StreamingT2VPipeline.from_pretrained.__doc__
