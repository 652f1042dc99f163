"""One table of the report (:class:`Table`: strings plus which cells are best), rendered to Markdown, HTML,
LaTeX or a terminal by the same code, so the formats never disagree; and the number format every table uses.
The tables themselves are built in ``_tables`` (and ``_cost``, ``_tuning``, ``_two_stage``)."""

from __future__ import annotations

import dataclasses
import html
import math
from typing import Any


#: marks of a value significantly above / below the baseline
UP, DOWN = "▲", "▼"


def significance_mark(difference: float, p: float, alpha: float) -> str:
    """▲/▼ for a significant difference (``p`` below ``alpha``) by its sign; "" otherwise or untested (NaN)."""
    return "" if math.isnan(p) or p >= alpha else (UP if difference > 0 else DOWN)

_MARKDOWN_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\\": "\\\\", "`": "\\`", "[": "\\[", "]": "\\]",
                                   "|": "\\|", "\n": " ", "\r": " "})


def markdown_text(text: str) -> str:
    """``text`` as literal Markdown: what a renderer would run or follow (HTML tags, links and images, code
    spans, a table's cell separator, line breaks) is escaped, so a label from a config shows as written."""
    return str(text).translate(_MARKDOWN_ESCAPES)


#: model parameters that decide how a model uses item content (tables group variants by them)
CONTENT_PARAMS = ("content", "item_features", "item_identity")


@dataclasses.dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[list[str]]
    bold: set[tuple[int, int]] = dataclasses.field(default_factory=set)
    note: str = ""
    #: columns besides the first that are text (left-aligned in a terminal)
    left: set[str] = dataclasses.field(default_factory=set)

    def to_markdown(self) -> str:
        esc = markdown_text
        lines = [f"### {esc(self.title)}", "", "| " + " | ".join(map(esc, self.columns)) + " |", "|" + "---|" * len(self.columns)]
        for r, row in enumerate(self.rows):
            cells = [f"**{esc(v)}**" if (r, c) in self.bold else esc(v) for c, v in enumerate(row)]
            lines.append("| " + " | ".join(cells) + " |")
        if self.note:
            lines += ["", esc(self.note)]
        return "\n".join(lines) + "\n"

    def to_html(self) -> str:
        head = "".join(f"<th>{html.escape(c)}</th>" for c in self.columns)
        body = []
        for r, row in enumerate(self.rows):
            cells = "".join(
                f"<td><b>{html.escape(v)}</b></td>" if (r, c) in self.bold else f"<td>{html.escape(v)}</td>"
                for c, v in enumerate(row)
            )
            body.append(f"<tr>{cells}</tr>")
        note = f'<p class="note">{html.escape(self.note)}</p>' if self.note else ""
        return f"<h3>{html.escape(self.title)}</h3><table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>{note}"

    def to_rich(self) -> Any:
        """The table for a terminal (``rich``): the title above, best values in bold (the note is the caller's
        to print: a caption would wrap to the table's width)."""
        from rich.table import Table as RichTable

        table = RichTable(title=self.title)
        for c, column in enumerate(self.columns):
            table.add_column(column, justify="left" if c == 0 or column in self.left else "right", overflow="fold")
        for r, row in enumerate(self.rows):
            table.add_row(*[f"[bold]{_rich_escape(v)}[/bold]" if (r, c) in self.bold else _rich_escape(v) for c, v in enumerate(row)])
        return table

    def to_latex(self) -> str:
        def esc(v: str) -> str:
            v = v.replace("\\", "\\textbackslash{}").replace("&", "\\&").replace("%", "\\%").replace("_", "\\_")
            v = v.replace("#", "\\#").replace("±", "$\\pm$").replace(UP, "$^\\blacktriangle$").replace(DOWN, "$^\\blacktriangledown$")
            return v

        lines = [
            "\\begin{table}[t]", "\\centering", f"\\caption{{{esc(self.title)}}}",
            "\\begin{tabular}{l" + "r" * (len(self.columns) - 1) + "}", "\\toprule",
            " & ".join(esc(c) for c in self.columns) + " \\\\", "\\midrule",
        ]  # fmt: skip
        for r, row in enumerate(self.rows):
            cells = [f"\\textbf{{{esc(v)}}}" if (r, c) in self.bold else esc(v) for c, v in enumerate(row)]
            lines.append(" & ".join(cells) + " \\\\")
        lines += ["\\bottomrule", "\\end{tabular}", "\\end{table}"]
        return "\n".join(lines) + "\n"


def _rich_escape(value: str) -> str:
    from rich.markup import escape

    return escape(value)


def fmt(x: float | None, digits: int = 4) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"
