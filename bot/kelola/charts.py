"""Dashboard charts as SVG, drawn on the server with matplotlib: the page needs
no JavaScript and the same picture works on a phone."""

from __future__ import annotations

import io
import threading
from datetime import date
from typing import Sequence

_lock = threading.Lock()  # pyplot state is global; Starlette runs page handlers in threads


def _figure():  # type: ignore[no-untyped-def]
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    return pyplot


def stacked_weeks(weeks: Sequence[date], series: dict[str, list[int]], title: str) -> str:
    """Cases per week, one colour per category (or village)."""
    pyplot = _figure()
    with _lock:
        figure, axes = pyplot.subplots(figsize=(7, 3.2), dpi=100)
        try:
            labels = [f"{week:%d/%m}" for week in weeks]
            bottom = [0] * len(weeks)
            for name, values in sorted(series.items()):
                axes.bar(labels, values, bottom=bottom, label=name)
                bottom = [b + v for b, v in zip(bottom, values)]
            if not series:
                axes.text(0.5, 0.5, "Belum ada kasus", ha="center", va="center", transform=axes.transAxes)
            axes.set_title(title, fontsize=11)
            axes.set_ylabel("kasus")
            axes.tick_params(axis="x", labelrotation=45, labelsize=8)
            axes.yaxis.get_major_locator().set_params(integer=True)
            if series:
                axes.legend(fontsize=7, loc="upper left", frameon=False)
            figure.tight_layout()
            return _svg(figure)
        finally:
            pyplot.close(figure)


def daily_lines(days: Sequence[date], messages: list[int], rate: list[float]) -> str:
    """Messages per day (bars) and the share not understood (line, %)."""
    pyplot = _figure()
    with _lock:
        figure, axes = pyplot.subplots(figsize=(7, 3.2), dpi=100)
        try:
            labels = [f"{day:%d/%m}" for day in days]
            axes.bar(labels, messages, color="#8fb3d9", label="pesan masuk")
            axes.set_ylabel("pesan")
            axes.tick_params(axis="x", labelrotation=45, labelsize=8)
            share = axes.twinx()
            share.plot(labels, rate, color="#c0392b", marker="o", label="belum dipahami (%)")
            share.set_ylabel("belum dipahami (%)")
            share.set_ylim(0, max(100.0, max(rate, default=0.0)))
            axes.set_title("Pesan per hari dan bagian yang belum dipahami", fontsize=11)
            figure.tight_layout()
            return _svg(figure)
        finally:
            pyplot.close(figure)


def fill_bars(fill: list[tuple[str, int, int]]) -> str:
    """Seats taken per upcoming training."""
    pyplot = _figure()
    with _lock:
        figure, axes = pyplot.subplots(figsize=(7, max(1.6, 0.5 * len(fill) + 1)), dpi=100)
        try:
            titles = [title if len(title) <= 40 else title[:39] + "…" for title, _, _ in fill]
            percents = [100 * confirmed / capacity if capacity else 0 for _, confirmed, capacity in fill]
            axes.barh(titles, percents, color="#27ae60")
            axes.set_xlim(0, 100)
            axes.set_xlabel("kursi terisi (%)")
            axes.invert_yaxis()
            if not fill:
                axes.text(0.5, 0.5, "Tidak ada pelatihan mendatang", ha="center", va="center", transform=axes.transAxes)
            axes.set_title("Keterisian pelatihan", fontsize=11)
            figure.tight_layout()
            return _svg(figure)
        finally:
            pyplot.close(figure)


def _svg(figure) -> str:  # type: ignore[no-untyped-def]
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg")
    text = buffer.getvalue()
    return text[text.index("<svg"):]  # inline: without the XML prolog and doctype
