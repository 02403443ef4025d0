"""A report made of sections — text, tables, figures — rendered to Markdown and to HTML.

The Markdown is the source: :func:`to_html` renders it with a CommonMark parser
(markdown-it-py), embeds every figure as a base64 PNG so that the page is self-contained, and
adds a contents list, a summary table of headline numbers and readable subscripts.
"""

from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Table:
    """A table: header cells and rows of already formatted (Markdown) cells."""

    header: list[str]
    rows: list[list[str]]


@dataclass
class Section:
    """One part of a report: a title, paragraphs, tables and figures (PNG paths), and its
    headline — ``(claim, ours, baselines)`` — for the report's summary table."""

    title: str
    paragraphs: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    figures: list[Path] = field(default_factory=list)
    headline: tuple[str, str, str] | None = None


def summary_table(sections: list[Section]) -> Table:
    """One row per section with a headline: the claim, our number, the baselines'."""
    return Table(
        ["experiment", "claim", "ours", "baselines and controls"],
        [[s.title, *s.headline] for s in sections if s.headline is not None],
    )


@dataclass
class Report:
    """A whole report: title, introduction, an optional summary table, then the sections."""

    title: str
    intro: list[str]
    sections: list[Section]
    summary: Table | None = None


def slug(title: str) -> str:
    """The anchor of a heading, as GitHub computes it (lowercase, punctuation dropped)."""
    text = re.sub(r"[^\w\- ]", "", title.strip().lower())
    return text.replace(" ", "-")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _table(table: Table) -> list[str]:
    lines = ["| " + " | ".join(_cell(h) for h in table.header) + " |"]
    lines.append("|" + "---|" * len(table.header))
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in table.rows]
    return [*lines, ""]


def to_markdown(report: Report, base: Path) -> str:
    """Markdown with a contents list and figures linked relative to ``base`` (the folder)."""
    out = [f"# {report.title}", "", *[p + "\n" for p in report.intro]]
    if report.summary is not None:
        out += ["## Summary", "", *_table(report.summary)]
    out += ["## Contents", ""]
    out += [f"- [{s.title}](#{slug(s.title)})" for s in report.sections]
    out.append("")
    for s in report.sections:
        out += [f"## {s.title}", ""]
        out += [p + "\n" for p in s.paragraphs]
        for t in s.tables:
            out += _table(t)
        if s.figures:
            links = [
                f"![{f.stem}]({(f.relative_to(base) if f.is_relative_to(base) else f).as_posix()})"
                for f in s.figures
            ]
            out += [" ".join(links), ""]
    return "\n".join(out).rstrip() + "\n"


_CSS = """
body{font-family:system-ui,-apple-system,sans-serif;max-width:1100px;margin:2em auto;
padding:0 1em;line-height:1.45;color:#222}
h1{border-bottom:2px solid #ddd;padding-bottom:.3em} h2{margin-top:2em;border-bottom:1px solid #eee}
table{border-collapse:collapse;margin:1em 0;font-size:90%}
th,td{border:1px solid #ccc;padding:4px 8px;text-align:right;vertical-align:top}
th{background:#f3f3f3} td:first-child,th:first-child{text-align:left}
h2#summary+table td,h2#summary+table th{text-align:left}
p>img{max-width:100%;margin:.5em 0;border:1px solid #eee}
p>img:not(:only-child){max-width:49%;vertical-align:top}
code{background:#f3f3f3;padding:1px 3px;border-radius:3px}
ul{padding-left:1.4em}
"""

_SUBSCRIPT = re.compile(r"(?<=[A-Za-zθλσρμ‖])_(\{[^}]+\}|[⊥∥A-Za-z0-9]+)")


def _subscripts(escaped: str) -> str:
    """``W_⊥`` -> ``W<sub>⊥</sub>``, ``λ_min`` -> ``λ<sub>min</sub>`` (on escaped text)."""
    return _SUBSCRIPT.sub(lambda m: f"<sub>{m.group(1).strip('{}')}</sub>", escaped)


def to_html(report: Report, base: Path) -> str:
    """A self-contained HTML page rendered from :func:`to_markdown`; figures embedded."""
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": False}).enable("table")

    def render_text(renderer: Any, tokens: Any, idx: int, options: Any, env: Any) -> str:
        return _subscripts(html.escape(tokens[idx].content, quote=False))

    md.add_render_rule("text", render_text)
    tokens = md.parse(to_markdown(report, base))
    for i, token in enumerate(tokens):
        if token.type == "heading_open" and i + 1 < len(tokens):
            token.attrSet("id", slug(tokens[i + 1].content))
        for child in token.children or []:
            if child.type == "image":
                source = base / str(child.attrGet("src"))
                if source.is_file():
                    data = base64.b64encode(source.read_bytes()).decode()
                    child.attrSet("src", f"data:image/png;base64,{data}")
    body = md.renderer.render(tokens, md.options, {})
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(report.title)}</title><style>{_CSS}</style></head><body>\n"
        f"{body}</body></html>\n"
    )
