"""The device path: LiteRT interpreter, classifier, benchmark and watch mode. Never imports TensorFlow."""
