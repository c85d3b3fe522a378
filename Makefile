# Two entry points: `make demo` (train, export, classify on the embedded synthetic sky)
# and `make test` (the whole suite, then the runtime tests again on a TensorFlow-free install).
PYTHON ?= python3
VENV := .venv
DEVICE_VENV := .venv-device
BIN := $(VENV)/bin
DEMO_RUN := runs/demo

.PHONY: demo test test-device test-aarch64 setup setup-device clean

setup: $(VENV)/.installed
$(VENV)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[train,test]'
	touch $@

# The device install: base requirements only, as on a Raspberry Pi. No TensorFlow.
setup-device: $(DEVICE_VENV)/.installed
$(DEVICE_VENV)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(DEVICE_VENV)
	$(DEVICE_VENV)/bin/pip install --quiet --upgrade pip
	$(DEVICE_VENV)/bin/pip install --quiet '.[test]'
	touch $@

demo: setup
	$(BIN)/galaxy-edge train --out $(DEMO_RUN) --overwrite
	$(BIN)/galaxy-edge export $(DEMO_RUN) --int8 --float32 --out export
	$(BIN)/galaxy-edge synth --out runs/demo-images --count 8 --seed 7 --format png --overwrite
	$(BIN)/galaxy-edge classify --model export/model_int8.tflite runs/demo-images
	$(BIN)/galaxy-edge benchmark --model export/model_int8.tflite --compare export/model_float32.tflite --runs 200

test: setup setup-device
	$(BIN)/python -m pytest -q
	$(MAKE) test-device

# Builds the test models with TensorFlow, then runs the device tests where TensorFlow is absent.
test-device: setup setup-device
	$(DEVICE_VENV)/bin/pip install --quiet --no-deps --force-reinstall .
	$(BIN)/python -m tests.make_device_models .test-models
	cd tests && GALAXY_EDGE_TEST_MODELS=$(CURDIR)/.test-models ../$(DEVICE_VENV)/bin/python -m pytest -q -m device -p no:cacheprovider .

# Not part of CI or `make test`: the device tests in an emulated Debian 12 arm64 chroot, as on a
# Raspberry Pi (needs root; apt-get installs qemu-user-static and debootstrap; 20-40 minutes).
test-aarch64: setup
	$(BIN)/python -m tests.make_device_models .test-models
	bash tests/run_aarch64_chroot.sh .aarch64-chroot .test-models benchmarks/results/test_aarch64.txt

clean:
	rm -rf $(VENV) $(DEVICE_VENV) runs .test-models
