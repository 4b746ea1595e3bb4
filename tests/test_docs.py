"""Every public function carries a runnable example, and the examples pass."""

from __future__ import annotations

import doctest
import importlib
import inspect

import pytest

import jaxpad
from jaxpad import _conv, _conv_transpose, _dilated, _layers, _pad, _padding, _pool
from jaxpad.bench import models as bench_models

# The submodules; the Flax and Equinox layers and the PyTorch converters need optional
# dependencies.
OPTIONAL = {"jaxpad.linen": ["flax"], "jaxpad.nnx": ["flax"], "jaxpad.equinox": ["equinox"],
            "jaxpad.interop": ["flax", "torch", "equinox"], "jaxpad.sharded": [],
            "jaxpad.streaming": []}


def _optional(name):
    for dependency in OPTIONAL[name]:
        pytest.importorskip(dependency, reason=f"{dependency} is not installed: {name} skipped")
    return importlib.import_module(name)


@pytest.mark.parametrize(
    "module", [_padding, _pad, _conv, _conv_transpose, _pool, _dilated, _layers, bench_models]
)
def test_doctests(module):
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0 and result.attempted > 0


@pytest.mark.parametrize("name", list(OPTIONAL))
def test_doctests_of_the_optional_modules(name):
    module = _optional(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0 and result.attempted > 0


@pytest.mark.parametrize("name", [n for n in jaxpad.__all__ if callable(getattr(jaxpad, n))])
def test_public_functions_document_args_returns_and_an_example(name):
    doc = inspect.getdoc(getattr(jaxpad, name))
    assert ">>>" in doc and "Args:" in doc and "Returns:" in doc


@pytest.mark.parametrize("name", list(OPTIONAL))
def test_every_public_name_of_the_optional_modules_has_a_passing_example(name):
    module = _optional(name)
    finder, runner = doctest.DocTestFinder(), doctest.DocTestRunner(
        optionflags=doctest.NORMALIZE_WHITESPACE)
    for public in module.__all__:
        obj = getattr(module, public)
        doc = inspect.getdoc(obj)
        assert ">>>" in doc, public
        assert ("Args:" in doc or "Attributes:" in doc) and "Raises:" in doc, public
        if inspect.isfunction(obj):
            assert "Returns:" in doc, public
        tests = [t for t in finder.find(obj, public) if t.examples]
        assert tests, public
        for test in tests:
            runner.run(test)
    assert runner.summarize(verbose=False).failed == 0
