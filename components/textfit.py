"""Text that must fit a figure: titles of panels and axes from dataset text (long timepoint names, 200-character
PARAMs). The whole text stays in the hovers, tables and exports; a figure shows it clipped with an ellipsis."""

from __future__ import annotations

import html

ELLIPSIS = "…"


def clip(text: str, n: int) -> str:
    """``text`` in at most ``n`` characters, cut at a word where one is near, with an ellipsis."""
    text = str(text)
    if len(text) <= n:
        return text
    cut = text[: max(1, n - 1)]
    space = cut.rfind(" ")
    if space > n * 0.6:
        cut = cut[:space]
    return cut.rstrip(" ·,;:-") + ELLIPSIS


def clip_lines(text: str, n: int, sep: str = "<br>") -> str:
    """Each line of a plotly title (lines separated by ``sep``) clipped to ``n`` characters."""
    return sep.join(clip(line, n) for line in str(text).split(sep))


def wrap(text: str, width: int, max_lines: int = 2) -> str:
    """Words on at most ``max_lines`` lines of ``width`` characters (plotly <br>), the last one clipped.
    ``text`` is plain (escaped here)."""
    lines, line = [], ""
    words = str(text).split()
    for k, word in enumerate(words):
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
            if len(lines) == max_lines - 1:
                line = " ".join(words[k:])
                break
        else:
            line = f"{line} {word}".strip()
    lines.append(clip(line, width))
    return "<br>".join(html.escape(x, quote=False) for x in lines)


def fit_title(title: str, n: int, sep: str = "<br>") -> str:
    """An axis title in lines of at most ``n`` characters: one long line is wrapped onto two; a line still too
    long is clipped before its trailing '(unit)', which is kept."""
    lines = str(title).split(sep)
    if len(lines) == 1 and len(lines[0]) > n:
        words, first = lines[0].split(" "), ""
        while words and len(f"{first} {words[0]}".strip()) <= n:
            first = f"{first} {words.pop(0)}".strip()
        lines = [first, " ".join(words)] if first and words else lines
    out = []
    for line in lines:
        if len(line) > n and line.endswith(")") and " (" in line:
            head, unit = line.rsplit(" (", 1)
            unit = f"({unit}"
            out.append(f"{clip(head, max(6, n - len(unit) - 1))} {unit}" if len(unit) < n - 6 else clip(line, n))
        else:
            out.append(clip(line, n))
    return sep.join(out)
