"""Dashboard charts as SVG, drawn on the server with matplotlib: the page needs
no JavaScript and the same picture works on a phone.

Sized for a phone first (issue 26): a figure 4.2 inches wide is drawn about
400 px wide and shrinks to the ~310 px a phone leaves, so text is set at 12-13
points to stay about 12 px on the screen (it was 7 points on a 7-inch figure:
5 px on a phone). Legends sit under the plot, where they have the width."""

from __future__ import annotations

import io
import threading
from datetime import date
from typing import Sequence

_lock = threading.Lock()  # pyplot state is global; Starlette runs page handlers in threads


WIDTH_INCHES = 4.2
# svg.fonttype none: text stays text (readable by screen readers, sized by the browser).
TEXT = {"svg.fonttype": "none", "font.size": 12, "axes.titlesize": 13, "axes.labelsize": 12, "xtick.labelsize": 11, "ytick.labelsize": 11, "legend.fontsize": 11}


def _figure():  # type: ignore[no-untyped-def]
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    pyplot.rcParams.update(TEXT)
    return pyplot


def _legend_below(axes, count: int) -> None:  # type: ignore[no-untyped-def]
    axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.28), ncol=2 if count > 1 else 1, frameon=False)


def stacked_weeks(weeks: Sequence[date], series: dict[str, list[int]], title: str) -> str:
    """Cases per week, one colour per category (or village)."""
    pyplot = _figure()
    with _lock:
        figure, axes = pyplot.subplots(figsize=(WIDTH_INCHES, 3.4), dpi=100)
        try:
            labels = [f"{week:%d/%m}" for week in weeks]
            bottom = [0] * len(weeks)
            for name, values in sorted(series.items()):
                axes.bar(labels, values, bottom=bottom, label=name)
                bottom = [b + v for b, v in zip(bottom, values)]
            if not series:
                axes.text(0.5, 0.5, "Belum ada kasus", ha="center", va="center", transform=axes.transAxes)
            axes.set_title(title)
            axes.set_ylabel("kasus")
            axes.tick_params(axis="x", labelrotation=60)
            axes.yaxis.get_major_locator().set_params(integer=True)
            if series:
                _legend_below(axes, len(series))
            figure.tight_layout()
            return _svg(figure)
        finally:
            pyplot.close(figure)


def daily_lines(days: Sequence[date], messages: list[int], rate: list[float]) -> str:
    """Messages per day (bars) and the share not understood (line, %)."""
    pyplot = _figure()
    with _lock:
        figure, axes = pyplot.subplots(figsize=(WIDTH_INCHES, 3.4), dpi=100)
        try:
            labels = [f"{day:%d/%m}" for day in days]
            axes.bar(labels, messages, color="#8fb3d9", label="pesan masuk")
            axes.set_ylabel("pesan")
            axes.tick_params(axis="x", labelrotation=60)
            share = axes.twinx()
            share.plot(labels, rate, color="#c0392b", marker="o", label="belum dipahami (%)")
            share.set_ylabel("belum dipahami (%)")
            share.set_ylim(0, max(100.0, max(rate, default=0.0)))
            axes.set_title("Pesan per hari dan\nbagian yang belum dipahami")
            figure.tight_layout()
            return _svg(figure)
        finally:
            pyplot.close(figure)


def fill_bars(fill: list[tuple[str, int, int]]) -> str:
    """Seats taken per upcoming training: each title written above its bar,
    so a long title takes the whole width instead of squeezing the plot."""
    pyplot = _figure()
    with _lock:
        figure, axes = pyplot.subplots(figsize=(WIDTH_INCHES, max(1.8, 0.6 * len(fill) + 1.2)), dpi=100)
        try:
            percents = [100 * confirmed / capacity if capacity else 0 for _, confirmed, capacity in fill]
            rows = list(range(len(fill)))
            axes.barh(rows, percents, height=0.35, color="#27ae60")
            for row, (title, confirmed, capacity) in zip(rows, fill):
                short = title if len(title) <= 30 else title[:29] + "…"
                axes.text(0, row - 0.25, f"{short} ({confirmed}/{capacity})", va="bottom", fontsize=11)
            axes.set_yticks([])
            axes.set_xlim(0, 100)
            axes.set_ylim(len(fill) - 0.5, -0.9)
            axes.set_xlabel("kursi terisi (%)")
            if not fill:
                axes.text(0.5, 0.5, "Tidak ada pelatihan mendatang", ha="center", va="center", transform=axes.transAxes)
            axes.set_title("Keterisian pelatihan")
            figure.tight_layout()
            return _svg(figure)
        finally:
            pyplot.close(figure)


def _svg(figure) -> str:  # type: ignore[no-untyped-def]
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight")
    text = buffer.getvalue()
    return text[text.index("<svg"):]  # inline: without the XML prolog and doctype
