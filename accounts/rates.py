"""Request rates as the settings write them ("100/min"). Plain Python: the settings check
them when the process starts, before Django is ready."""

PERIODS = {
    "s": 1,
    "sec": 1,
    "second": 1,
    "m": 60,
    "min": 60,
    "minute": 60,
    "h": 3600,
    "hour": 3600,
    "d": 86400,
    "day": 86400,
}


def parse_rate(rate: str) -> tuple[int, int] | None:
    """ "100/min" -> (100, 60); "" or "off" -> None (no limit)."""
    rate = (rate or "").strip().lower()
    if rate in ("", "off", "none"):
        return None
    count, sep, period = rate.partition("/")
    if not sep or not count.isdecimal() or period not in PERIODS or int(count) < 1:
        raise ValueError(f"invalid rate {rate!r}: use N/s, N/min, N/hour or N/day, or 'off'")
    return int(count), PERIODS[period]
