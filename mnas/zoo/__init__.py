"""The bundled zoo: network specs, block libraries and search spaces shipped inside the package,
so an installed mnas finds them without a source checkout. A bundled spec can be named without a
path (`meliusnet22`); the top-level `specs/` folder of a checkout is the same folder."""

from __future__ import annotations

from pathlib import Path

SPECS_DIR = Path(__file__).resolve().parent / "specs"
SPACES_DIR = SPECS_DIR / "spaces"
BLOCKS_DIR = SPECS_DIR / "blocks"


def names() -> list[str]:
    """Bundled network specs, by the name a command accepts."""
    return sorted(p.stem for p in SPECS_DIR.glob("*.yaml"))


def space_names() -> list[str]:
    return sorted(p.stem for p in SPACES_DIR.glob("*.yaml"))


def resolve_spec(name: str | Path) -> Path:
    """`name` as given when it is an existing file or looks like a path; otherwise the bundled
    spec of that name (`meliusnet22`, `meliusnet22.yaml`)."""
    path = Path(name)
    if path.exists() or len(path.parts) > 1:
        return path
    bundled = SPECS_DIR / (path.name if path.suffix == ".yaml" else f"{path.name}.yaml")
    return bundled if bundled.is_file() else path


def resolve_space(name: str | Path) -> Path:
    """A search space file, or the bundled space of that name (`meliusnet`)."""
    path = Path(name)
    if path.exists() or len(path.parts) > 1:
        return path
    bundled = SPACES_DIR / (path.name if path.suffix == ".yaml" else f"{path.name}.yaml")
    return bundled if bundled.is_file() else path
