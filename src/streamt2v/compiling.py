"""``torch.compile`` of the networks a job calls many times (training steps, sampling steps).

Modules are compiled in place (:meth:`torch.nn.Module.compile`), so parameter names, state dicts,
checkpoints, the EMA and weight swaps are unchanged; only the forward is replaced by inductor kernels,
compiled once per input shape on the first call (seconds to minutes, shown as a slow first step).
Shapes are static (``dynamic=False``): a job's shapes repeat, and a specialised graph is the fastest.

On the CPU inductor writes C++ and runs one compiler, ``$CXX`` or else ``g++`` (no other: a machine with
only ``clang++`` failed deep inside the first call); without it :func:`check_compile_support` says so up
front, naming an installed one to set ``CXX`` to. ``cudagraphs`` records CUDA graphs: on another device torch
skips every graph with a warning, so it is refused there. Other backends
(``torch._dynamo.list_backends()``, e.g. ``aot_eager_decomp_partition``: inductor's tracing and
decompositions without its code generation) are accepted for debugging and tests; torch's own test
fixtures (``relu_compile_error_TESTING_ONLY``, ..., which fail on purpose), its minifier's backends and
the backends whose package is not installed (``tvm``, ``openxla``) are not (:func:`compile_backends`).
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import sys
from collections.abc import Iterable

import torch
from torch import nn

logger = logging.getLogger(__name__)

# C++ compilers a machine may have, named in the error when inductor's own is missing
CPU_COMPILERS = ("g++", "clang++", "c++")


def inductor_compiler_name() -> str:
    """The C++ compiler inductor's CPU backend runs: ``$CXX``, else ``g++`` (``clang++`` on macOS, ``cl`` on
    Windows), the default of ``torch._inductor.config.cpp.cxx``; it tries no other, even where one is
    installed. Read here rather than from that config, which reads ``$CXX`` once, when inductor is imported."""
    default = "cl" if sys.platform == "win32" else "clang++" if sys.platform == "darwin" else "g++"
    return os.environ.get("CXX", default)


def cpp_compiler() -> str | None:
    """The path of the C++ compiler inductor's CPU backend would run (:func:`inductor_compiler_name`), or None."""
    name = inductor_compiler_name()
    return shutil.which(name) if name else None


# torch registers these backends whether or not the package each one needs is installed, and they fail
# only on their first call without it: backend name -> the package's module name
BACKEND_PACKAGES = {"tvm": "tvm", "openxla": "torch_xla", "openxla_eval": "torch_xla"}


def missing_package(backend: str) -> str | None:
    """The package ``backend`` needs (:data:`BACKEND_PACKAGES`) when it is not installed, else None;
    looked up without importing it."""
    package = BACKEND_PACKAGES.get(backend)
    if package is None or package in sys.modules:
        return None
    try:
        found = importlib.util.find_spec(package) is not None
    except (ImportError, ValueError):  # a broken install counts as missing
        found = False
    return None if found else package


def _for_users(name: str) -> bool:
    # torch's test fixtures fail on purpose; the minifier's backends serve torch's bug reports; a backend
    # whose package is missing would fail on the first call
    return not name.endswith("_TESTING_ONLY") and "minifier" not in name and missing_package(name) is None


def compile_backends() -> tuple[list[str], list[str]]:
    """The ``torch.compile`` backends a job may be compiled with: those ``torch._dynamo.list_backends()``
    offers (``inductor``, ``cudagraphs``, ...; one registered by the user too), then the ones it tags for
    debugging or as experimental (``aot_eager``, ``aot_eager_decomp_partition``, ...), each sorted; torch's
    test fixtures (``relu_compile_error_TESTING_ONLY``, ...), minifier backends and those whose package is
    not installed (``tvm``, ``openxla``: :data:`BACKEND_PACKAGES`) left out."""
    import torch._dynamo

    offered = [name for name in torch._dynamo.list_backends() if _for_users(name)]
    others = [
        name
        for name in torch._dynamo.list_backends(exclude_tags=())
        if _for_users(name) and name not in offered
    ]
    return sorted(offered), sorted(others)


def check_compile_support(device: torch.device | str, backend: str = "inductor") -> None:
    """Raise ValueError for an unknown ``backend`` (one not in :func:`compile_backends`), RuntimeError
    (saying what is missing) if inductor cannot run on ``device``."""
    offered, others = compile_backends()
    if backend not in offered + others:
        package = missing_package(backend)
        what = (
            f"torch.compile backend {backend!r} needs the {package!r} package, which is not installed"
            if package
            else f"unknown torch.compile backend {backend!r}"
        )
        raise ValueError(
            f"{what}; choose one of {', '.join(offered)} "
            f"(or one of torch's debugging and experimental ones: {', '.join(others)})"
        )
    device = torch.device(device)
    if backend == "cudagraphs" and device.type != "cuda":
        raise ValueError(
            f"torch.compile backend 'cudagraphs' runs only on CUDA devices, not on {device.type!r}; "
            "choose inductor there, or run without compile"
        )
    # TORCH_INDUCTOR_INSTALL_GXX: torch installs g++ itself (with conda) when it finds none
    installs = sys.platform == "linux" and os.environ.get("TORCH_INDUCTOR_INSTALL_GXX")
    if backend == "inductor" and device.type == "cpu" and cpp_compiler() is None and not installs:
        name = inductor_compiler_name()
        wanted = f"$CXX ({name!r})" if "CXX" in os.environ else f"{name} (or the one $CXX names)"
        others = [found for found in map(shutil.which, CPU_COMPILERS) if found]
        fix = f"set CXX={others[0]}" if others else "install one (e.g. the build-essential package)"
        raise RuntimeError(
            f"compiling for the CPU needs a C++ compiler: inductor runs {wanted}, not found on PATH; "
            f"{fix} or run without compile"
        )


def compile_modules(
    modules: Iterable[nn.Module], device: torch.device | str, backend: str = "inductor"
) -> None:
    """Compile each module's forward in place with ``backend`` (module docstring), after checking it can run."""
    modules = list(modules)
    check_compile_support(device, backend)
    for module in modules:
        module.compile(backend=backend, dynamic=False)
    names = ", ".join(type(m).__name__ for m in modules)
    # nothing is compiled yet: said so, as the first steps then run silent for minutes on a CPU
    slow = " (minutes on a CPU with inductor's cache empty)" if torch.device(device).type == "cpu" else ""
    logger.info(
        "torch.compile of %s (%s backend, static shapes): each compiles on its first call, so the first "
        "steps are slow%s",
        names,
        backend,
        slow if backend == "inductor" else "",
    )
