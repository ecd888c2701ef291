"""Render a report document (JSON) to Markdown and to one self-contained HTML file.

Both renderers read only the document (see :mod:`reports.schema`): the summary
verdict table and the per-check table are derived from ``doc["checks"]`` and their
statuses (:mod:`reports.status`; the verdict is recomputed from them and a document
whose stored verdict differs is refused); every
other part (mutation matrix, pinning and round-bound tables, rounds-scaling and
diffusion figures, audit findings...) is a generic section with text, tables and
figures. Figures are drawn from their data specs (:mod:`reports.figures`); the HTML
embeds them as base64 PNG, the Markdown links to PNG files written next to it.

The HTML page uses the window's width: the per-check table starts with the verdict
column, spans the page and wraps long identifiers (after ``/``, ``,``, ``_``, ``=``)
while numbers stay on one line, so no column is clipped at 1280 px or wider
(``tests/reports/test_report_browser.py`` measures this in headless Chromium).
"""

from __future__ import annotations

import base64
import html
import math
import re
from collections.abc import Iterable
from typing import Any

from distributions.errors import ReportError
from reports.figures import figure_png, figure_png_base64
from reports.status import STATUS_LABELS, STATUSES, check_status, summary_line, verdict

__all__ = [
    "CHECK_COLUMNS",
    "SUMMARY_COLUMNS",
    "render_markdown",
    "render_html",
    "render_figures",
    "summary_rows",
    "check_rows",
    "fmt",
]

#: Columns of the per-check table; the verdict comes first so it is always in view.
CHECK_COLUMNS = [
    "verdict",
    "check",
    "sampler",
    "target",
    "method",
    "statistic",
    "p-value",
    "alpha",
    "detectable TV",
    "samples",
    "TV estimate",
    "seed",
]

#: Columns of the per-stage summary table.
SUMMARY_COLUMNS = ["stage", "verdict", "checks", "passed", "warnings", "failed", "skipped",
                   "no-power"]

