"""A picture of one drop and one plan: where the users and the edge servers stand, and who
offloads where.

``python -m instances show FILE --plot OUT.png [--method M --tau T]`` draws it for the plan of a
registered heuristic (found by name in :mod:`instances.starts`); ``python -m benchmarks.gap
--plot-plans`` draws one per instance it solved (the exact method's plan). matplotlib is imported
here, when a picture is drawn, on its non-interactive Agg backend.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from .evaluate import evaluate
from .instance import Instance, check_tau
from .io import atomic_write_bytes

#: alpha bins of the users' markers: (upper edge, marker, label); a user in the last bin
#: above tau is forced to the edge (drawn with a black edge as well)
ALPHA_MARKERS = ((0.4, "o", "alpha <= 0.4"), (0.8, "D", "0.4 < alpha <= 0.8"),
                 (np.inf, "^", "alpha > 0.8"))
LOCAL_COLOUR = "0.55"


def server_colours(n_servers: int) -> list:
    """One colour per ES (matplotlib's tab10, then tab20 for more than 10)."""
    from matplotlib import colormaps

    palette = colormaps["tab10" if n_servers <= 10 else "tab20"]
    return [palette(j % palette.N) for j in range(n_servers)]


def plot_plan(instance: Instance, assignment, path: str | Path, *, tau: float | None = None,
              label: str = "plan") -> Path:
    """Draw ``instance`` with ``assignment`` (-1 local, j on ES j) into the image ``path``.

    Users are markers shaped by their alpha bin (:data:`ALPHA_MARKERS`; those with alpha > tau,
    forced to the edge, get a black edge) and coloured by their place (grey: on the device, else
    the colour of their ES); a line joins each offloading user to its ES; the ESs are large
    squares labelled with their load. The title gives ``label``, tau, the total delay and the
    accuracy (both from :func:`instances.evaluate`).

    The file is written to a temporary file and renamed: a failed draw leaves nothing.
    Returns the path written.

    Raises
    ------
    ValueError
        If ``assignment`` is not a valid plan of ``instance`` or ``tau`` is not in [0, 1].
    """
    ev = evaluate(instance, assignment, tau=tau)
    plan = np.asarray(assignment, dtype=np.int64)
    if tau is not None:
        tau = check_tau(tau)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    colours = server_colours(instance.n_servers)
    users, servers = instance.user_xy_m, instance.server_xy_m
    fig, ax = plt.subplots(figsize=(7.0, 6.4))
    for i in np.flatnonzero(plan >= 0):
        j = plan[i]
        ax.plot([users[i, 0], servers[j, 0]], [users[i, 1], servers[j, 1]], color=colours[j],
                lw=0.6, alpha=0.5, zorder=1)
    forced = instance.forced(tau) if tau is not None else np.zeros(instance.n_users, bool)
    lower = -np.inf
    for upper, marker, _ in ALPHA_MARKERS:
        chosen = (instance.alpha > lower) & (instance.alpha <= upper)
        lower = upper
        for i in np.flatnonzero(chosen):
            colour = LOCAL_COLOUR if plan[i] < 0 else colours[plan[i]]
            ax.scatter(users[i, 0], users[i, 1], s=36, marker=marker, color=colour,
                       edgecolors="black" if forced[i] else "none", linewidths=0.9, zorder=3)
    for j in range(instance.n_servers):
        ax.scatter(servers[j, 0], servers[j, 1], s=220, marker="s", color=colours[j],
                   edgecolors="black", linewidths=1.2, zorder=4)
        ax.annotate(f"ES {j}: {int(ev.loads[j])} users", servers[j], textcoords="offset points",
                    xytext=(9, 9), fontsize=8, zorder=5)
    # the square area, widened to any user or ES placed outside it
    points = np.vstack([users, servers, [[0.0, 0.0], [instance.area_m, instance.area_m]]])
    low, high = points.min(axis=0), points.max(axis=0)
    margin = 0.03 * float(max(high - low))
    ax.set_xlim(low[0] - margin, high[0] + margin)
    ax.set_ylim(low[1] - margin, high[1] + margin)
    ax.set_aspect("equal")
    ax.set_xlabel("x [m]")
    ax.set_ylabel("y [m]")
    ax.grid(True, alpha=0.2)
    guard = "" if tau is None else f", tau = {tau:g}"
    ax.set_title(f"{label}{guard}: N = {instance.n_users}, M = {instance.n_servers}, "
                 f"interference \"{instance.interference}\"\ntotal delay "
                 f"{ev.total_delay_ms:.1f} ms, accuracy {ev.accuracy_pct:.1f} %, "
                 f"{ev.n_offloaded} offloaded, {instance.n_users - ev.n_offloaded} local",
                 fontsize=9)
    handles = [Line2D([], [], ls="", marker=m, color="0.3", label=text)
               for _, m, text in ALPHA_MARKERS]
    handles.append(Line2D([], [], ls="", marker="o", color=LOCAL_COLOUR, label="on the device"))
    if tau is not None:
        handles.append(Line2D([], [], ls="", marker="o", color="white", markeredgecolor="black",
                              label="alpha > tau (forced to the edge)"))
    handles.append(Line2D([], [], ls="", marker="s", ms=10, color="0.8",
                          markeredgecolor="black", label="ES (users offloaded to it in its colour)"))
    # below the map, so that it never covers a user
    ax.legend(handles=handles, fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.1),
              ncol=3, frameon=False)
    fig.tight_layout()
    try:
        return save_figure(fig, path)
    finally:
        plt.close(fig)


def save_figure(fig, path: str | Path) -> Path:
    """``fig.savefig`` in the format of ``path``'s extension, written atomically (a temporary
    file renamed: :func:`instances.io.atomic_write_bytes`)."""
    path = Path(path)
    buffer = io.BytesIO()
    fig.savefig(buffer, format=path.suffix[1:].lower(), dpi=120)
    atomic_write_bytes(path, buffer.getvalue())
    return path


def image_formats() -> tuple[str, ...]:
    """The file extensions matplotlib can write (without the dot)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure()
    try:
        return tuple(sorted(fig.canvas.get_supported_filetypes()))
    finally:
        plt.close(fig)
