"""Matplotlib figures: accuracy vs eps, accuracy vs attack steps."""

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
