"""The --log-level and --log-format options every command has, and the logging they set up."""

from __future__ import annotations

import argparse

from smsledger.infra.observability.logs import FORMATS, LEVELS, configure_logging
from smsledger.infra.settings import Settings


def add_log_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--log-level", choices=LEVELS,
                        help="what is logged on stderr (env SMSLEDGER_LOG_LEVEL; default info)")
    parser.add_argument("--log-format", choices=FORMATS,
                        help="text, or json: one object per line with time, level, component"
                        " and fields (env SMSLEDGER_LOG_FORMAT; default text)")


def configure_from(args: argparse.Namespace, settings: Settings) -> None:
    configure_logging(getattr(args, "log_level", None) or settings.log_level,
                      getattr(args, "log_format", None) or settings.log_format)
