"""Amounts, numbers, days and times as people of a language read them.

The shapes are CLDR's (through Babel), not ours: a Chinese screen reads ``¥1,234.00`` and
``2026年12月2日 10:30``, an English one ``CN¥1,234.00`` and ``Dec 2, 2026, 10:30 AM``.
Money is in the instance's currency (APPLOOM_CURRENCY, CNY unless set) and times are on
the business's clock (``clock.zone()``). These are texts for people only: exports, the
API and imports keep plain numbers and ISO times.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Final

from babel.dates import format_date, format_skeleton, format_time, get_datetime_format
from babel.numbers import format_currency, format_decimal, format_percent, is_currency

from apploom.engine import clock

DEFAULT_CURRENCY = "CNY"
LOCALES = {"zh": "zh_CN", "en": "en"}
DAY_FORMAT: Final = "medium"  # 2026年12月2日, Dec 2, 2026: no doubt which is the month
TIME_FORMAT: Final = "short"  # 10:30, 10:30 AM: minutes are what a shop reads
PERIODS = {"month": "yMMM", "quarter": "yQQQ", "year": "y"}  # CLDR skeletons: 2026年3月
_currency = [DEFAULT_CURRENCY]  # one business, one currency, per process


def use_currency(code: str) -> None:
    _currency[0] = code


def currency() -> str:
    return _currency[0]


def known_currency(code: str) -> bool:
    """Whether ``code`` is an ISO 4217 currency CLDR knows (CNY, HKD, USD...)."""
    return is_currency(code)


def locale(lang: str) -> str:
    """The CLDR locale of a screen language; an unknown one reads as English."""
    return LOCALES.get(lang, "en")


def money(amount: Decimal | int | str, lang: str) -> str:
    """An amount in the instance's currency, with its sign and its decimal places."""
    return format_currency(Decimal(amount), currency(), locale=locale(lang))


def number(value: Decimal | int | str, lang: str) -> str:
    """A number with the language's grouping, keeping every decimal it has."""
    return format_decimal(Decimal(value), locale=locale(lang), decimal_quantization=False)


def percent(points: Decimal | int | str, lang: str) -> str:
    """A percentage given in points (12.5 reads 12.5%)."""
    ratio = Decimal(points) / 100
    return format_percent(ratio, locale=locale(lang), decimal_quantization=False)


def day(value: date | str, lang: str) -> str:
    if isinstance(value, str):
        value = date.fromisoformat(value)
    return format_date(value, DAY_FORMAT, locale=locale(lang))


def moment(value: datetime | str, lang: str) -> str:
    """A moment (naive ones are UTC; ISO text too) on the business's clock."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    local = clock.local(value)
    where = locale(lang)
    joined = str(get_datetime_format(DAY_FORMAT, locale=where))
    # CLDR's pattern: {1} the day, {0} the time
    return joined.replace("{1}", day(local.date(), lang)).replace(
        "{0}", format_time(local.time(), TIME_FORMAT, locale=where)
    )


def period(key: str, bucket: str, lang: str) -> str:
    """A report bucket's key (2026-03-02, 2026-03, 2026-Q1, 2026) as the language names
    the period: 2026年3月, Mar 2026, Q1 2026; a week by the day it starts."""
    if bucket in ("day", "week"):
        return day(key, lang)
    year, _, part = key.partition("-")
    month = (int(part[1:]) - 1) * 3 + 1 if part.startswith("Q") else int(part or 1)
    return format_skeleton(PERIODS[bucket], date(int(year), month, 1), locale=locale(lang))
