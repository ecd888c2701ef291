"""Figures of a report: drawn with matplotlib (Agg) from the JSON figure specs.

A figure in a report document is data, not pixels: ``{"id", "kind", ...}`` with
kind ``"line"`` (series of x/y with optional error bars), ``"bar"``, ``"heatmap"``
(a matrix with row/column labels, ``null`` for a missing cell) or ``"image"`` (a PNG
already encoded in ``png_base64``). :func:`figure_png` turns a spec into PNG bytes.

Heat maps are readable by design: the colour map is colour-blind safe (default
ColorBrewer ``"PRGn"``, purple for low and green for high values; ``cmap`` may name
another of :data:`HEATMAP_CMAPS`), each cell's text is black or white, whichever
contrasts more with the cell (WCAG contrast ratio), missing cells are light grey, the
colour bar carries ``colorbar_label`` (default ``"value"``), and titles wrap to the
figure's width with a margin around the saved image.
"""

from __future__ import annotations

import base64
import io
import math
import textwrap
from typing import Any

from distributions.errors import ReportError

__all__ = ["figure_png", "figure_png_base64", "HEATMAP_CMAPS", "text_colour", "contrast_ratio"]

#: Colour maps a heat map may use, all colour-blind safe: their two ends stay apart
#: (CIELAB dE >= 40) under simulated deuteranopia, protanopia and tritanopia.
HEATMAP_CMAPS: tuple[str, ...] = ("PRGn", "PuOr", "cividis", "viridis")


def _rel_luminance(rgb: Any) -> float:
    """WCAG relative luminance of an sRGB colour with components in [0, 1]."""
    lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb[:3]]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def contrast_ratio(a: Any, b: Any) -> float:
    """WCAG contrast ratio (1 to 21) of two sRGB colours with components in [0, 1]."""
    la, lb = sorted((_rel_luminance(a), _rel_luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def text_colour(background: Any) -> str:
    """``"black"`` or ``"white"``, whichever contrasts more with ``background``."""
    black = contrast_ratio(background, (0.0, 0.0, 0.0))
    white = contrast_ratio(background, (1.0, 1.0, 1.0))
    return "black" if black >= white else "white"


def _all_integers(values: Any) -> bool:
    vals = list(values)
    return bool(vals) and all(isinstance(v, int) and not isinstance(v, bool) for v in vals)


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
    import matplotlib.pyplot as plt

    fig = _figure(spec, dpi=dpi)
    try:
        buf = io.BytesIO()
        fig.savefig(buf, format="png", bbox_inches="tight", pad_inches=0.2)
        return buf.getvalue()
    finally:
        plt.close(fig)


def _figure(spec: dict[str, Any], *, dpi: int = 110) -> Any:
    """The matplotlib Figure of a (non-image) spec; the caller closes it."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    kind = spec.get("kind")
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
            xint = spec.get("xinteger")
            if xint is None:  # counts (recursion levels, n, rounds) get integer ticks
                xint = not spec.get("logx") and _all_integers(
                    v for s in spec.get("series", []) for v in s["x"])
            if xint:
                ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            if spec.get("yinteger"):
                ax.yaxis.set_major_locator(MaxNLocator(integer=True))
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
            _draw_heatmap(fig, ax, spec)
        else:
            raise ReportError(f"figure {spec.get('id')!r}: unknown kind {kind!r}.")
        if spec.get("title"):
            width_in = fig.get_size_inches()[0]
            ax.set_title(textwrap.fill(str(spec["title"]), width=max(24, int(width_in * 10))),
                         fontsize=10, pad=8)
        if spec.get("xlabel"):
            ax.set_xlabel(spec["xlabel"])
        if spec.get("ylabel"):
            ax.set_ylabel(spec["ylabel"])
        fig.tight_layout(pad=1.2)
    except BaseException:
        plt.close(fig)
        raise
    return fig


def _draw_heatmap(fig: Any, ax: Any, spec: dict[str, Any]) -> None:
    import matplotlib
    import numpy as np

    vals = np.array([[_num(v) for v in row] for row in spec.get("values", [])], dtype=float)
    xl = [str(v) for v in spec.get("xlabels", [])]
    yl = [str(v) for v in spec.get("ylabels", [])]
    if vals.ndim != 2 or vals.shape != (len(yl), len(xl)):
        raise ReportError(
            f"figure {spec.get('id')!r}: heatmap values must have shape "
            f"({len(yl)}, {len(xl)}); got {vals.shape}."
        )
    name = spec.get("cmap", "PRGn")
    if name not in HEATMAP_CMAPS:
        raise ReportError(f"figure {spec.get('id')!r}: `cmap` must be one of "
                          f"{list(HEATMAP_CMAPS)} (colour-blind safe); got {name!r}.")
    cmap = matplotlib.colormaps[name].with_extremes(bad="#e6e6e6")
    norm = matplotlib.colors.Normalize(vmin=spec.get("vmin", 0.0), vmax=spec.get("vmax", 1.0))
    fig.set_size_inches(max(5.0, 1.0 * len(xl) + 3.5), max(3.0, 0.5 * len(yl) + 2.0))
    im = ax.imshow(np.ma.masked_invalid(vals), cmap=cmap, norm=norm, aspect="auto")
    ax.set_xticks(range(len(xl)), xl, rotation=30, ha="right", fontsize=8)
    ax.set_yticks(range(len(yl)), yl, fontsize=8)
    ax.set_xticks(np.arange(len(xl) + 1) - 0.5, minor=True)
    ax.set_yticks(np.arange(len(yl) + 1) - 0.5, minor=True)
    ax.grid(which="minor", color="white", linewidth=1.5)
    ax.tick_params(which="minor", length=0)
    notes = spec.get("annotations")
    for (i, j), v in np.ndenumerate(vals):
        text = (str(notes[i][j]) if notes is not None
                else (f"{v:.2g}" if np.isfinite(v) else ""))
        if not text:
            continue
        bg = cmap(norm(v)) if np.isfinite(v) else cmap.get_bad()
        ax.text(j, i, text, ha="center", va="center", fontsize=8, color=text_colour(bg))
    cbar = fig.colorbar(im, ax=ax, fraction=0.05, pad=0.03)
    cbar.set_label(str(spec.get("colorbar_label") or "value"), fontsize=8)
    cbar.ax.tick_params(labelsize=8)
    ticks = spec.get("colorbar_ticks")
    if ticks:
        cbar.set_ticks([float(t[0]) for t in ticks], labels=[str(t[1]) for t in ticks])


def figure_png_base64(spec: dict[str, Any], *, dpi: int = 110) -> str:
    """:func:`figure_png` encoded as base64 text (for a ``data:`` URI)."""
    return base64.b64encode(figure_png(spec, dpi=dpi)).decode("ascii")
