"""Training plots with matplotlib (the `[train]` extra)."""

import io

import matplotlib

matplotlib.use("Agg")  # no screen on a telescope-side machine or in CI
import matplotlib.pyplot as plt  # noqa: E402


def training_curves_png(history):
    """Loss, accuracy and AUC per epoch, training against validation, as PNG bytes."""
    panels = [("loss", "loss"), ("accuracy", "accuracy"), ("auc", "AUC")]
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
    epochs = range(1, len(history["loss"]) + 1)
    for ax, (key, title) in zip(axes, panels):
        if key in history:  # a distributed run measures AUC on validation only
            ax.plot(epochs, history[key], "o-", label="training")
        if f"val_{key}" in history:
            ax.plot(epochs, history[f"val_{key}"], "s-", label="validation")
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[0].legend()
    fig.tight_layout()
    return _png(fig)


def _png(fig):
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()
