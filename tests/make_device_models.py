"""Build the tiny real models the device tests run on: `python -m tests.make_device_models DIR`.

The TensorFlow-free test venv cannot make `.tflite` files itself, so `make test-device` builds
them here first (with TensorFlow) and hands the folder over in GALAXY_EDGE_TEST_MODELS.
"""

import sys
from pathlib import Path

import numpy as np

# Raw (quantized) outputs of the int8 model on the build machine, for the device suite to check
# the device's int8 path against.
REFERENCE = "reference_int8.npz"


def write_int8_reference(model, path, count=32):
    """Run `count` synthetic galaxies through `model` with LiteRT here, and keep the raw (quantized) outputs.

    On another machine (a Raspberry Pi, the emulated arm64 chroot of `make test-aarch64`) the
    device suite compares its own raw outputs with these, within one quantization step: a broken
    int8 path (a CPU feature miscomputed, an emulator's bug) shows up there, where labels alone
    could still agree. (TensorFlow's reference kernels round differently from XNNPACK's, by up to
    two steps on this model, so they are not the yardstick.)
    """
    from galaxy_edge.data.synth import generate
    from galaxy_edge.runtime.classifier import Classifier

    images, _ = generate(count, seed=21)
    clf = Classifier(model)
    outputs = np.stack([clf.invoke(clf.quantize(image)) for image in images])
    np.savez(path, images=images, outputs=outputs)


def toy_galaxies(count, seed):
    """Synthetic galaxies with a colour cast per class: (N, 128, 128, 3) uint8 images and labels.

    The cast makes a toy task the tiny model learns in eight short epochs, so the parity tests
    compare confident, varied predictions rather than one class for every image (four were
    enough before the synthetic irregulars changed).
    """
    from galaxy_edge.data.synth import generate

    images, labels = generate(count, seed=seed)
    casts = np.array([[1.0, 0.3, 0.3], [0.3, 1.0, 0.3], [0.3, 0.3, 1.0], [1.0, 1.0, 1.0]])
    return (images * casts[labels][:, None, None, :]).astype(np.uint8), labels


def build(out, work):
    """Train a small model on synthetic galaxies in `work`; export int8, float32 and ONNX into `out`.

    Returns:
        {"run": run folder, "int8": Path, "float32": Path, "onnx": Path, "data": labelled npz}
    """
    from galaxy_edge.data.npz import save_npz
    from galaxy_edge.export import ExportOptions, export_run
    from galaxy_edge.train.loop import TrainOptions, train

    work, out = Path(work), Path(out)
    work.mkdir(parents=True, exist_ok=True)
    images, labels = toy_galaxies(160, seed=3)
    data = work / "synth160.npz"
    save_npz(data, images, labels)
    quiet = lambda *a, **k: None  # noqa: E731
    run, _ = train(TrainOptions(data=str(data), arch="edge", epochs=8, batch_size=16), work / "run", log=quiet)
    export_run(run, out, ExportOptions(variants=["int8", "float32"], min_agreement=0.0, onnx=True), log=quiet)
    write_int8_reference(out / "model_int8.tflite", out / REFERENCE)
    return {"run": run, "int8": out / "model_int8.tflite", "float32": out / "model_float32.tflite",
            "onnx": out / "model.onnx", "data": data}


if __name__ == "__main__":
    import tempfile

    target = Path(sys.argv[1] if len(sys.argv) > 1 else ".test-models")
    with tempfile.TemporaryDirectory() as tmp:
        build(target, tmp)
    print(f"test models in {target}")
