"""One look per method across every figure of the project: colour, marker, line style, label.

Every benchmark plot draws a method with ``**plot_style(method)`` so that GOA is the same blue
line everywhere. Colours are matplotlib's "tab10" palette plus black; markers and line styles
differ as well, so that the figures also read in grey scale.
"""

from __future__ import annotations

from typing import Any

METHOD_STYLE: dict[str, dict[str, str]] = {
    "goa": {"color": "tab:blue", "marker": "o", "linestyle": "-", "label": "GOA"},
    "goa_ls": {"color": "tab:red", "marker": "*", "linestyle": "-", "label": "GOA + local search"},
    "goa_reference": {"color": "tab:blue", "marker": "o", "linestyle": ":",
                      "label": "GOA, plain-Python reference"},
    "local_all": {"color": "tab:gray", "marker": "x", "linestyle": ":", "label": "local-all"},
    "edge_all": {"color": "tab:brown", "marker": "s", "linestyle": "--", "label": "edge-all"},
    "random": {"color": "tab:pink", "marker": "v", "linestyle": ":", "label": "random"},
    "dmin": {"color": "tab:olive", "marker": "^", "linestyle": "-.", "label": "d-min"},
    "ga": {"color": "tab:green", "marker": "D", "linestyle": "--", "label": "GA"},
    "exact": {"color": "black", "marker": "P", "linestyle": "-", "label": "exact"},
    "exact_none": {"color": "black", "marker": "P", "linestyle": "-", "label": 'exact, "none"'},
    "exact_full": {"color": "black", "marker": "X", "linestyle": "--", "label": 'exact, "full"'},
    "acc_greedy": {"color": "tab:purple", "marker": "h", "linestyle": "-.",
                   "label": "accuracy greedy"},
    "oracle": {"color": "tab:cyan", "marker": "p", "linestyle": "--", "label": "oracle"},
    "front": {"color": "tab:orange", "marker": ".", "linestyle": "-", "label": "Pareto front"},
    # policies of the simulator (benchmarks.online)
    "threshold": {"color": "tab:purple", "marker": "<", "linestyle": "-.",
                  "label": "threshold (alpha > tau)"},
    "static_goa": {"color": "tab:orange", "marker": "o", "linestyle": "--",
                   "label": "static plan, GOA"},
    "static_goa_ls": {"color": "tab:green", "marker": "*", "linestyle": "--",
                      "label": "static plan, goa_ls"},
    "goa_per_arrival": {"color": "tab:cyan", "marker": "o", "linestyle": ":",
                        "label": "GOA at each arrival"},
}

_FALLBACK = {"color": "tab:gray", "marker": "o", "linestyle": "-"}


def plot_style(method: str, **overrides: Any) -> dict[str, Any]:
    """Keyword arguments for ``Axes.plot`` / ``errorbar`` drawing ``method`` (an unknown method
    gets a grey line labelled by its name); ``overrides`` win."""
    style = dict(METHOD_STYLE.get(method, {**_FALLBACK, "label": method}))
    style.update(overrides)
    return style


def legend_below(fig, axes, ncol: int = 5, fontsize: float = 7) -> None:
    """One legend for all ``axes`` (each label once), below them, so that it never covers a
    line; lays the figure out to leave it room (call instead of ``fig.tight_layout()``)."""
    labels: dict = {}
    for ax in axes:
        for handle, text in zip(*ax.get_legend_handles_labels()):
            labels.setdefault(text, handle)
    rows = -(-len(labels) // ncol)
    height = fig.get_size_inches()[1]
    room = min(0.4, (0.2 + 0.16 * rows) / height)  # inches of legend over the figure's height
    fig.tight_layout(rect=(0, room, 1, 1))
    fig.legend(list(labels.values()), list(labels), loc="lower center", ncol=ncol,
               fontsize=fontsize, frameon=False)
