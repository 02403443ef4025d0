"""A report made of sections — text, tables, figures — rendered to Markdown and to HTML.

The HTML file is self-contained: figures are embedded as base64 PNG.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Table:
    """A table: header cells and rows of already formatted cells."""

    header: list[str]
    rows: list[list[str]]


@dataclass
class Section:
    """One part of a report: a title, paragraphs, tables and figures (PNG paths)."""

    title: str
    paragraphs: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    figures: list[Path] = field(default_factory=list)


def to_markdown(title: str, intro: list[str], sections: list[Section], base: Path) -> str:
    """Markdown with figures linked relative to ``base`` (the report's folder)."""
    out = [f"# {title}", "", *[p + "\n" for p in intro]]
    for s in sections:
        out += [f"## {s.title}", ""]
        out += [p + "\n" for p in s.paragraphs]
        for t in s.tables:
            out.append("| " + " | ".join(t.header) + " |")
            out.append("|" + "---|" * len(t.header))
            out += ["| " + " | ".join(r) + " |" for r in t.rows]
            out.append("")
        for f in s.figures:
            rel = f.relative_to(base) if f.is_relative_to(base) else f
            out += [f"![{f.stem}]({rel.as_posix()})", ""]
    return "\n".join(out).rstrip() + "\n"


_CSS = """
body{font-family:system-ui,sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;
line-height:1.45;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:90%}
th,td{border:1px solid #ccc;padding:4px 8px;text-align:right}
th{background:#f3f3f3} td:first-child,th:first-child{text-align:left}
img{max-width:100%;margin:0.5em 0;border:1px solid #eee} code{background:#f3f3f3;padding:1px 3px}
"""


def _inline(text: str) -> str:
    """Escape, then render `code` and **bold** spans."""
    escaped = html.escape(text)
    parts = escaped.split("`")
    escaped = "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))
    parts = escaped.split("**")
    return "".join(f"<strong>{p}</strong>" if i % 2 else p for i, p in enumerate(parts))


def to_html(title: str, intro: list[str], sections: list[Section]) -> str:
    """A self-contained HTML page: figures embedded as base64 PNG."""
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        *[f"<p>{_inline(p)}</p>" for p in intro],
    ]
    for s in sections:
        out.append(f"<h2>{html.escape(s.title)}</h2>")
        out += [f"<p>{_inline(p)}</p>" for p in s.paragraphs]
        for t in s.tables:
            out.append("<table><tr>" + "".join(f"<th>{_inline(h)}</th>" for h in t.header))
            out += ["<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in r) + "</tr>" for r in t.rows]
            out.append("</table>")
        for f in s.figures:
            data = base64.b64encode(f.read_bytes()).decode()
            out.append(f'<img alt="{html.escape(f.stem)}" src="data:image/png;base64,{data}">')
    out.append("</body></html>")
    return "\n".join(out) + "\n"
