"""Run a galaxy-edge `.onnx` model with onnxruntime: the `[onnx]` extra, imported only for `.onnx` files.

The ONNX export is float32 and, like the `.tflite` files, takes raw 0-255 pixels: the model
rescales them itself. Same interface as `Classifier`, so classify and benchmark take either.
"""

from pathlib import Path

import numpy as np

from galaxy_edge.errors import ModelError, RuntimeMissingError
from galaxy_edge.metadata import check_model_hash, read_sidecar, sidecar_path
from galaxy_edge.runtime.classifier import Classifier, read_model_file

INSTALL_HINT = "pip install 'galaxy-edge[onnx]'  (onnxruntime)"


class OnnxClassifier(Classifier):
    """A loaded `.onnx` model with its `.json` metadata beside it (hash checked), run by onnxruntime on the CPU.

    Raises:
        ModelError: the file is missing, not ONNX, or disagrees with its metadata.
        RuntimeMissingError: onnxruntime is not installed.
    """

    def __init__(self, model_path, num_threads=1):
        try:
            import onnxruntime
        except ImportError:
            raise RuntimeMissingError(f"{model_path}: running an ONNX model needs onnxruntime: {INSTALL_HINT}") from None
        self.model_path = Path(model_path)
        content = read_model_file(self.model_path)
        self.metadata = read_sidecar(self.model_path)
        check_model_hash(self.metadata, content, model_path, sidecar_path(model_path))
        self.warnings = []
        self.class_names = list(self.metadata["class_names"])
        self.runtime_name, self.runtime_version = "onnxruntime", onnxruntime.__version__
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = num_threads
        options.inter_op_num_threads = 1
        try:
            # The bytes just hashed are the bytes run.
            self.session = onnxruntime.InferenceSession(content, options, providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime raises its own exception types for unreadable files
            raise ModelError(f"{model_path}: not a loadable ONNX model ({e})") from None
        self.num_threads = num_threads
        self._spares = []
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if len(inputs) != 1 or len(outputs) != 1:
            raise ModelError(f"{model_path}: expected one input and one output tensor")
        size = self.metadata["input"]["height"]
        shape = tuple(inputs[0].shape)
        # The batch dimension may be symbolic; the image dimensions must be the model's.
        if len(shape) != 4 or shape[1:] != (size, size, 3) or inputs[0].type != "tensor(float)":
            raise ModelError(f"{model_path}: input {inputs[0].type} {shape} is not (batch, {size}, {size}, 3) float")
        self.input_name, self.output_name = inputs[0].name, outputs[0].name
        self.input_size = size
        self.input_dtype = np.dtype(np.float32)

    def replica(self):
        """This classifier itself: an onnxruntime session may be run by several threads at once."""
        return self

    def quantize(self, image):
        """The model's input: one uint8 image as a float32 batch of one, still 0-255."""
        return image[np.newaxis].astype(np.float32)

    def invoke(self, tensor):
        return self.bind(tensor)()[0][0]

    def bind(self, tensor):
        """A no-argument function that runs the model once on `tensor` and returns its outputs."""
        feed, names = {self.input_name: tensor}, [self.output_name]
        return lambda: self.session.run(names, feed)

    def dequantize(self, raw):
        return raw
