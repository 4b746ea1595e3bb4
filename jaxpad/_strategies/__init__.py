"""The registry of strategies: equivalent computations of one operation.

Each strategy lives in its own module and computes the same numbers as its
operation's reference; `impl=` names one, and `jaxpad._policy` chooses among
them for `impl='auto'`, per platform. Adding a strategy means one record here,
its module, and its parity tests (`tests/test_strategies.py`).
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Strategy:
    """One way to compute an operation.

    Attributes:
      name: its `impl=` value.
      op: the operation: 'conv', 'conv_transpose', 'max_pool' or 'avg_pool'.
      module: where it lives.
      applies: the configurations it takes; the others fall back to the reference.
    """

    name: str
    op: str
    module: str
    applies: str


STRATEGIES = (
    Strategy("pad", "conv", "jaxpad._strategies.pad_first",
             "every convolution (the reference): pads in the modes, then convolves"),
    Strategy("frame", "conv", "jaxpad._frame",
             "every mode but 'constant': the zero-padded convolution plus the border frame"),
    Strategy("phases", "conv_transpose", "jaxpad._strategies.phases",
             "every transposed convolution (the reference): one convolution per phase"),
    Strategy("routes", "conv_transpose", "jaxpad._strategies.routes",
             "every transposed convolution: the phases, with XLA:CPU's overlap-add, zero "
             "taps, patch-product and strided-conv derivatives where each applies"),
    Strategy("pad", "max_pool", "jaxpad._pool",
             "every max pool (the reference): lax's window reduction over the padding"),
    Strategy("pad", "avg_pool", "jaxpad._pool",
             "every average pool (the reference): pads in the mode, then sums windows"),
)


def strategy_names(op: str) -> tuple[str, ...]:
    """The names of `op`'s strategies, in registry order."""
    return tuple(s.name for s in STRATEGIES if s.op == op)


def impls(op: str) -> tuple[str, ...]:
    """The `impl=` values `op` takes: 'auto' (`jaxpad._policy`'s choice) and its strategies."""
    return ("auto", *strategy_names(op))


def check_impl(op: str, impl: object) -> None:
    """Raises ValueError unless `impl` is one of `impls(op)`."""
    allowed = impls(op)
    if impl not in allowed:
        raise ValueError(
            f"`impl` of {op} must be one of {', '.join(map(repr, allowed))}; got {impl!r}.")
