"""Benchmark harnesses that `import jaxpad` never loads: `jaxpad bench --models` (`models`)."""
