"""Number formatting for reasons: short, exact enough to recompute by hand."""

from __future__ import annotations


def num(value: float) -> str:
    """0.4 -> '0.4', 0.0001 -> '1e-4', 0.000075 -> '7.5e-5', 12.8 -> '12.8'."""
    if value == 0:
        return "0"
    if 1e-3 <= abs(value) < 1e5:
        return f"{value:.4g}"
    mantissa, exponent = f"{value:.2e}".split("e")
    mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}e{int(exponent)}"


def round_sig(value: float, digits: int = 3) -> float:
    """Round to significant digits so values read as a person would write them."""
    return float(f"{value:.{digits}g}")
