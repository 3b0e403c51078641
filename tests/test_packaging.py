"""What a user who pip-installs streamt2v (a wheel or the sdist, into an environment of their own) gets:
pyproject.toml's requirements, read as the installer and the build backend read them. Nothing is built
here; the versions named below were measured by building and running the package with them."""

from __future__ import annotations

from pathlib import Path

import pytest
from packaging.requirements import Requirement

tomllib = pytest.importorskip("tomllib")  # Python 3.11
PYPROJECT = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())


def _requirement(name: str, requirements: list[str]) -> Requirement:
    found = [Requirement(text) for text in requirements if Requirement(text).name.lower() == name]
    assert len(found) == 1, f"{name!r} is required {len(found)} times in {requirements}"
    return found[0]


def test_build_backend_reads_the_license_expression():
    # project.license as an SPDX string (PEP 639) is refused by setuptools before 77.0.3 ("`project.license`
    # must be valid exactly by one definition"; 76.1.0 measured), so a build without isolation, or with an
    # older setuptools pinned, failed although the requirement was met.
    assert isinstance(PYPROJECT["project"]["license"], str)
    setuptools = _requirement("setuptools", PYPROJECT["build-system"]["requires"])
    assert not setuptools.specifier.contains("76.1.0"), setuptools
    assert setuptools.specifier.contains("77.0.3"), setuptools
