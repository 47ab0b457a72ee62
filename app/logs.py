"""One structlog setup for every process: on a terminal, readable lines; otherwise (a
service manager, a container, a file) one JSON object per line, which log collectors
parse without guessing. Either way a UTC timestamp, the request id bound for the request
or the job, and tracebacks without local variables (they may hold passwords and tokens).

PUMICE_LOG_FORMAT chooses: `auto` (the default: JSON unless stderr is a terminal),
`json` or `console`."""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

import structlog

FORMATS = ("auto", "json", "console")


def configure_logging(level: str = "info", log_format: str | None = None) -> None:
    chosen = (log_format or os.environ.get("PUMICE_LOG_FORMAT") or "auto").lower()
    if chosen not in FORMATS:
        print(
            f"PUMICE_LOG_FORMAT={chosen!r} is none of {', '.join(FORMATS)}: using auto",
            file=sys.stderr,
        )
        chosen = "auto"
    terminal = sys.stderr.isatty()
    renderer: list[Any]
    if chosen == "json" or (chosen == "auto" and not terminal):
        renderer = [
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(sort_keys=False),
        ]
    else:
        renderer = [
            structlog.dev.ConsoleRenderer(
                colors=terminal, exception_formatter=structlog.dev.plain_traceback
            )
        ]
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            *renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
