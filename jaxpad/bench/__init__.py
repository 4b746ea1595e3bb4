"""Benchmark harnesses that `import jaxpad` never loads.

`layers` (`jaxpad bench`) times single convolutions against the alternatives, `transpose`
its transposed-convolution section, `models` (`jaxpad bench --models`) whole models;
`timing` holds the timing helpers they share.
"""
