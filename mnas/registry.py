"""`Registry`: the extension points' shared table (samplers, objectives, training backends, data
sets, export formats). A name registered twice is a programming error; an unknown name is a
one-line error of the registry's own kind, with the closest known name suggested. A registry
whose entries live in the modules of a package imports them the first time it is read, so
adding an entry is adding a module."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator, Mapping
from typing import Generic, TypeVar

from mnas.errors import MnasError, suggest

T = TypeVar("T")


class Registry(Mapping[str, T], Generic[T]):
    """name -> entry (anything with a `name`). `error` and `unknown` make the error for a name
    not registered; `unknown` is a template of `{name}`, `{hint}` (the suggestion) and
    `{known}` (the names). `package`, when given, names the package whose modules register
    the entries."""

    def __init__(self, kind: str, error: type[MnasError] = MnasError,
                 unknown: str = "unknown {kind} '{name}'{hint}; choose from {known}",
                 package: str | None = None):
        self.kind, self.error, self.unknown, self.package = kind, error, unknown, package
        self._entries: dict[str, T] = {}
        self._loaded = package is None

    def register(self, entry: T) -> T:
        name = entry.name
        if name in self._entries:
            raise ValueError(f"{self.kind} '{name}' is registered twice")
        self._entries[name] = entry
        return entry

    def find(self, name: str) -> T:
        """The entry called `name`, or the registry's one-line error."""
        if name not in self:
            raise self.error(self.unknown.format(kind=self.kind, name=name,
                                                 hint=suggest(name, self),
                                                 known=", ".join(self)))
        return self._entries[name]

    def _load(self) -> None:
        if self._loaded:
            return
        package = importlib.import_module(self.package)
        for info in pkgutil.iter_modules(package.__path__):
            importlib.import_module(f"{self.package}.{info.name}")
        self._loaded = True

    def __getitem__(self, name: str) -> T:
        self._load()
        return self._entries[name]

    def __iter__(self) -> Iterator[str]:
        self._load()
        return iter(dict(self._entries))

    def __len__(self) -> int:
        self._load()
        return len(self._entries)
