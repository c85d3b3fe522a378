"""Training and export: the `[train]` extra. Everything under here may import TensorFlow."""
