"""`train --distribute` with the real tf.distribute strategies on CPU, and `--stream` from disk.

Two logical CPU devices stand in for two GPUs (MirroredStrategy), and two local processes with
TF_CONFIG on localhost ports for two machines (MultiWorkerMirroredStrategy). Tiny data, a few steps.
"""

import json
import os
import socket
import subprocess
import sys

import pytest
from click.testing import CliRunner

from conftest import needs_tf
from galaxy_edge.cli import cli

pytestmark = [needs_tf, pytest.mark.slow]

# The logical devices must be set before TensorFlow starts, so this runs in its own process.
TWO_CPU_DEVICES = """
import sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from galaxy_edge.cli import main
sys.argv = ["galaxy-edge", *sys.argv[1:]]
main()
"""


@pytest.fixture(scope="module")
def tiny_npz(tmp_path_factory):
    from galaxy_edge.data.npz import save_npz
    from galaxy_edge.data.synth import generate

    path = tmp_path_factory.mktemp("data") / "tiny.npz"
    save_npz(path, *generate(40, seed=1))
    return path


@pytest.fixture(scope="module")
def class_folder(tmp_path_factory):
    from galaxy_edge.data.synth_io import write_synthetic

    folder = tmp_path_factory.mktemp("folder") / "sky"
    write_synthetic(folder, 40, 2, "png", False, log=lambda *a: None)
    return folder


def _env():
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}


def test_mirrored_on_two_devices_scales_and_states_batch_and_learning_rate(tiny_npz, tmp_path):
    run = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, "-c", TWO_CPU_DEVICES, "train", "--data", str(tiny_npz), "--distribute", "mirrored",
         "--epochs", "2", "--batch-size", "4", "--learning-rate", "0.002", "--out", str(run)],
        capture_output=True, text=True, timeout=600, env=_env(),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert ("Distributed: MirroredStrategy, 2 replica(s) on 1 worker(s); global batch 8 = 4 per replica x 2; "
            "learning rate 0.004 = 0.002 x 2 (linear scaling)") in result.stderr
    plan = json.loads((run / "metrics.json").read_text())["distribute"]
    assert plan["replicas"] == 2 and plan["global_batch_size"] == 8 and plan["learning_rate"] == pytest.approx(0.004)
    history = json.loads((run / "history.json").read_text())
    assert len(history["loss"]) == 2 and len(history["val_auc"]) == 2
    assert (run / "model.keras").is_file() and (run / "calibration.npz").is_file()


def test_multi_worker_on_two_processes_streams_a_folder_and_writes_one_run(class_folder, tmp_path):
    run = tmp_path / "run"
    ports = _free_ports(2)
    procs = []
    for index in range(2):
        config = {"cluster": {"worker": [f"localhost:{p}" for p in ports]}, "task": {"type": "worker", "index": index}}
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "galaxy_edge", "train", "--data", str(class_folder), "--stream",
             "--distribute", "multi-worker", "--epochs", "1", "--batch-size", "4", "--out", str(run)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**_env(), "TF_CONFIG": json.dumps(config)},
        ))
    logs = [p.communicate(timeout=600)[1] for p in procs]
    for proc, log in zip(procs, logs):
        assert proc.returncode == 0, log[-3000:]
    for log in logs:
        assert "MultiWorkerMirroredStrategy, 2 replica(s) on 2 worker(s); global batch 8 = 4 per replica x 2" in log
        assert "(training images streamed from disk)" in log
    assert "Run written to" in logs[0]
    assert f"Worker 1: done; worker 0 writes the run to {run}" in logs[1] and "Run written to" not in logs[1]
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["distribute"]["workers"] == 2 and metrics["n_train"] + metrics["n_val"] == 40
    # Both workers trained the same synchronised weights: the same loss, to the printed digit.
    assert _epoch_line(logs[0]).split(", val_")[0] == _epoch_line(logs[1]).split(", val_")[0]


def test_stream_trains_from_a_folder_without_distribute(class_folder, tmp_path):
    result = CliRunner().invoke(cli, ["train", "--data", str(class_folder), "--stream", "--epochs", "2",
                                      "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    assert "32 training and 8 validation images (training images streamed from disk)" in result.output
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["n_val"] == 8
    assert len(json.loads((tmp_path / "run" / "history.json").read_text())["loss"]) == 2


def test_stream_needs_an_image_folder(tiny_npz, tmp_path):
    result = CliRunner().invoke(cli, ["train", "--data", str(tiny_npz), "--stream", "--out", str(tmp_path / "run")])
    assert result.exit_code == 1
    assert result.output.strip() == f"Error: {tiny_npz}: --stream reads an image folder (DIR/<class>/)"


def test_multi_worker_without_tf_config_is_a_clear_error(tiny_npz, tmp_path, monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    result = CliRunner().invoke(cli, ["train", "--data", str(tiny_npz), "--distribute", "multi-worker",
                                      "--out", str(tmp_path / "run")])
    assert result.exit_code == 1
    assert result.output.startswith("Error: --distribute multi-worker needs TF_CONFIG: ")


def _epoch_line(log):
    return [line for line in log.splitlines() if line.startswith("Epoch 1/1:")][0]


def _free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports
