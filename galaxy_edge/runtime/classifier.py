"""Run a galaxy-edge `.tflite` model on preprocessed images with the LiteRT interpreter."""

import contextlib
import copy
from pathlib import Path

import numpy as np

from galaxy_edge.errors import ModelError
from galaxy_edge.metadata import load_model_metadata
from galaxy_edge.runtime.interpreter import interpreter_class, tflite_runtime_broken

# Bytes 4-8 of every TFLite flatbuffer.
TFLITE_IDENTIFIER = b"TFL3"
# A model this project makes is ~100 KB; a file far larger is not one of ours (and is not read whole).
MAX_MODEL_BYTES = 256 * 2**20


def read_model_bytes(path):
    """The bytes of a `.tflite` file, refusing early, with the reason, what is not a TFLite model.

    Raises:
        ModelError: missing, not a regular file, unreadable, a Keras model, or not TFLite.
    """
    content = read_model_file(path)
    if content[4:8] != TFLITE_IDENTIFIER:
        raise ModelError(f"{path}: not a loadable TFLite model (no TFLite identifier in its header)")
    return content


def read_model_file(path):
    """The bytes of a model file of any format, refusing what cannot be one of ours.

    Raises:
        ModelError: missing, not a regular file, unreadable, too large, or a Keras model.
    """
    from galaxy_edge.regular_files import describe_os_error, open_regular

    path = Path(path)
    if path.suffix == ".keras" or (path / "model.keras").exists():
        raise ModelError(
            f"{path}: is a Keras model (a training run); the device runs an exported .tflite: "
            f"run `galaxy-edge export {path}` and pass --model export/model_int8.tflite"
        )
    try:
        with open_regular(path) as f:
            content = f.read(MAX_MODEL_BYTES + 1)
    except FileNotFoundError:
        raise ModelError(f"{path}: no such model file") from None
    except OSError as e:
        raise ModelError(f"{path}: {describe_os_error(e)}") from None
    if len(content) > MAX_MODEL_BYTES:
        raise ModelError(f"{path}: over {MAX_MODEL_BYTES // 2**20} MB, not a galaxy-edge model")
    return content


def open_model(model_path, num_threads=1):
    """A `Classifier` for a `.tflite` file, or an `OnnxClassifier` (onnxruntime) for a `.onnx` file."""
    if Path(model_path).suffix.lower() == ".onnx":
        from galaxy_edge.runtime.onnx_runner import OnnxClassifier

        return OnnxClassifier(model_path, num_threads=num_threads)
    return Classifier(model_path, num_threads=num_threads)


