import sys

from jaxpad._bench import main

sys.exit(main(sys.argv[1:]))
