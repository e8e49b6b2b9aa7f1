"""`python -m smsledger.infra.cli`: the same as the `smsledger` console script."""

import sys

from smsledger.infra.cli.main import main

sys.exit(main())
