"""Third-party code kept here, unchanged.

`metadata_schema_py_generated.py`: the Python classes flatc generates from the public TFLite
Metadata schema (metadata_schema.fbs, version 1.5.0, file identifier "M001"), taken from the
`mediapipe` 1.2.3 wheel (mediapipe/tasks/metadata/; Apache License 2.0, The MediaPipe Authors);
only a first line naming its source was added. It needs only `flatbuffers`. Kept here because
neither maintained writer works beside TensorFlow 2.21 today: `tflite-support` pins
protobuf < 4, and mediapipe 1.2.3's metadata populator imports `_pywrap_metadata_version`,
which its wheel does not ship. Only the export (the [train] extra) imports it; the device
reads embedded labels with `zipfile`.
"""
