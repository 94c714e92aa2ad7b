"""The Grafana dashboard's panels (deploy/grafana/wanbot.json), computed from a series of /metrics
scrapes the way Prometheus computes the panels' queries, and drawn with matplotlib.

    increase(x[w])            the counter's growth over the last w seconds of scrapes
    rate(x[w])                increase / the seconds between the two scrapes it spans
    histogram_quantile(q, b)  Prometheus's rule: find the bucket holding rank q x count, and
                              interpolate linearly inside it (the +Inf bucket gives its lower
                              bound); NaN when no observation fell in the window

No extrapolation to the window's edges (Prometheus does some): over scrapes a second apart the
difference is a sample or two.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.ticker import FuncFormatter, MaxNLocator
from prometheus_client.parser import text_string_to_metric_families

Labels = tuple[tuple[str, str], ...]
Key = tuple[str, Labels]

OUTCOME_COLOURS = {
    "delivered": "#73bf69",
    "failed": "#f2495c",
    "cancelled": "#ff9830",
    "refused": "#b877d9",
}
STATE_COLOURS = {
    "queued": "#fade2a",
    "submitting": "#ff9830",
    "running": "#5794f2",
    "delivering": "#73bf69",
}
BACKGROUND = "#111217"
PANEL = "#181b1f"
GRID = "#2c3235"
TEXT = "#ccccdc"
MUTED = "#8e8e9e"


@dataclass(frozen=True)
class Scrape:
    t: float  # seconds since the run started
    values: dict[Key, float]


def parse(text: str) -> dict[Key, float]:
    """One /metrics answer, read by prometheus-client's own parser."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


class Scrapes:
    """PromQL's few functions the dashboard uses, over scrapes in time order."""

    def __init__(self, scrapes: Sequence[Scrape]) -> None:
        self.scrapes = list(scrapes)
        self.t = [s.t for s in self.scrapes]

    def _sum(self, scrape: Scrape, name: str, match: dict[str, str]) -> float:
        return sum(
            value
            for (sample, labels), value in scrape.values.items()
            if sample == name and all(dict(labels).get(k) == v for k, v in match.items())
        )

    def label_values(self, name: str, label: str) -> list[str]:
        found = {
            dict(labels)[label]
            for scrape in self.scrapes
            for (sample, labels) in scrape.values
            if sample == name and label in dict(labels)
        }
        return sorted(found)

    def gauge(self, name: str, **match: str) -> list[float]:
        return [self._sum(s, name, match) for s in self.scrapes]

    def _start_of(self, i: int, window_s: float) -> int:
        j = i
        while j > 0 and self.t[i] - self.t[j - 1] <= window_s:
            j -= 1
        return j

    def increase(self, name: str, window_s: float, **match: str) -> list[float]:
        totals = self.gauge(name, **match)
        return [totals[i] - totals[self._start_of(i, window_s)] for i in range(len(totals))]

    def rate(self, name: str, window_s: float, **match: str) -> list[float]:
        """Per second."""
        totals = self.gauge(name, **match)
        rates = []
        for i in range(len(totals)):
            j = self._start_of(i, window_s)
            span = self.t[i] - self.t[j]
            rates.append((totals[i] - totals[j]) / span if span > 0 else 0.0)
        return rates

    def quantile(self, q: float, histogram: str, window_s: float, **match: str) -> list[float]:
        """histogram_quantile(q, sum by (le) (rate(histogram_bucket[window])))."""
        bucket = f"{histogram}_bucket"
        bounds = self.label_values(bucket, "le")
        growth = {le: self.increase(bucket, window_s, le=le, **match) for le in bounds}
        ordered = sorted(bounds, key=float)
        return [
            histogram_quantile(q, [(float(le), growth[le][i]) for le in ordered])
            for i in range(len(self.scrapes))
        ]

    def last(self, name: str, **match: str) -> float:
        return self._sum(self.scrapes[-1], name, match) if self.scrapes else 0.0


def histogram_quantile(q: float, buckets: Sequence[tuple[float, float]]) -> float:
    """Prometheus's histogram_quantile over (upper bound, cumulative count), bounds ascending."""
    if not buckets or buckets[-1][1] <= 0:
        return math.nan
    rank = q * buckets[-1][1]
    lower, below = 0.0, 0.0
    for upper, count in buckets:
        if count >= rank:
            if math.isinf(upper):
                return lower
            inside = count - below
            return lower + (upper - lower) * ((rank - below) / inside if inside else 0.0)
        lower, below = upper, count
    return lower


