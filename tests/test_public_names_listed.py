"""``dir(streamt2v)``, what a notebook's tab completion offers, lists the lazily imported public names."""

import subprocess
import sys


def test_dir_lists_the_public_names_and_not_the_helpers():
    code = "import streamt2v, sys; print(' '.join(dir(streamt2v))); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    names, torch_loaded = out.split("\n")[:2]
    listed = set(names.split())
    import streamt2v

    assert set(streamt2v.__all__) <= listed  # was none of them: StreamingT2VPipeline, write_video, ...
    assert not {"importlib", "Any", "annotations"} & listed
    assert torch_loaded == "False"  # listing them imports nothing
