import sys

from jaxpad.bench.layers import main

sys.exit(main(sys.argv[1:]))