def fmt(value: Any) -> str:
    """Short human format of a cell value (3 significant digits for floats)."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if value == 0:
            return "0"
        if abs(value) >= 1e5 or abs(value) < 1e-3:
            return f"{value:.3g}"
        return f"{value:.4g}"
    if isinstance(value, list | tuple):
        return "(" + ", ".join(fmt(v) for v in value) + ")"
    return str(value)


def _verdict(chk: dict[str, Any]) -> str:
    return STATUS_LABELS[check_status(chk)]


def _strict(doc: dict[str, Any]) -> bool:
    return bool(doc.get("strict", False))


def _doc_verdict(doc: dict[str, Any]) -> str:
    """The verdict recomputed from the checks; refuses a document whose stored one differs."""
    v = verdict(doc["checks"], strict=_strict(doc))
    if doc.get("verdict") != v:
        line = summary_line(doc["checks"], strict=_strict(doc))
        raise ReportError(f"stored verdict {doc.get('verdict')!r} disagrees with its checks, "
                          f"whose verdict is {v!r} ({line}); refusing to render it.")
    return v


def summary_rows(doc: dict[str, Any]) -> list[list[Any]]:
    """Rows of :data:`SUMMARY_COLUMNS`, one per stage in order of first appearance.

    A stage's verdict is :func:`reports.status.verdict` of its checks under the
    document's rule (``strict``).
    """
    stages: dict[str, list[dict[str, Any]]] = {}
    for chk in doc["checks"]:
        stages.setdefault(chk["stage"], []).append(chk)
    rows = []
    for stage, checks in stages.items():
        n = dict.fromkeys(STATUSES, 0)
        for c in checks:
            n[check_status(c)] += 1
        rows.append([stage, verdict(checks, strict=_strict(doc)).upper(), len(checks),
                     n["pass"], n["warn"], n["fail"], n["skipped"], n["no-power"]])
    return rows


def check_rows(doc: dict[str, Any]) -> list[list[Any]]:
    """One row per check, columns :data:`CHECK_COLUMNS` (verdict first)."""
    rows = []
    for c in doc["checks"]:
        method = c.get("method")
        if isinstance(method, str) and len(method) > 40:
            method = method[:39] + "…"
        rows.append([
            _verdict(c), c["id"], c.get("sampler"), c.get("target"), method, c.get("statistic"),
            c.get("pvalue"), c.get("alpha"), c.get("detectable_tv"), c.get("num_samples"),
            c.get("tv_estimate"), c.get("seed"),
        ])
    return rows


def _counts(doc: dict[str, Any]) -> str:
    """``"56 checks: 52 passed, 4 warnings, 0 failed, 0 skipped, 0 no-power"``."""
    line = summary_line(doc["checks"], strict=_strict(doc))
    return line[line.index("(") + 1:-1]


def _failures(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for c in doc["checks"] if check_status(c) != "pass"]


def _fig_name(fig: dict[str, Any]) -> str:
    return f"{fig['id']}.png"


def render_figures(doc: dict[str, Any]) -> dict[str, bytes]:
    """PNG bytes of every figure of the document, keyed by file name."""
    out: dict[str, bytes] = {}
    for sec in doc["sections"]:
        for fig in sec.get("figures", []):
            out[_fig_name(fig)] = figure_png(fig)
    return out


def _env_rows(doc: dict[str, Any]) -> list[list[Any]]:
    env = doc["environment"]
    mach = env["machine"]
    rows: list[list[Any]] = [["python", env["python"]]]
    rows += [[k, v] for k, v in mach.items()]
    rows += [[f"package {k}", v if v is not None else "not installed"]
             for k, v in env["packages"].items()]
    return rows


# ---------------------------------------------------------------------- markdown
def _md_cell(v: Any) -> str:
    return fmt(v).replace("|", "\\|").replace("\n", " ")


def _md_table(columns: list[str], rows: Iterable[list[Any]]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for r in rows:
        lines.append("| " + " | ".join(_md_cell(v) for v in r) + " |")
    return "\n".join(lines)


def render_markdown(doc: dict[str, Any], *, figure_dir: str = "figures") -> str:
    """Markdown text of the report; figures are linked as ``figure_dir/<id>.png``."""
    out: list[str] = []
    word = _doc_verdict(doc).upper()
    out.append(f"# {doc['title']}\n")
    out.append(f"**Verdict: {word}** - {_counts(doc)}.\n")
    out.append(_rule_text(doc) + "\n")
    meta = [f"- created (UTC): {doc['created_utc']}"]
    if doc.get("command"):
        meta.append(f"- command: `{' '.join(doc['command'])}`")
    meta.append("- seeds: " + ", ".join(f"{k}={v}" for k, v in doc["seeds"].items()))
    meta.append(f"- total time: {doc['timing']['total_seconds']:.1f} s")
    out.append("\n".join(meta) + "\n")
    out.append("## Summary\n")
    out.append(_md_table(SUMMARY_COLUMNS, summary_rows(doc)) + "\n")
    fails = _failures(doc)
    if fails:
        out.append(f"## {_FAILURES_TITLE}\n")
        for c in fails:
            out.append(f"- **{_verdict(c)}** `{c['id']}`: {c.get('detail', '')}")
            if c.get("query"):
                out.append(f"  - query: `{fmt_query(c['query'])}`")
            for cell in c.get("worst_cells", [])[:5]:
                out.append(f"  - cell {fmt(cell.get('cell'))}: observed {fmt(cell.get('observed'))}"
                           f", expected {fmt(cell.get('expected'))}")
        out.append("")
    out.append("## Checks\n")
    out.append(_md_table(CHECK_COLUMNS, check_rows(doc)) + "\n")
    for sec in doc["sections"]:
        out.append(f"## {sec['title']}\n")
        if sec.get("text"):
            out.append(sec["text"].strip() + "\n")
        for tab in sec.get("tables", []):
            if tab.get("title"):
                out.append(f"**{tab['title']}**\n")
            out.append(_md_table(tab["columns"], tab["rows"]) + "\n")
            if tab.get("caption"):
                out.append(f"*{tab['caption']}*\n")
        for fig in sec.get("figures", []):
            title = fig.get("title", fig["id"])
            out.append(f"![{title}]({figure_dir}/{_fig_name(fig)})\n")
            if fig.get("caption"):
                out.append(f"*{fig['caption']}*\n")
    out.append("## Timing\n")
    out.append(_md_table(["stage", "seconds"],
                         [[s["stage"], s["seconds"]] for s in doc["timing"]["stages"]]) + "\n")
    out.append("## Environment\n")
    out.append(_md_table(["item", "value"], _env_rows(doc)) + "\n")
    out.append(f"*Schema {doc['schema']} v{doc['schema_version']}; rendered from report.json.*\n")
    return "\n".join(out)


_FAILURES_TITLE = "Checks that did not pass"


def _rule_text(doc: dict[str, Any]) -> str:
    if _strict(doc):
        return ("Verdict rule: strict - the run fails unless every check passes (a warning, "
                "a skipped check or a test without power at its size fails it too).")
    return ("Verdict rule: the run fails iff some check failed; warnings, skipped checks and "
            "tests without power at their size (no-power) are listed and counted but do not "
            "fail it (`--strict` makes them fail).")


def fmt_query(query: dict[str, Any]) -> str:
    """One-line text of an oracle query record (``{"method": ..., "x": ...}``)."""
    parts = []
    for k, v in query.items():
        if k in ("x", "context") and isinstance(v, list):
            v = "[" + " ".join("*" if e == -1 else str(e) for e in v) + "]"
        parts.append(f"{k}={v if isinstance(v, str) else fmt(v)}")
    return ", ".join(parts)


# ---------------------------------------------------------------------- html
_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:1.5em 0;
color:#222;line-height:1.4;padding:0 1.5em}
p,ul,figcaption,.meta{max-width:80em}
h1{margin-bottom:.2em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;margin:.6em 0;font-size:.86em;max-width:100%}
table.checks{width:100%}
th,td{border:1px solid #ccc;padding:3px 6px;text-align:left;vertical-align:top;
overflow-wrap:anywhere}
td.num{white-space:nowrap;text-align:right;font-variant-numeric:tabular-nums}
th{background:#f3f3f3;overflow-wrap:normal}tr:nth-child(even) td{background:#fafafa}
.badge{display:inline-block;padding:.15em .7em;border-radius:4px;color:#fff;font-weight:bold}
td.v{white-space:nowrap;font-weight:bold;color:#fff}
.PASS,tr:nth-child(even) td.PASS{background:#2e7d32}
.FAIL,tr:nth-child(even) td.FAIL{background:#c62828}
.WARN,tr:nth-child(even) td.WARN{background:#a35200}
.SKIPPED,tr:nth-child(even) td.SKIPPED{background:#5f6368}
.NO-POWER,tr:nth-child(even) td.NO-POWER{background:#6a1b9a}
figure{margin:1em 0}figure img{max-width:100%;border:1px solid #eee}
figcaption{font-size:.85em;color:#555}code{background:#f3f3f3;padding:0 3px}
.meta{color:#555;font-size:.9em}.scroll{overflow-x:auto;max-width:100%}
table.checks td:nth-child(2){min-width:11em}table.checks td:nth-child(3){min-width:7em}
table.checks td:nth-child(4){min-width:8em}table.checks td:nth-child(5){min-width:7em}
"""

