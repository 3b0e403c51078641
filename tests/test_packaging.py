"""What a user who pip-installs streamt2v (a wheel or the sdist, into an environment of their own) gets:
pyproject.toml's requirements, read as the installer and the build backend read them. Nothing is built
here; the versions named below were measured by building and running the package with them."""

from __future__ import annotations

import ast
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name


def pyproject() -> dict:
    """pyproject.toml as the build reads it; the tests that need it skip on Python 3.10 (no tomllib), the
    others run there too."""
    tomllib = pytest.importorskip("tomllib")
    return tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())


def _requirement(name: str, requirements: list[str]) -> Requirement:
    found = [Requirement(text) for text in requirements if Requirement(text).name.lower() == name]
    assert len(found) == 1, f"{name!r} is required {len(found)} times in {requirements}"
    return found[0]


def test_build_backend_reads_the_license_expression():
    # project.license as an SPDX string (PEP 639) is refused by setuptools before 77.0.3 ("`project.license`
    # must be valid exactly by one definition"; 76.1.0 measured), so a build without isolation, or with an
    # older setuptools pinned, failed although the requirement was met.
    assert isinstance(pyproject()["project"]["license"], str)
    setuptools = _requirement("setuptools", pyproject()["build-system"]["requires"])
    assert not setuptools.specifier.contains("76.1.0"), setuptools
    assert setuptools.specifier.contains("77.0.3"), setuptools


# Versions of dependencies that pyproject's ranges must leave out, and what each did with the package
# installed from the wheel (the other dependencies at their lower bounds or at constraints.txt's pins).
TOO_OLD = [
    # "Tokenizer class TokenizersBackend does not exist": the shipped tokenizers were saved by transformers 5
    ("transformers", "4.44.0"),
    # 5.0.0, 5.4.0 and 5.5.4 load the shipped CLIPTextModel weights (keys without text_model.) as missing:
    # every weight of the text encoder newly initialised, and generate (5.0.0) exits 0 with a video that
    # ignores the prompt. 5.6.0 loads them, and its videos are those of the pinned version, byte for byte.
    ("transformers", "5.5.4"),
    # no VideoFrame.rotation (12.0.0, 13.1.0 and 14.0.0 measured): every read of a video (enhance, evaluate,
    # --init-video) failed with an AttributeError
    ("av", "14.0.0"),
    # generate said "wrote 40 frames" and exited 0, but the streamed mp4 held 11 decodable frames of the 16
    # its container listed (14.1.0: the same in the streaming writer tests); 15.0.0 writes the pinned
    # version's file byte for byte
    ("av", "14.2.0"),
    # every generate failed: chunk_seed's uint64 >> 1 is a TypeError under numpy 1's promotion rules (1.24.4
    # measured too); 2.0.0 passes
    ("numpy", "1.26.4"),
    # built against numpy 1: import cv2 failed under numpy 2 (4.8.0.76 and 4.9.0.80 measured too); 4.10.0.84
    # is the first built for numpy 2
    ("opencv-python", "4.10.0.82"),
    # requires numpy<2: installing it took numpy back to 1.26.4 (above)
    ("accelerate", "0.33.0"),
    # requires huggingface_hub<1, and transformers 5.6 huggingface_hub>=1.5: pip finds no environment
    ("tokenizers", "0.22.0"),
    # DDIMScheduler's options are not annotated Literal (0.36.0 annotates them), so assemble stored
    # --scheduler-option timestep_spacing=trailng and every generate of the folder failed on it
    ("diffusers", "0.35.2"),
    # a model folder part missing a weight was refused with diffusers' message, not one naming the part (0.30.0
    # and 0.31.0 too; 0.30.0 also failed the sharded fp16 weight tests)
    ("diffusers", "0.32.2"),
    # with the newest transformers (5.23: torch disabled before 2.6) and diffusers (0.42: torch.accelerator)
    # that pip installs beside it, nothing imported; 2.6.0 passes. 2.4.1's torch.serialization has neither
    # safe_globals nor get_unsafe_globals_in_checkpoint, which read a Lightning checkpoint (read, not run)
    ("torch", "2.5.1"),
]


@pytest.mark.parametrize(("name", "version"), TOO_OLD, ids=[" ".join(pin) for pin in TOO_OLD])
def test_dependency_ranges_leave_out_versions_that_fail(name, version):
    requirement = _requirement(name, pyproject()["project"]["dependencies"])
    assert not requirement.specifier.contains(version), f"{requirement} admits {version}"


# Imported only where asked for, behind an ImportError that says what to install (evaluate --flow raft).
OPTIONAL_IMPORTS = {"torchvision"}


def test_every_third_party_import_is_a_declared_dependency():
    # A module installed only as another dependency's dependency may go when that one changes its own.
    declared = {canonicalize_name(Requirement(text).name) for text in pyproject()["project"]["dependencies"]}
    providers = packages_distributions()
    undeclared = {}
    for path in sorted((Path(__file__).resolve().parents[1] / "src" / "streamt2v").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module]
            else:
                continue
            for top in {name.split(".")[0] for name in names}:
                if top in sys.stdlib_module_names or top == "streamt2v" or top in OPTIONAL_IMPORTS:
                    continue
                if not declared & {canonicalize_name(dist) for dist in providers.get(top, [top])}:
                    undeclared.setdefault(top, path.name)
    assert not undeclared, f"imported but not in pyproject's dependencies (module: a file): {undeclared}"


def test_absent_shipped_weights_are_told_how_a_pip_user_gets_them_back(tmp_path):
    # the only advice was `make train-microworld`: a Makefile an installed package does not have
    from streamt2v.assets import _need

    with pytest.raises(FileNotFoundError, match="reinstall streamt2v") as err:
        _need(tmp_path, "model_index.json", "microworld model")
    assert repr(str(tmp_path / "model_index.json")) in str(err.value)


def test_the_version_is_written_once():
    # pyproject's own version and __version__ could drift apart; the build reads the one in the package
    assert "version" not in pyproject()["project"] and "version" in pyproject()["project"]["dynamic"]
    assert pyproject()["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "streamt2v.__version__"}


def test_the_licence_the_metadata_declares_ships_with_it():
    root = Path(__file__).resolve().parents[1]
    assert pyproject()["project"]["license"] == "MIT" and pyproject()["project"]["license-files"] == [
        "LICENSE"
    ]
    assert (root / "LICENSE").read_text().startswith("MIT License\n")
