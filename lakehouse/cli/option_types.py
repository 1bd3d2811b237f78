"""Parameter types of the command line: durations (`90s`, `30m`, `1h30m`), UTC times,
and the Synapse views' string length."""

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


class StringLength(click.ParamType):
    """A varchar length of 1..8000 characters, or `max`."""

    name = "length"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> int | str:
        if isinstance(value, int):
            return value
        text = str(value).strip().lower()
        if text == "max":
            return "max"
        try:
            length = int(text)
        except ValueError:
            self.fail(f"{value!r} is not a number of characters or 'max'", param, ctx)
        if not 1 <= length <= 8000:
            self.fail(f"{length} is not in 1..8000 (use 'max' for longer strings)", param, ctx)
        return length


UTC_TIME = click.DateTime(["%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d"])
