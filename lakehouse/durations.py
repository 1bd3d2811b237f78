"""Durations on the command line: `90s`, `30m`, `1h`, `1d`, or combinations like `1h30m`."""

from __future__ import annotations

import re
from datetime import timedelta

import click

_PART = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_duration(text: str) -> timedelta:
    parts = _PART.findall(text.strip().lower())
    if not parts or "".join(n + u for n, u in parts) != text.strip().lower():
        raise ValueError(f"{text!r} is not a duration like 90s, 30m, 1h or 1h30m")
    return sum((timedelta(**{_UNITS[u]: float(n)}) for n, u in parts), timedelta())


class Duration(click.ParamType):
    name = "duration"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> timedelta:
        if isinstance(value, timedelta):
            return value
        try:
            return parse_duration(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)
