"""The bundled zoo: network specs, block libraries and search spaces shipped inside the package,
so an installed mnas finds them without a source checkout, and the data other parts read: the
budget presets (`budgets.yaml`) and the results the paper reports (`paper_results.yaml`). A
bundled spec can be named without a path (`meliusnet22`); the top-level `specs/` folder of a
checkout is the same folder. Imports nothing of mnas (the spec reader imports this)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

ZOO_DIR = Path(__file__).resolve().parent
SPECS_DIR = ZOO_DIR / "specs"
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


def _read(name: str) -> Any:
    import yaml
    return yaml.safe_load((ZOO_DIR / name).read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def budget_presets() -> dict[str, tuple[str, dict[str, Any]]]:
    """Budget name -> (bundled spec file, overrides) of its reference network."""
    return {name: (f"{entry['spec']}.yaml", dict(entry.get("set") or {}))
            for name, entry in _read("budgets.yaml").items()}


@dataclass(frozen=True)
class PaperResult:
    """A network the paper trained with its recipe (a bundled spec with overrides), and the
    top-1 it reports."""

    name: str
    spec: str                       # file name in SPECS_DIR
    sets: tuple[tuple[str, Any], ...]
    top1: float
    source: str
    hand_designed: bool = False


@lru_cache(maxsize=1)
def paper_results() -> tuple[PaperResult, ...]:
    return tuple(PaperResult(e["name"], f"{e['spec']}.yaml",
                             tuple((k, v) for k, v in (e.get("set") or {}).items()),
                             float(e["top1"]), e["source"], bool(e.get("hand_designed")))
                 for e in _read("paper_results.yaml"))