class Classifier:
    """A loaded model, ready to classify (size, size, 3) uint8 RGB images.

    Args:
        model_path: a `.tflite` file with its `.json` metadata beside it (without it, the
            metadata embedded in the model is used and `warnings` says so).
        num_threads: interpreter threads; 1 suits one image at a time on a small device.

    Attributes:
        warnings: things the user should know about this model (e.g. its sidecar was missing).

    Raises:
        ModelError: the file is missing or not a TFLite model, its metadata is missing,
            or the two disagree (input shape, class count).
        RuntimeMissingError: no LiteRT interpreter is installed.
    """

    def __init__(self, model_path, num_threads=1):
        self.model_path = Path(model_path)
        content = read_model_bytes(self.model_path)
        self.metadata, warning = load_model_metadata(self.model_path, content)
        self.warnings = [warning] if warning else []
        self.class_names = list(self.metadata["class_names"])
        self._interpreter_class, self.runtime_name, self.runtime_version = interpreter_class()
        # The bytes just hashed are the bytes run: no window for the file to change in between.
        # They are kept (~100 KB) for the interpreters of `replica`.
        self._content = content
        self.num_threads = num_threads
        self.interpreter = self._new_interpreter()
        self._spares = []
        inputs, outputs = self.interpreter.get_input_details(), self.interpreter.get_output_details()
        if len(inputs) != 1 or len(outputs) != 1:
            raise ModelError(f"{model_path}: expected one input and one output tensor")
        # The interpreter's own tensor details: shape, dtype, index and (scale, zero point).
        self.input_details, self.output_details = inputs[0], outputs[0]
        size = self.metadata["input"]["height"]
        if tuple(self.input_details["shape"]) != (1, size, size, 3):
            raise ModelError(f"{model_path}: input shape {tuple(self.input_details['shape'])} is not (1, {size}, {size}, 3)")
        if tuple(self.output_details["shape"]) != (1, len(self.class_names)):
            raise ModelError(
                f"{model_path}: output shape {tuple(self.output_details['shape'])} does not match "
                f"{len(self.class_names)} classes in its metadata"
            )
        self.input_size = size
        self.input_dtype = np.dtype(self.input_details["dtype"])

    def _new_interpreter(self):
        try:
            interpreter = self._interpreter_class(model_content=self._content, num_threads=self.num_threads)
            interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as e:
            raise ModelError(f"{self.model_path}: not a loadable TFLite model ({e})") from None
        except Exception as e:  # noqa: BLE001 - tflite-runtime under numpy 2 fails at first use
            if self.runtime_name != "tflite-runtime":
                raise
            raise tflite_runtime_broken(e) from None
        return interpreter

    def replica(self):
        """The same model with an interpreter of its own, for another thread to run.

        A LiteRT interpreter holds its input and output tensors, so two threads must never share one.
        """
        twin = copy.copy(self)
        twin.interpreter, twin._spares = self._new_interpreter(), []
        return twin

    @contextlib.contextmanager
    def borrowed(self):
        """A replica for one thread's use while the `with` block runs; kept afterwards for the next borrower.

        Threads that classify in turn (a pool's workers, batch after batch) thus load the model once each.
        """
        # list.pop and list.append are atomic: no lock is needed between borrowing threads.
        try:
            twin = self._spares.pop()
        except IndexError:
            twin = self.replica()
        try:
            yield twin
        finally:
            self._spares.append(twin)

    def quantize(self, image):
        """The model's input tensor for one uint8 image, using the model's own scale and zero point."""
        x = image[np.newaxis]
        if self.input_dtype == np.float32:
            return x.astype(np.float32)
        scale, zero_point = self.input_details["quantization"]
        if scale == 1.0 and zero_point == 0 and self.input_dtype == np.uint8:
            # Today's int8 export (rescaling inside the model): the raw pixels are the input.
            return x
        if scale == 1.0 and zero_point == -128 and self.input_dtype == np.int8:
            # int8-input models from earlier exports, which users still have: uint8 -> int8 is a shift.
            return (x.astype(np.int16) - 128).astype(np.int8)
        info = np.iinfo(self.input_dtype)
        q = np.round(x.astype(np.float32) / scale + zero_point)
        return np.clip(q, info.min, info.max).astype(self.input_dtype)

    def invoke(self, tensor):
        """Run the interpreter on a ready input tensor; return the raw output tensor."""
        self.bind(tensor)()
        return self.interpreter.get_tensor(self.output_details["index"])[0]

    def bind(self, tensor):
        """Set the input to `tensor`; return a no-argument function that runs the model once on it."""
        self.interpreter.set_tensor(self.input_details["index"], tensor)
        return self.interpreter.invoke

    def dequantize(self, raw):
        if raw.dtype == np.float32:
            return raw
        scale, zero_point = self.output_details["quantization"]
        return (raw.astype(np.float32) - zero_point) * scale

    def probabilities(self, image):
        """Class probabilities (C,) float32 for one (size, size, 3) uint8 image."""
        if image.shape != (self.input_size, self.input_size, 3) or image.dtype != np.uint8:
            raise ModelError(
                f"image of shape {image.shape} {image.dtype} does not fit the model's "
                f"({self.input_size}, {self.input_size}, 3) uint8 input"
            )
        return self.dequantize(self.invoke(self.quantize(image)))

    def probabilities_batch(self, images):
        """(N, C) probabilities for (N, size, size, 3) uint8 images, one invoke each."""
        return np.stack([self.probabilities(im) for im in images]) if len(images) else np.zeros((0, len(self.class_names)))
