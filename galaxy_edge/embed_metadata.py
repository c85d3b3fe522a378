"""Embed TFLite Model Metadata in an exported model, so it drops into the TFLite ecosystem.

MediaPipe's `ImageClassifier`, the TF Lite Task Library (the Raspberry Pi example) and Android
Studio read a classifier's labels and preprocessing from metadata inside the `.tflite` file: a
`TFLITE_METADATA` buffer (a flatbuffer of the public metadata schema) plus the associated files
(labels) appended to the model as an uncompressed zip. This module writes both, with the
generated schema classes in `galaxy_edge.vendor` (see there why not a writer package) and
TensorFlow's own flatbuffer tools for the model. The [train] extra only: the device reads the
appended zip with `zipfile` (`galaxy_edge.metadata.read_embedded`).
"""

import io
import json
import zipfile

from galaxy_edge.metadata import EMBEDDED_LABELS, EMBEDDED_RECIPE

METADATA_NAME = "TFLITE_METADATA"
METADATA_IDENTIFIER = b"M001"
# Every field written here is in schema version 1.0.0; readers refuse a file that asks for more than they know.
MIN_PARSER_VERSION = "1.0.0"
AUTHOR = "galaxy-edge"
LICENSE = "MIT"


def embed(tflite, recipe):
    """Return `tflite` (bytes from the converter) with metadata and labels embedded.

    Args:
        tflite: a converted model without metadata.
        recipe: the galaxy-edge metadata of this model (class names, input spec, variant,
            provenance): embedded whole as `galaxy_edge.json`, and the source of every field.

    Returns:
        The model bytes: the model flatbuffer (with a `TFLITE_METADATA` buffer), then a zip
        holding `labels.txt` and `galaxy_edge.json`.
    """
    import flatbuffers
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(tflite))
    builder = flatbuffers.Builder(0)
    builder.Finish(_model_metadata(recipe).Pack(builder), METADATA_IDENTIFIER)
    buffer = schema.BufferT()
    buffer.data = bytearray(builder.Output())
    model.buffers.append(buffer)
    entry = schema.MetadataT()
    entry.name, entry.buffer = METADATA_NAME, len(model.buffers) - 1
    model.metadata = [m for m in (model.metadata or []) if m.name != METADATA_NAME.encode()] + [entry]

    out = io.BytesIO(flatbuffer_utils.convert_object_to_bytearray(model))
    out.seek(0, io.SEEK_END)
    # Appending to a non-zip file writes a zip after it; readers find it from the end of the file.
    # Stored, not deflated: the TFLite Support and MediaPipe extractors read uncompressed members.
    with zipfile.ZipFile(out, "a", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr(EMBEDDED_LABELS, "\n".join(recipe["class_names"]) + "\n")
        zf.writestr(EMBEDDED_RECIPE, json.dumps(recipe, indent=1, sort_keys=True))
    return out.getvalue()


def _model_metadata(recipe):
    from galaxy_edge.vendor import metadata_schema_py_generated as md

    inp = recipe["input"]
    classes = ", ".join(recipe["class_names"])
    model = md.ModelMetadataT()
    model.name = f"galaxy-edge galaxy morphology classifier ({recipe['variant']})"
    model.description = (
        f"Sorts a {inp['height']}x{inp['width']} RGB galaxy cut-out into {classes}. "
        f"Input: raw 0-255 pixels, {inp['preprocessing']} (the model rescales to [0, 1] itself). "
        f"Architecture {recipe['arch']!r}; galaxy-edge recipe in {EMBEDDED_RECIPE}."
    )
    model.version = f"galaxy-edge {recipe['versions']['galaxy_edge']}, source model sha256 {recipe['source_model_sha256'][:12]}"
    model.author = AUTHOR
    model.license = LICENSE
    model.minParserVersion = MIN_PARSER_VERSION
    model.associatedFiles = [_file(md, EMBEDDED_RECIPE, "galaxy-edge recipe: preprocessing, classes, provenance (JSON).",
                                   md.AssociatedFileType.DESCRIPTIONS)]

    image = md.TensorMetadataT()
    image.name = "image"
    image.description = f"One {inp['height']}x{inp['width']} RGB image, 0-255 per channel, {inp['preprocessing']}."
    image.content = md.ContentT()
    image.content.contentPropertiesType = md.ContentProperties.ImageProperties
    image.content.contentProperties = md.ImagePropertiesT()
    image.content.contentProperties.colorSpace = md.ColorSpaceType.RGB
    # Mean 0, std 1: clients pass the pixels through unchanged; the model does its own scaling.
    norm = md.NormalizationOptionsT()
    norm.mean, norm.std = [0.0], [1.0]
    unit = md.ProcessUnitT()
    unit.optionsType = md.ProcessUnitOptions.NormalizationOptions
    unit.options = norm
    image.processUnits = [unit]
    image.stats = _stats(md, 0.0, 255.0)

    scores = md.TensorMetadataT()
    scores.name = "probability"
    scores.description = f"Probabilities of {classes} (softmax, in this order)."
    scores.content = md.ContentT()
    scores.content.contentPropertiesType = md.ContentProperties.FeatureProperties
    scores.content.contentProperties = md.FeaturePropertiesT()
    scores.stats = _stats(md, 0.0, 1.0)
    scores.associatedFiles = [_file(md, EMBEDDED_LABELS, "Class names, one a line, in output order.",
                                    md.AssociatedFileType.TENSOR_AXIS_LABELS)]

    subgraph = md.SubGraphMetadataT()
    subgraph.inputTensorMetadata = [image]
    subgraph.outputTensorMetadata = [scores]
    model.subgraphMetadata = [subgraph]
    return model


def _stats(md, low, high):
    stats = md.StatsT()
    stats.min, stats.max = [low], [high]
    return stats


def _file(md, name, description, kind):
    f = md.AssociatedFileT()
    f.name, f.description, f.type = name, description, kind
    return f

