"""The extension points share one `Registry`: a name registered twice is refused, an unknown
name is one line of the registry's own error naming the closest entry, and a registry whose
entries live in a package's modules finds them all without being told."""

from __future__ import annotations

import pytest

from mnas.errors import MnasError, StudyError
from mnas.export import FORMATS, ExportError
from mnas.registry import Registry
from mnas.search.objective import OBJECTIVES
from mnas.search.samplers import SAMPLERS
from mnas.train.backends import BACKENDS, BackendError
from mnas.train.datasets import DATASETS


@pytest.mark.parametrize("registry,error,wrong,prefix,known", [
    (SAMPLERS, StudyError, "tpee", "unknown sampler 'tpee' (did you mean 'tpe'?); choose from ",
     "refine, tpe, random, nsga2"),
    (OBJECTIVES, StudyError, "paretto",
     "unknown objective 'paretto' (did you mean 'pareto'?); choose from ", "proxy, pareto, train"),
    (BACKENDS, BackendError, "dpp",
     "--backend: unknown backend 'dpp' (did you mean 'ddp'?); choose from ", "local, ddp"),
    (FORMATS, ExportError, "onxx", "unknown export format 'onxx' (did you mean 'onnx'?); known: ",
     "onnx, packed, python, state-dict, torchscript, yaml"),
], ids=["samplers", "objectives", "backends", "export formats"])
def test_an_unknown_name_is_one_line_of_the_registrys_error(registry, error, wrong, prefix,
                                                            known):
    """Export formats register in the order their modules are first imported, so only their
    set is fixed; the others register in a written-out order."""
    with pytest.raises(error) as err:
        registry.find(wrong)
    text = str(err.value)
    assert text.startswith(prefix) and "\n" not in text
    listed = text[len(prefix):].split(", ")
    assert (sorted(listed) if registry is FORMATS else listed) == known.split(", ")


def test_package_registries_find_every_module_of_their_package():
    assert sorted(FORMATS) == ["onnx", "packed", "python", "state-dict", "torchscript", "yaml"]
    assert sorted(DATASETS) == ["cifar10", "cifar100", "digits", "folder", "synthetic"]


def test_a_name_registered_twice_is_refused():
    from dataclasses import dataclass

    @dataclass(frozen=True)
    class Entry:
        name: str

    registry: Registry[Entry] = Registry("widget")
    first = registry.register(Entry("a"))
    assert registry.find("a") is first and list(registry) == ["a"] and len(registry) == 1
    with pytest.raises(ValueError, match="widget 'a' is registered twice"):
        registry.register(Entry("a"))
    with pytest.raises(MnasError) as err:
        registry.find("b")
    assert str(err.value) == "unknown widget 'b'; choose from a"
