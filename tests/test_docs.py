"""Every public function carries a runnable example, and the examples pass."""

from __future__ import annotations

import doctest
import inspect

import pytest

import jaxpad
from jaxpad import _conv, _pad, _padding


@pytest.mark.parametrize("module", [_padding, _pad, _conv])
def test_doctests(module):
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0 and result.attempted > 0


@pytest.mark.parametrize("name", [n for n in jaxpad.__all__ if callable(getattr(jaxpad, n))])
def test_public_functions_document_args_returns_and_an_example(name):
    doc = inspect.getdoc(getattr(jaxpad, name))
    assert ">>>" in doc and "Args:" in doc and "Returns:" in doc
