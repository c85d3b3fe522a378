"""`evaluate` on a Keras run: the one branch of the device commands that needs TensorFlow."""

import json

import pytest
from click.testing import CliRunner

from conftest import needs_tf
from galaxy_edge.cli import cli


def evaluate(model, data):
    result = CliRunner().invoke(cli, ["evaluate", "--model", str(model), "--data", str(data), "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.mark.slow
@needs_tf
def test_evaluate_keras_run_agrees_with_its_float32_export(built_models):
    keras = evaluate(built_models["run"], built_models["data"])
    lite = evaluate(built_models["float32"], built_models["data"])
    assert keras["runtime"]["runtime"] == "keras"
    assert keras["n"] == lite["n"] > 0
    assert keras["accuracy"] == pytest.approx(lite["accuracy"], abs=0.03)
    assert keras["auc"] == pytest.approx(lite["auc"], abs=0.02)
