"""Padding specs -> (lo, hi) pairs, and output shapes."""

from __future__ import annotations

import itertools
import math

import jax.numpy as jnp
import pytest
from hypothesis import given
from hypothesis import strategies as st
from reference import tf_same

import jaxpad
from jaxpad import _padding

GRID = list(itertools.product(range(1, 13), range(1, 7), range(1, 4), range(1, 4)))


@pytest.mark.parametrize("size, k, stride, dilation", GRID)
def test_same_matches_tf_formula(size, k, stride, dilation):
    assert jaxpad.same_padding(size, k, stride, dilation) == (tf_same(size, k, stride, dilation),)
    lo, hi = tf_same(size, k, stride, dilation)
    assert jaxpad.same_padding(size, k, stride, dilation, lower=True) == ((hi, lo),)
    assert jaxpad.resolve_padding("SAME", (size,), k, stride, dilation) == ((lo, hi),)
    out = jaxpad.conv_output_shape(size, k, stride, "same", dilation)
    assert out == (math.ceil(size / stride),)


@given(
    shape=st.lists(st.integers(1, 40), min_size=1, max_size=3),
    data=st.data(),
)
def test_same_output_is_ceil_for_random_configs(shape, data):
    n = len(shape)
    k = data.draw(st.lists(st.integers(1, 9), min_size=n, max_size=n))
    s = data.draw(st.lists(st.integers(1, 4), min_size=n, max_size=n))
    d = data.draw(st.lists(st.integers(1, 4), min_size=n, max_size=n))
    for spec in ("same", "same_lower"):
        pads = jaxpad.resolve_padding(spec, shape, k, s, d)
        assert jaxpad.conv_output_shape(shape, k, s, pads, d) == tuple(
            math.ceil(i / si) for i, si in zip(shape, s)
        )
        # Minimal: one pixel less in total would lose an output unless no padding was needed.
        for (lo, hi), i, ki, si, di in zip(pads, shape, k, s, d):
            assert 0 <= hi - lo <= 1 if spec == "same" else 0 <= lo - hi <= 1
            if lo + hi:
                assert (i + lo + hi - 1 - di * (ki - 1) - 1) // si + 1 < math.ceil(i / si)


@pytest.mark.parametrize("k, dilation", [(1, 1), (3, 1), (4, 1), (3, 2), (16, 1), (5, 3)])
def test_rules_of_effective_kernel_size(k, dilation):
    eff = dilation * (k - 1) + 1
    assert jaxpad.effective_kernel_size(k, dilation) == eff
    assert jaxpad.resolve_padding("valid", (9,), k, dilation=dilation) == ((0, 0),)
    assert jaxpad.resolve_padding("causal", (9,), k, dilation=dilation) == ((eff - 1, 0),)
    assert jaxpad.resolve_padding("full", (9,), k, dilation=dilation) == ((eff - 1, eff - 1),)


def test_explicit_specs():
    assert jaxpad.resolve_padding(2, (5, 6), 3) == ((2, 2), (2, 2))
    assert jaxpad.resolve_padding((1, 2), (5, 6), 3) == ((1, 1), (2, 2))
    assert jaxpad.resolve_padding([(0, 1), (2, 3)], (5, 6), 3) == ((0, 1), (2, 3))
    assert jaxpad.resolve_padding([(0, 1), 3], (5, 6), 3) == ((0, 1), (3, 3))


def test_conv_output_shape_formula():
    for i, k, s, lo, hi, d in itertools.product(range(1, 9), range(1, 4), range(1, 4),
                                                 range(3), range(3), range(1, 3)):
        expected = math.floor((i + lo + hi - d * (k - 1) - 1) / s) + 1
        if expected < 1:
            with pytest.raises(ValueError, match="output would be empty"):
                jaxpad.conv_output_shape(i, k, s, [(lo, hi)], d)
        else:
            assert jaxpad.conv_output_shape(i, k, s, [(lo, hi)], d) == (expected,)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(padding="mirror"), ValueError, r"`padding` must be one of 'same', .* got 'mirror'"),
        (dict(padding=(1, 2, 3)), ValueError, r"`padding` must be .* 2 ints .* length 3"),
        (dict(padding=[(1, 2, 3), 1]), ValueError, r"`padding` entries must be \(lo, hi\)"),
        (dict(padding=-1), ValueError, r"`padding` must be >= 0 .* got -1"),
        (dict(padding=1.5), TypeError, r"`padding` must be an int; got 1.5"),
        (dict(padding=True), TypeError, r"`padding` must be an int; got the bool True"),
        (dict(kernel_size=0), ValueError, r"`kernel_size` must be >= 1 .* got 0"),
        (dict(kernel_size=(3, 3, 3)), ValueError,
         r"`kernel_size` must be an int or a sequence of 2"),
        (dict(stride=0), ValueError, r"`stride` must be >= 1 .* got 0"),
        (dict(dilation=(1, -1)), ValueError, r"`dilation` must be >= 1 .* got \(1, -1\)"),
        (dict(input_shape=()), ValueError, r"`input_shape` must name at least one spatial axis"),
        (dict(input_shape=(4, -1)), ValueError, r"`input_shape` must hold sizes >= 0"),
    ],
)
def test_errors(kwargs, error, match):
    args = dict(padding="same", input_shape=(5, 6), kernel_size=3, stride=1, dilation=1)
    args.update(kwargs)
    with pytest.raises(error, match=match):
        jaxpad.resolve_padding(**args)


def test_empty_output_error():
    with pytest.raises(ValueError, match=r"spatial axis 1 has size 2, padding \(0, 0\) and "
                                         r"effective kernel size 5"):
        jaxpad.conv_output_shape((9, 2), 3, 1, "valid", 2)


@pytest.mark.parametrize("record", _padding.MODE_RECORDS, ids=lambda m: m.name)
def test_each_mode_record_describes_its_mode(record):
    """The picture is what `pad` does, the aliases name the mode, every list derives from
    the records."""
    row = jnp.arange(1.0, 5.0)
    left, middle, right = record.picture.split(" | ")
    got = jaxpad.pad(row, 2, record.name, value=9.0).tolist()
    expected = [9.0 if v == "v" else float(v) for v in f"{left} {middle} {right}".split()]
    assert got == expected
    for alias in record.aliases:
        assert jaxpad.pad(row, 2, alias.upper(), value=9.0).tolist() == expected
    assert (record.name in _padding.TRANSPOSE_MODES) == record.transposable
    assert record.name in jaxpad.MODES
    assert record.fills == (record.source is None)


def test_a_pad_reads_what_its_record_says():
    """`Mode.reads(width)`: how many elements at one end a pad of `width` there reaches."""
    for record in _padding.MODE_RECORDS:
        for width in range(5):
            if record.fills or width == 0:
                assert record.reads(width) == 0
                continue
            read = [_padding.source_index(j, 9, record.name) for j in range(-width, 0)]
            if record.name == "circular":  # from the other end
                read = [9 - 1 - i for i in read]
            assert max(read) + 1 == record.reads(width), (record.name, width)
