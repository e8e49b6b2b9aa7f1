"""`python -m smsledger.infra.cli`: the same as the `smsledger` console script."""

from smsledger.infra.cli.main import console

console()
