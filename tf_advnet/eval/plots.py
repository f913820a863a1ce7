"""Matplotlib figures: accuracy vs eps, accuracy vs attack steps, multi-panel curves."""

import os


def _plt():
    import matplotlib

    matplotlib.use("Agg")  # headless: CI and servers have no display
    import matplotlib.pyplot as plt

    return plt


def plot_curves(path, x_values, curves, *, xlabel, ylabel="accuracy (%)",
                title=None, logx=False):
    """Writes a line plot with one curve per entry of `curves` (name -> values)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.0, 3.6), dpi=120)
    for name, ys in curves.items():
        ax.plot(x_values, [100 * v for v in ys], marker="o", label=name)
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    if title:
        ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_panels(path, panels, *, xlabel, title=None, marker="o"):
    """Writes side-by-side line plots sharing the x label.

    Args:
      path: output image path.
      panels: list of (ylabel, {name: (x_values, y_values)}).
      xlabel: the x axis label of every panel.
      title: optional figure title.
      marker: matplotlib marker of the lines.
    """
    plt = _plt()
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 3.6), dpi=120,
                             squeeze=False)
    for ax, (ylabel, curves) in zip(axes[0], panels):
        for name, (xs, ys) in curves.items():
            ax.plot(xs, ys, marker=marker, label=name)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
