"""Figures of a report: drawn with matplotlib (Agg) from the JSON figure specs.

A figure in a report document is data, not pixels: ``{"id", "kind", ...}`` with
kind ``"line"`` (series of x/y with optional error bars), ``"bar"``, ``"heatmap"``
(a matrix with row/column labels, ``null`` for a missing cell) or ``"image"`` (a PNG
already encoded in ``png_base64``). :func:`figure_png` turns a spec into PNG bytes.
"""

from __future__ import annotations

import base64
import io
import math
from typing import Any

from distributions.errors import ReportError

__all__ = ["figure_png", "figure_png_base64"]


def _num(v: Any) -> float:
    if v is None:
        return math.nan
    if isinstance(v, str):
        return {"inf": math.inf, "-inf": -math.inf}.get(v, math.nan)
    return float(v)


def figure_png(spec: dict[str, Any], *, dpi: int = 110) -> bytes:
    """Render one figure spec to PNG bytes.

    Raises
    ------
    ReportError
        If the spec is malformed (unknown kind, mismatched lengths).
    """
    kind = spec.get("kind")
    if kind == "image":
        try:
            return base64.b64decode(spec["png_base64"], validate=True)
        except (KeyError, ValueError) as exc:
            raise ReportError(
                f"figure {spec.get('id')!r}: `png_base64` must be base64 PNG data."
            ) from exc
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=dpi)
    try:
        if kind == "line":
            for s in spec.get("series", []):
                x = [_num(v) for v in s["x"]]
                y = [_num(v) for v in s["y"]]
                if len(x) != len(y):
                    raise ReportError(
                        f"figure {spec.get('id')!r}: series {s.get('label')!r} has "
                        f"{len(x)} x values but {len(y)} y values."
                    )
                style = s.get("style", "line")
                fmt = {"line": "o-", "points": "o", "dashed": "--"}[style]
                if s.get("yerr"):
                    ax.errorbar(x, y, yerr=[_num(v) for v in s["yerr"]], fmt=fmt,
                                label=s.get("label"), capsize=3, markersize=4)
                else:
                    ax.plot(x, y, fmt, label=s.get("label"), markersize=4)
            if spec.get("logx"):
                ax.set_xscale("log")
            if spec.get("logy"):
                ax.set_yscale("log")
            if any(s.get("label") for s in spec.get("series", [])):
                ax.legend(fontsize=8)
            ax.grid(True, alpha=0.3)
        elif kind == "bar":
            labels = [str(v) for v in spec.get("labels", [])]
            values = [_num(v) for v in spec.get("values", [])]
            if len(labels) != len(values):
                raise ReportError(f"figure {spec.get('id')!r}: labels and values differ in length.")
            ax.bar(range(len(values)), values, color="#4878a8")
            ax.set_xticks(range(len(values)), labels, rotation=30, ha="right", fontsize=8)
            if spec.get("logy"):
                ax.set_yscale("log")
            ax.grid(True, axis="y", alpha=0.3)
        elif kind == "heatmap":
            import numpy as np

            vals = np.array([[_num(v) for v in row] for row in spec.get("values", [])], dtype=float)
            xl = [str(v) for v in spec.get("xlabels", [])]
            yl = [str(v) for v in spec.get("ylabels", [])]
            if vals.ndim != 2 or vals.shape != (len(yl), len(xl)):
                raise ReportError(
                    f"figure {spec.get('id')!r}: heatmap values must have shape "
                    f"({len(yl)}, {len(xl)}); got {vals.shape}."
                )
            fig.set_size_inches(max(4.0, 0.9 * len(xl) + 2.5), max(2.5, 0.4 * len(yl) + 1.5))
            im = ax.imshow(np.ma.masked_invalid(vals), cmap="RdYlGn", aspect="auto",
                           vmin=spec.get("vmin", 0.0), vmax=spec.get("vmax", 1.0))
            ax.set_xticks(range(len(xl)), xl, rotation=30, ha="right", fontsize=8)
            ax.set_yticks(range(len(yl)), yl, fontsize=8)
            notes = spec.get("annotations")
            for (i, j), v in np.ndenumerate(vals):
                if notes is not None:
                    ax.text(j, i, str(notes[i][j]), ha="center", va="center", fontsize=7)
                elif np.isfinite(v):
                    ax.text(j, i, f"{v:.2g}", ha="center", va="center", fontsize=7)
            fig.colorbar(im, ax=ax, fraction=0.04)
        else:
            raise ReportError(f"figure {spec.get('id')!r}: unknown kind {kind!r}.")
        if spec.get("title"):
            ax.set_title(spec["title"], fontsize=10)
        if spec.get("xlabel"):
            ax.set_xlabel(spec["xlabel"])
        if spec.get("ylabel"):
            ax.set_ylabel(spec["ylabel"])
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        return buf.getvalue()
    finally:
        plt.close(fig)


def figure_png_base64(spec: dict[str, Any], *, dpi: int = 110) -> str:
    """:func:`figure_png` encoded as base64 text (for a ``data:`` URI)."""
    return base64.b64encode(figure_png(spec, dpi=dpi)).decode("ascii")
