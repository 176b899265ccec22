"""Periods written as a count and a unit ("30m", "6h", "1d", "1w"), for the configuration.
Standard library only: the configuration check imports it."""

from __future__ import annotations

import re

_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}


def period_seconds(period: str) -> int:
    """Seconds in ``period``; ValueError when it is not one."""
    match = re.fullmatch(r"\s*(\d+)\s*([smhdw])\s*", str(period).lower())
    if not match or int(match.group(1)) == 0:
        raise ValueError(f"{period!r} is not a period such as 30m, 6h, 1d or 1w")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]
