# Two entry points: `make demo` (train, export, classify on the embedded synthetic sky, then a FITS frame)
# and `make test` (the whole suite, then the runtime tests again on a TensorFlow-free install,
# then the exported models in MediaPipe's ImageClassifier).
PYTHON ?= python3
VENV := .venv
DEVICE_VENV := .venv-device
MEDIAPIPE_VENV := .venv-mediapipe
BIN := $(VENV)/bin
DEMO_RUN := runs/demo
DEMO_BANDS := runs/demo-field/field_g.fits,runs/demo-field/field_r.fits,runs/demo-field/field_i.fits

.PHONY: demo test test-device test-mediapipe test-aarch64 setup setup-device setup-mediapipe clean

setup: $(VENV)/.installed
$(VENV)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[train,test,cluster]'
	touch $@

# The device install: base requirements, as on a Raspberry Pi, plus the [cluster] extra a Pi needs
# to serve as a Dask worker (its tests run here too). No TensorFlow.
setup-device: $(DEVICE_VENV)/.installed
$(DEVICE_VENV)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(DEVICE_VENV)
	$(DEVICE_VENV)/bin/pip install --quiet --upgrade pip
	$(DEVICE_VENV)/bin/pip install --quiet '.[test,cluster]'
	touch $@

# A client of the exported models, not of galaxy-edge: MediaPipe (its own numpy, OpenCV, TFLite)
# beside the base install, never in the device or training install.
setup-mediapipe: $(MEDIAPIPE_VENV)/.installed
$(MEDIAPIPE_VENV)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(MEDIAPIPE_VENV)
	$(MEDIAPIPE_VENV)/bin/pip install --quiet --upgrade pip
	$(MEDIAPIPE_VENV)/bin/pip install --quiet 'mediapipe>=1.2' '.[test]'
	touch $@

demo: setup
	$(BIN)/galaxy-edge train --out $(DEMO_RUN) --overwrite
	$(BIN)/galaxy-edge export $(DEMO_RUN) --int8 --float32 --out export
	$(BIN)/galaxy-edge synth --out runs/demo-images --count 8 --seed 7 --format png --overwrite
	$(BIN)/galaxy-edge classify --model export/model_int8.tflite runs/demo-images
	$(BIN)/galaxy-edge benchmark --model export/model_int8.tflite --compare export/model_float32.tflite --runs 200
	$(BIN)/galaxy-edge synth --field --bands 3 --seed 7 --out runs/demo-field/field.fits --overwrite
	$(BIN)/galaxy-edge field --model export/model_int8.tflite --bands $(DEMO_BANDS) --out runs/demo-field/catalogue.csv --preview runs/demo-field/preview.png --overwrite

test: setup setup-device setup-mediapipe
	$(BIN)/python -m pytest -q
	$(MAKE) test-device
	$(MAKE) test-mediapipe

# Builds the test models with TensorFlow, then runs the device tests where TensorFlow is absent.
test-device: setup setup-device
	$(DEVICE_VENV)/bin/pip install --quiet --no-deps --force-reinstall .
	$(BIN)/python -m tests.make_device_models .test-models
	cd tests && GALAXY_EDGE_TEST_MODELS=$(CURDIR)/.test-models ../$(DEVICE_VENV)/bin/python -m pytest -q -m device -p no:cacheprovider .

# MediaPipe's ImageClassifier on the models test-device built (built here if missing).
test-mediapipe: setup setup-mediapipe
	$(MEDIAPIPE_VENV)/bin/pip install --quiet --no-deps --force-reinstall .
	test -f .test-models/model_int8.tflite || $(BIN)/python -m tests.make_device_models .test-models
	cd tests && GALAXY_EDGE_TEST_MODELS=$(CURDIR)/.test-models ../$(MEDIAPIPE_VENV)/bin/python -m pytest -q -m mediapipe -p no:cacheprovider test_mediapipe.py

# Not part of CI or `make test`: the device tests in an emulated Debian 12 arm64 chroot, as on a
# Raspberry Pi (needs root; apt-get installs qemu-user-static and debootstrap; 20-40 minutes).
test-aarch64: setup
	$(BIN)/python -m tests.make_device_models .test-models
	bash tests/run_aarch64_chroot.sh .aarch64-chroot .test-models benchmarks/results/test_aarch64.txt

clean:
	rm -rf $(VENV) $(DEVICE_VENV) $(MEDIAPIPE_VENV) runs .test-models