# -- drawing ------------------------------------------------------------------------------------


def _style(ax: Axes, title: str, unit: str = "") -> None:
    ax.set_facecolor(PANEL)
    ax.set_title(title, loc="left", color=TEXT, fontsize=11, pad=8)
    ax.grid(True, color=GRID, linewidth=0.6)
    ax.tick_params(colors=MUTED, labelsize=8)
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _pos: f"{int(x) // 60}:{int(x) % 60:02d}"))
    ax.xaxis.set_major_locator(MaxNLocator(8, steps=[1, 2, 3, 6, 10]))
    if unit:
        ax.set_ylabel(unit, color=MUTED, fontsize=8)
    ax.set_ylim(bottom=0)


def _legend(ax: Axes) -> None:
    if not ax.get_legend_handles_labels()[0]:
        return  # nothing drawn (no host reported a balance, say)
    # On the title's line, at the right, as Grafana's compact legends sit clear of the curves.
    ax.legend(
        loc="lower right",
        bbox_to_anchor=(1.0, 1.0),
        fontsize=8,
        frameon=False,
        labelcolor=TEXT,
        ncol=5,
        handlelength=1.2,
        borderaxespad=0.2,
    )


def _phases(
    ax: Axes, phases: Iterable[tuple[float, float, str]], *, labelled: bool = False
) -> None:
    """Shade every other phase of the load, so a reader can tie the curves to what it did."""
    for i, (start, end, label) in enumerate(phases):
        if i % 2:
            ax.axvspan(start, end, color="#ffffff", alpha=0.04, linewidth=0)
        if labelled and label:
            ax.text(
                (start + end) / 2,
                0.98,
                label,
                transform=ax.get_xaxis_transform(),
                ha="center",
                va="top",
                color=MUTED,
                fontsize=7.5,
            )


def render(
    scrapes: Sequence[Scrape],
    out: Path,
    *,
    window_s: float,
    phases: Sequence[tuple[float, float, str]],
    low_balance: float,
    subtitle: str,
) -> None:
    m = Scrapes(scrapes)
    t = m.t
    fig = plt.figure(figsize=(16, 11.5), facecolor=BACKGROUND)
    grid = fig.add_gridspec(4, 2, height_ratios=[0.42, 1, 1, 1], hspace=0.42, wspace=0.12)
    fig.suptitle("wanbot", x=0.06, y=0.99, ha="left", color=TEXT, fontsize=16, weight="bold")
    shown = "\n".join(textwrap.wrap(subtitle, 190))
    fig.text(0.06, 0.958, shown, ha="left", va="top", color=MUTED, fontsize=9)

    _stats(fig.add_subplot(grid[0, :]), m, phases)
    w = f"{window_s:g} s"

    ax = fig.add_subplot(grid[1, 0])
    for outcome, colour in OUTCOME_COLOURS.items():
        per_min = [60 * r for r in m.rate("wanbot_jobs_total", window_s, outcome=outcome)]
        ax.plot(t, per_min, color=colour, linewidth=1.6, label=outcome)
    _style(ax, f"Jobs per minute by outcome (rate over {w})", "jobs/min")
    _phases(ax, phases, labelled=True)
    _legend(ax)

    ax = fig.add_subplot(grid[1, 1])
    ax.plot(t, m.gauge("wanbot_queue_depth"), color="#fade2a", linewidth=1.8, label="queue depth")
    for state, colour in STATE_COLOURS.items():
        if state == "queued":
            continue  # the queue depth line is that
        values = m.gauge("wanbot_jobs_active", state=state)
        ax.plot(t, values, color=colour, linewidth=1.2, label=state)
    _style(ax, "Queue depth and active jobs by state", "jobs")
    _phases(ax, phases, labelled=True)
    _legend(ax)

    ax = fig.add_subplot(grid[2, 0])
    for q, colour in ((0.5, "#73bf69"), (0.95, "#f2cc0c")):
        values = m.quantile(q, "wanbot_job_seconds", window_s)
        ax.plot(t, values, color=colour, linewidth=1.6, label=f"p{round(q * 100)}")
    _style(ax, f"Job seconds, admission to delivery (from the histogram, over {w})", "seconds")
    _phases(ax, phases)
    _legend(ax)

    ax = fig.add_subplot(grid[2, 1])
    per_min = m.increase("wanbot_credits_spent_total", 60.0)
    ax.fill_between(t, per_min, color="#5794f2", alpha=0.25, linewidth=0)
    ax.plot(t, per_min, color="#5794f2", linewidth=1.6, label="credits captured, last minute")
    _style(ax, "Credits spent (increase over 1 min)", "credits")
    _phases(ax, phases)
    _legend(ax)

    ax = fig.add_subplot(grid[3, 0])
    for provider in m.label_values("wanbot_host_balance", "provider"):
        values = m.gauge("wanbot_host_balance", provider=provider)
        known = [(x, v) for x, v, s in zip(t, values, scrapes, strict=True) if _has(s, provider)]
        if known:
            xs, ys = zip(*known, strict=True)
            ax.plot(xs, ys, color="#ff9830", linewidth=1.8, label=provider, drawstyle="steps-post")
    if low_balance > 0:
        ax.axhline(low_balance, color="#f2495c", linestyle="--", linewidth=1, label="low_balance")
    _style(ax, "Host balance (as the host reports it)", "host credits")
    _phases(ax, phases)
    _legend(ax)

    ax = fig.add_subplot(grid[3, 1])
    per_min = m.increase("wanbot_discord_429_total", 60.0)
    ax.fill_between(t, per_min, color="#f2495c", alpha=0.25, linewidth=0)
    ax.plot(t, per_min, color="#f2495c", linewidth=1.6, label="429 answers, last minute")
    _style(ax, "Discord 429s (increase over 1 min)", "answers")
    _phases(ax, phases)
    _legend(ax)

    fig.subplots_adjust(left=0.06, right=0.985, top=0.915, bottom=0.04)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90, facecolor=BACKGROUND)
    plt.close(fig)


