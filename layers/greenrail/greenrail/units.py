"""Numbers as people read them: never ``3.809e-05``.

``usd``: dollars and cents (``1,234.50``), a fraction of a cent written out to four significant
digits (``0.00003809``). ``plain``: a quantity (kWh, kgCO2e) to four significant digits, without
an exponent (``0.0001234``, ``12.35``, ``1,235``).
"""

from __future__ import annotations

import math


def plain(value: float, significant: int = 4) -> str:
    if value == 0 or not math.isfinite(value):
        return f"{value:g}"
    magnitude = math.floor(math.log10(abs(value)))
    decimals = max(0, significant - 1 - magnitude)
    text = f"{value:,.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def usd(value: float) -> str:
    if value == 0 or not math.isfinite(value) or abs(value) >= 0.01:
        return f"{value:,.2f}"
    return plain(value)
