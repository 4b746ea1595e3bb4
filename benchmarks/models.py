"""The whole-model benchmark from a checkout: `python -m benchmarks.models [--quick]`.

The suite lives in `jaxpad.bench.models` so that `jaxpad bench --models` also runs it
wherever jaxpad is installed; see that module for what it measures.
"""

import sys

from jaxpad.bench.models import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
