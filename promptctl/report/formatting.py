"""Number and text formatting shared by every report format."""

from __future__ import annotations


def trim(text: str | None, width: int = 120) -> str:
    if text is None:
        return ""
    one = " ".join(text.split())
    return one if len(one) <= width else one[: width - 1] + "…"


def fmt_cost(cost: float | None) -> str:
    return "unknown" if cost is None else usd(cost)


def fmt_ms(ms: float | None) -> str:
    return "-" if ms is None else (f"{ms:.0f} ms" if ms < 10_000 else f"{ms / 1000:.1f} s")


def fmt_rate(rate: float | None) -> str:
    return "-" if rate is None else f"{rate * 100:.1f}%"


def md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def num(v: float | None, fmt: str = "{:+.3f}") -> str:
    return "-" if v is None else fmt.format(v)


def pct(v: float | None, signed: bool = False) -> str:
    return "-" if v is None else (f"{v * 100:+.1f} pt" if signed else f"{v * 100:.1f}%")


def usd(v: float | None, signed: bool = False) -> str:
    digits = 4 if v is None or abs(v) >= 0.01 or v == 0 else 6  # test suites often cost fractions of a cent
    return "-" if v is None else (f"{v:+.{digits}f}" if signed else f"${v:.{digits}f}")


def ms(v: float | None, signed: bool = False) -> str:
    return "-" if v is None else (f"{v:+.0f} ms" if signed else f"{v:.0f} ms")
