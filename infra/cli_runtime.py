"""Command-line commands of the distributed runtime and the benchmark."""

from __future__ import annotations

import argparse
from typing import Any


def add_runtime_commands(sub: Any, common: argparse.ArgumentParser, command: Any) -> None:
    """Registered as the runtime's modules land; see `infra.cli`."""