#: columns of the per-check table shown right-aligned without wrapping
_NUM_COLS = frozenset(range(5, len(CHECK_COLUMNS)))


def _h(v: Any) -> str:
    return html.escape(fmt(v))


_BREAK_AFTER = re.compile(r"([/,_=])(?=\S)")


def _html_table(columns: list[str], rows: Iterable[list[Any]], *, verdict_col: int | None = None,
                caption: str | None = None, num_cols: frozenset[int] = frozenset(),
                table_class: str | None = None, table_id: str | None = None) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = []
    for r in rows:
        cells = []
        for i, v in enumerate(r):
            if i == verdict_col:
                cls = f' class="v {html.escape(str(v))}"'
            elif i in num_cols and (not isinstance(v, str) or v in ("inf", "-inf", "nan")):
                cls = ' class="num"'
            else:
                cls = ""
            text = _h(v)
            if not cls:  # break long identifiers after / , _ = before breaking inside words
                text = _BREAK_AFTER.sub(r"\1<wbr>", text)
            cells.append(f"<td{cls}>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    attrs = (f' class="{table_class}"' if table_class else "") + \
        (f' id="{html.escape(table_id)}"' if table_id else "")
    return (f'<div class="scroll"><table{attrs}>{cap}<thead><tr>{head}</tr></thead><tbody>'
            + "".join(body) + "</tbody></table></div>")


def _paragraphs(text: str) -> str:
    paras = [p.strip() for p in text.strip().split("\n\n") if p.strip()]
    return "".join(f"<p>{html.escape(p)}</p>" for p in paras)


def render_html(doc: dict[str, Any], *, figures: dict[str, bytes] | None = None) -> str:
    """One self-contained HTML page (inline CSS, figures as base64 PNG).

    ``figures`` (file name to PNG bytes, as from :func:`render_figures`) avoids
    drawing the figures a second time.
    """
    word = _doc_verdict(doc).upper()
    parts: list[str] = [
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">",
        f"<title>{html.escape(doc['title'])}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(doc['title'])}</h1>",
        f'<p id="verdict"><span class="badge {word}">{word}</span> '
        f"{html.escape(_counts(doc))}.</p>",
        f'<p class="meta">{html.escape(_rule_text(doc))}</p>',
        '<p class="meta">created (UTC) ' + html.escape(doc["created_utc"]),
    ]
    if doc.get("command"):
        parts.append(" &middot; command <code>" + html.escape(" ".join(doc["command"])) + "</code>")
    parts.append(" &middot; seeds " + html.escape(", ".join(f"{k}={v}" for k, v in
                                                           doc["seeds"].items())))
    parts.append(f" &middot; total {doc['timing']['total_seconds']:.1f} s</p>")
    parts.append('<h2 id="summary">Summary</h2>')
    parts.append(_html_table(SUMMARY_COLUMNS, summary_rows(doc), verdict_col=1,
                             table_id="summary-table"))
    fails = _failures(doc)
    if fails:
        parts.append(f'<h2 id="failures">{_FAILURES_TITLE}</h2><ul>')
        for c in fails:
            v = _verdict(c)
            item = (f'<li><span class="badge {v}">{v}</span> <code>{html.escape(c["id"])}</code>: '
                    f"{html.escape(c.get('detail', ''))}")
            if c.get("query"):
                item += f"<br>query: <code>{html.escape(fmt_query(c['query']))}</code>"
            cells = c.get("worst_cells", [])[:5]
            if cells:
                item += _html_table(["cell", "observed", "expected"],
                                    [[w.get("cell"), w.get("observed"), w.get("expected")]
                                     for w in cells])
            parts.append(item + "</li>")
        parts.append("</ul>")
    parts.append('<h2 id="checks">Checks</h2>')
    parts.append(_html_table(CHECK_COLUMNS, check_rows(doc), verdict_col=0, num_cols=_NUM_COLS,
                             table_class="checks", table_id="checks-table"))
    for sec in doc["sections"]:
        parts.append(f'<h2 id="{html.escape(sec["id"])}">{html.escape(sec["title"])}</h2>')
        if sec.get("text"):
            parts.append(_paragraphs(sec["text"]))
        for tab in sec.get("tables", []):
            if tab.get("title"):
                parts.append(f"<h3>{html.escape(tab['title'])}</h3>")
            parts.append(_html_table(tab["columns"], tab["rows"], caption=tab.get("caption")))
        for fig in sec.get("figures", []):
            title = fig.get("title", fig["id"])
            if figures is not None and _fig_name(fig) in figures:
                data = base64.b64encode(figures[_fig_name(fig)]).decode("ascii")
            else:
                data = figure_png_base64(fig)
            parts.append(f'<figure id="fig-{html.escape(fig["id"])}">'
                         f'<img alt="{html.escape(title)}" src="data:image/png;base64,{data}">')
            if fig.get("caption"):
                parts.append(f"<figcaption>{html.escape(fig['caption'])}</figcaption>")
            parts.append("</figure>")
    parts.append('<h2 id="timing">Timing</h2>')
    parts.append(_html_table(["stage", "seconds"],
                             [[s["stage"], s["seconds"]] for s in doc["timing"]["stages"]]))
    parts.append('<h2 id="environment">Environment</h2>')
    parts.append(_html_table(["item", "value"], _env_rows(doc)))
    parts.append(f'<p class="meta">Schema {html.escape(doc["schema"])} v{doc["schema_version"]};'
                 " rendered from report.json.</p></body></html>")
    return "\n".join(parts)
