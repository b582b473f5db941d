"""How the program prints things: numbers, aligned tables, one-line messages, paths."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def fmt(value: Any) -> str:
    """A value as the program prints it: ``-`` for none, 4 significant digits for floats
    from 1 on, 3 decimals below (3 significant digits under 0.01: a learning rate)."""
    if value is None:
        return "-"
    if isinstance(value, float):
        if value.is_integer() and abs(value) >= 1:
            return f"{value:.0f}"
        if abs(value) >= 1:
            return f"{value:.4g}"
        return f"{value:.3f}" if value == 0 or abs(value) >= 0.01 else f"{value:.3g}"
    return str(value)


def text_table(rows: list[tuple[str, ...]]) -> list[str]:
    """Rows of cells as aligned lines, indented by two spaces (the first row: headers)."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


def one_line(err: BaseException | str, limit: int = 200) -> str:
    """A message on one line, cut to ``limit`` characters."""
    text = " ".join(str(err).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def relative(path: str | Path) -> str:
    """``path`` relative to the working folder when it lies below it, else as it is."""
    path = Path(path)
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def plural(count: int, noun: str) -> str:
    """``count`` and ``noun``, with an s unless the count is one: 1 seed, 3 seeds."""
    return f"{count} {noun}{'s' if count != 1 else ''}"


def listing(items: list[str]) -> str:
    """Items in words: ``a``, ``a and b``, ``a, b and c``."""
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"