def _has(scrape: Scrape, provider: str) -> bool:
    return ("wanbot_host_balance", (("provider", provider),)) in scrape.values


def _stats(ax: Axes, m: Scrapes, phases: Sequence[tuple[float, float, str]]) -> None:
    """The dashboard's single-number panels, for the whole run, and what the load did when."""
    ax.set_axis_off()
    balances = [
        m.last("wanbot_host_balance", provider=p)
        for p in m.label_values("wanbot_host_balance", "provider")
    ]
    stats: list[tuple[str, str, str]] = [
        (f"{m.last('wanbot_jobs_total', outcome=o):.0f}", o, OUTCOME_COLOURS[o])
        for o in OUTCOME_COLOURS
    ]
    stats += [
        (f"{m.last('wanbot_credits_spent_total'):.0f}", "credits spent", "#5794f2"),
        (f"{min(balances):.0f}" if balances else "-", "host balance now", "#ff9830"),
        (f"{m.last('wanbot_discord_429_total'):.0f}", "Discord 429s", "#f2495c"),
    ]
    width = 1 / len(stats)
    for i, (value, label, colour) in enumerate(stats):
        x = i * width + 0.01
        ax.add_patch(
            matplotlib.patches.FancyBboxPatch(
                (x, 0.33),
                width - 0.02,
                0.67,
                boxstyle="round,pad=0,rounding_size=0.02",
                facecolor=PANEL,
                edgecolor="none",
                transform=ax.transAxes,
            )
        )
        ax.text(x + 0.012, 0.83, label, color=MUTED, fontsize=9, transform=ax.transAxes)
        ax.text(
            x + 0.012, 0.42, value, color=colour, fontsize=22, weight="bold", transform=ax.transAxes
        )
    end = max((e for _, e, _ in phases), default=1.0)
    words: list[Any] = [f"{_mmss(s)}-{_mmss(e)} {label}" for s, e, label in phases if label]
    ax.text(
        0.01,
        0.06,
        "Load: " + " · ".join(words) + f"  (shaded in the panels; run {_mmss(end)})",
        color=MUTED,
        fontsize=8.5,
        transform=ax.transAxes,
    )


def _mmss(seconds: float) -> str:
    return f"{int(seconds) // 60}:{int(seconds) % 60:02d}"
