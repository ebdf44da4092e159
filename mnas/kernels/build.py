"""Compile `binary.cpp` into a PyTorch extension on first use and load it.

The build goes to a cache folder named after a hash of the source, the flags and the torch
and Python versions, so it happens once per machine and version (a few seconds with gcc),
and a loaded build is reused without calling the compiler again. `MNAS_KERNELS_CACHE` moves
the folder (default: $XDG_CACHE_HOME/mnas/kernels, else ~/.cache/mnas/kernels). Where
compiling is impossible (no compiler, no ninja), `load()` says why and the callers use the
pure-PyTorch path (`mnas.kernels.reference`), which gives the same results, slowly."""

from __future__ import annotations

import functools
import hashlib
import os
import platform
import shutil
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

SOURCE = Path(__file__).with_name("binary.cpp")
# -ffp-contract=off: scale and bias are applied as a separate multiply and add, exactly as
# the float simulation rounds them; -fopenmp: at::parallel_for runs on torch's OpenMP threads
CFLAGS = ("-O3", "-fopenmp", "-ffp-contract=off")
LDFLAGS = ("-fopenmp",)


@dataclass(frozen=True)
class Build:
    """Whether the compiled kernels are loaded, and where from or why not."""

    loaded: bool
    detail: str


def cache_root() -> Path:
    if os.environ.get("MNAS_KERNELS_CACHE"):
        return Path(os.environ["MNAS_KERNELS_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "mnas" / "kernels"


def build_key() -> str:
    import torch
    digest = hashlib.sha256(SOURCE.read_bytes())
    for part in (*CFLAGS, *LDFLAGS, torch.__version__, sys.version, platform.machine()):
        digest.update(part.encode())
    return digest.hexdigest()[:16]


def _find_ninja() -> None:
    """torch runs `ninja` from PATH; the `ninja` package installs it next to the
    interpreter, which is not on PATH when the venv is not activated."""
    if shutil.which("ninja") is None:
        try:
            import ninja
        except ImportError:
            return
        os.environ["PATH"] = ninja.BIN_DIR + os.pathsep + os.environ.get("PATH", "")


@functools.lru_cache(maxsize=1)
def load() -> Build:
    """Build (if needed) and load the extension once per process; never raises."""
    import torch
    if os.environ.get("MNAS_KERNELS", "").lower() == "torch":
        return Build(False, "MNAS_KERNELS=torch asks for the pure-PyTorch path")
    key = build_key()
    name = f"mnas_kernels_{key}"
    folder = cache_root() / key
    library = folder / f"{name}.so"
    try:
        try:
            torch.ops.load_library(str(library))
        except OSError:     # not built yet (or half written by another process: rebuild)
            from torch.utils import cpp_extension
            _find_ninja()
            folder.mkdir(parents=True, exist_ok=True)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                cpp_extension.load(name=name, sources=[str(SOURCE)], build_directory=str(folder),
                                   extra_cflags=list(CFLAGS), extra_ldflags=list(LDFLAGS),
                                   is_python_module=False, verbose=False)
    except Exception as err:   # compiler, ninja or loader failures of every kind
        lines = [line.strip() for line in str(err).splitlines() if line.strip()]
        errors = [line for line in lines if "error" in line.lower() or "not found" in line]
        line = (errors or lines or [""])[-1 if errors else 0]
        detail = f"{type(err).__name__}: {line[:200]}"
        return Build(False, f"could not build the kernels in {folder} ({detail})")
    return Build(True, str(library))


if __name__ == "__main__":       # `python -m mnas.kernels.build`: build now (setup.sh)
    build = load()
    print(f"mnas kernels: {'built: ' if build.loaded else 'NOT built: '}{build.detail}")
    sys.exit(0 if build.loaded else 1)
