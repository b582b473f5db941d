import sys

from motif_tune.cli import main

sys.exit(main())
