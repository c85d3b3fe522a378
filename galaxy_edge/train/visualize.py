"""`galaxy-edge visualize`: what each convolutional layer sees (the seed project's step 8)."""

import io

import numpy as np

from galaxy_edge.preprocess import load_image


def feature_maps_png(run, image_paths, max_maps=8):
    """A grid, one block per image: the input, then one row per Conv2D layer of its first feature maps.

    Args:
        run: a run folder (or its model.keras).
        image_paths: image files, preprocessed exactly as for classification.
        max_maps: feature maps shown per layer.

    Returns:
        PNG bytes.

    Raises:
        ImageError: an image cannot be read.
    """
    import keras
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from galaxy_edge.train.loop import load_run_model

    model, _ = load_run_model(run)
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    probe = keras.Model(model.inputs, [layer.output for layer in convs])
    images = np.stack([load_image(p) for p in image_paths])
    maps = probe.predict(images.astype(np.float32), verbose=0)
    if len(convs) == 1:
        maps = [maps]

    rows = len(images) * (len(convs) + 1)
    fig, axes = plt.subplots(rows, max_maps, figsize=(max_maps * 1.3, rows * 1.4), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i, (path, image) in enumerate(zip(image_paths, images)):
        top = i * (len(convs) + 1)
        axes[top, 0].imshow(image)
        axes[top, 0].set_title(str(path)[-28:], fontsize=7, loc="left")
        for j, (layer, fmap) in enumerate(zip(convs, maps)):
            channels = fmap[i]
            for k in range(min(max_maps, channels.shape[-1])):
                ax = axes[top + 1 + j, k]
                ax.imshow(channels[..., k], cmap="viridis")
                if k == 0:
                    ax.set_title(f"{layer.name} {channels.shape[0]}x{channels.shape[1]}", fontsize=7, loc="left")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return buf.getvalue()
