"""Run any "files -> records" job on a Dask cluster: a local one, or one a scheduler address names.

A task is a batch of input files, never a single file, so the scheduler's per-task cost is spread
over many images. Batches are submitted progressively, a bounded window ahead of the one being
collected, and collected in input order: the client's memory depends on the window, not on the
number of files, and the output is in the order of the inputs whatever order workers finish in.

Nothing lost, nothing twice: each input is written by the client exactly once, when its batch's
result arrives. If a worker dies (even by `kill -9`) Dask reruns its batches on another worker;
a batch is only ever collected once, so a rerun cannot duplicate a result.

Each worker process loads a model once and keeps it (one interpreter per worker thread, since a
LiteRT interpreter must not be shared between threads), so a task costs decoding and `invoke()`.
Workers need galaxy-edge with the [cluster] extra, and must see the model and the images at the
same paths as the client (a shared file system, as on any HPC cluster).
"""

import contextlib
import logging
import os
import threading
import time
from collections import deque
from dataclasses import dataclass
from itertools import islice

from galaxy_edge.errors import ClusterError

# Local workers' Dask settings, measured on 10,000 images: the statistical profiler samples every
# thread's stack every 10 ms (1-2 CPU-seconds more with it on), and Dask's MALLOC_TRIM_THRESHOLD_
# of 64 kB makes glibc hand back and re-fault the decoders' buffers (0.9-1.0 s of system time
# against 0.35-0.4 s with glibc's own adaptive threshold). The Nanny passes both to its worker,
# and the environment that keeps the workers' logs to errors: a Ctrl-C would otherwise end with
# one warning per cancelled task after the run's own last line.
LOCAL_WORKER_CONFIG = {
    "distributed.worker.profile.enabled": False,
    "distributed.nanny.pre-spawn-environ": {
        "OMP_NUM_THREADS": 1, "MKL_NUM_THREADS": 1, "OPENBLAS_NUM_THREADS": 1, "DASK_LOGGING__DISTRIBUTED": "error",
    },
}
# How often the window follows a cluster that grows or shrinks (each look is a scheduler round trip).
WINDOW_REFRESH_SECONDS = 5.0
# Files per task. Each task costs about 10 ms of CPU across client, scheduler and worker (measured:
# 64-file tasks took 1.6 CPU-seconds more than 512-file ones on 10,000 images); 256 files are
# 0.1-0.3 s of work, small enough that a lost worker costs little and the load stays balanced.
DEFAULT_BATCH_SIZE = 256
INSTALL_HINT = "pip install 'galaxy-edge[cluster]'"

_local = threading.local()


def cached_classifier(model_path, num_threads=1):
    """This worker thread's classifier for `model_path` (.tflite, or .onnx), loaded on first use and kept."""
    from galaxy_edge.runtime.classifier import open_model

    cache = _local.__dict__.setdefault("classifiers", {})
    key = (str(model_path), num_threads)
    if key not in cache:
        cache[key] = open_model(model_path, num_threads=num_threads)
    return cache[key]


@dataclass(frozen=True)
class ClassifyBatch:
    """The classify task: a batch of `(path, error)` items -> a `ClassifiedBatch`, one list of records per item.

    Any callable of this shape (items in, an iterable of one list of records per item out,
    picklable) runs on `ordered_records`; a frame that yields many sources simply returns many records.

    Attributes:
        model_path: the .tflite file, as the workers see it.
        num_threads: interpreter threads per invoke.
        top_k: classes listed in each record.
        cwd: the client's folder, against which relative paths are read; records keep them as given.
        decode_threads: threads decoding and classifying within the task, as plain `classify` does;
            1 where the worker's own threads already fill its cores.
        planes: for FITS cubes, the 1-based planes to use (`classify --planes`).
    """

    model_path: str
    num_threads: int = 1
    top_k: int = 1
    cwd: str = "."
    decode_threads: int = 1
    planes: tuple = None

    def __call__(self, items):
        import numpy as np

        from galaxy_edge.runtime.batch import classify_items

        clf = cached_classifier(self.model_path, self.num_threads)
        located = [(os.path.join(self.cwd, path), error) for path, error in items]
        probabilities = np.zeros((len(items), len(clf.class_names)), np.float32)
        errors = {}
        for i, result in enumerate(classify_items(clf, located, workers=self.decode_threads, planes=self.planes)):
            if result.error is None:
                probabilities[i] = result.probabilities
            else:
                errors[i] = result.error
        top_k = min(self.top_k, len(clf.class_names))
        return ClassifiedBatch([path for path, _ in items], tuple(clf.class_names), top_k, probabilities, errors)


@dataclass(frozen=True)
class ClassifiedBatch:
    """A classify task's outcome as it travels from worker to client: one array and the errors.

    Iterating gives, per item, the one-record list `ordered_records` expects: the records are made
    on the client. Measured on 10,000 images, pickling a record (a dict of dicts) per image cost
    the worker about as much as a fifth of its decoding; an (N, C) float32 array costs nothing.

    Attributes:
        paths: the items' paths, as the client gave them.
        class_names: the model's classes.
        top_k: classes listed in each record.
        probabilities: (N, C) float32; the rows of failed items are zeros.
        errors: item index -> why that file could not be classified.
    """

    paths: list
    class_names: tuple
    top_k: int
    probabilities: object
    errors: dict

    def __len__(self):
        return len(self.paths)

    def __iter__(self):
        from galaxy_edge.runtime.batch import Result

        for i, path in enumerate(self.paths):
            error = self.errors.get(i)
            result = Result(path, error=error) if error is not None else Result(path, self.probabilities[i])
            yield [result.record(self.class_names, self.top_k)]


@dataclass(frozen=True)
class _FrameTask:
    """What every `field` task carries to its worker: the model, the field options, threads, the client's folder."""

    model_path: str
    options: object
    num_threads: int = 1
    cwd: str = "."


@dataclass(frozen=True)
class FieldBatch(_FrameTask):
    """The `field` task: a batch of `(frame, preview)` -> per frame, [FrameResult] or [error text].

    A frame is a FITS path or a list of three band paths, relative to `cwd` as on the client; the
    rows keep the names as given. An unreadable frame is its error's text, not an exception, so
    the other frames of the batch go on (and GalaxyEdgeError subclasses need not survive pickling).
    """

    def __call__(self, items):
        from galaxy_edge.errors import GalaxyEdgeError
        from galaxy_edge.fits.field import classify_frame

        clf = cached_classifier(self.model_path, self.num_threads)
        out = []
        for frame, preview in items:
            paths = [frame] if isinstance(frame, str) else list(frame)
            located = [os.path.join(self.cwd, p) for p in paths]
            try:
                result = classify_frame(located if len(located) > 1 else located[0], clf, self.options,
                                        preview=None if preview is None else os.path.join(self.cwd, preview))
            except GalaxyEdgeError as e:
                out.append([str(e)])
                continue
            result.frame = ",".join(paths)
            for row in result.rows:
                row["frame"] = result.frame
            out.append([result])
        return out


@dataclass(frozen=True)
class PositionsBatch(_FrameTask):
    """The `field --positions` task: a batch of `(frame, targets)` -> per frame, [its rows].

    A row that could not be classified (the frame cannot be read, the position is off it) carries
    its `error`, so the other rows and frames go on. Frames are read relative to `cwd`, and rows
    keep their names as given.
    """

    def __call__(self, items):
        from galaxy_edge.fits.field import classify_positions

        clf = cached_classifier(self.model_path, self.num_threads)
        return [[classify_positions(os.path.join(self.cwd, frame), targets, clf, self.options, name=frame)]
                for frame, targets in items]


def _import_distributed():
    try:
        import distributed
    except ImportError:
        raise ClusterError(f"--scheduler and --workers need the cluster extra (dask, distributed): {INSTALL_HINT}") from None
    return distributed


def local_decode_threads(workers, cores=None):
    """Decoder threads in each of `workers` local worker processes, so that together they fill the cores."""
    from galaxy_edge.runtime.batch import default_workers

    return max(1, (cores or default_workers()) // workers)


@contextlib.contextmanager
def dask_client(scheduler=None, workers=None):
    """A `distributed.Client` on a running scheduler, or on a local cluster of worker processes.

    A local worker runs one task at a time (one Dask thread): measured on 2 cores, a second Dask
    thread in the same process halves its throughput (the two fight over the GIL with the worker's
    event loop), while decoder threads inside the task (`ClassifyBatch.decode_threads`) do not.

    Args:
        scheduler: a scheduler address (tcp://host:8786) or a scheduler file (JSON, from
            `dask scheduler --scheduler-file` or dask-jobqueue); None starts a local cluster.
        workers: worker processes of the local cluster.

    Raises:
        ClusterError: the cluster extra is missing, or the scheduler cannot be reached.
    """
    distributed = _import_distributed()
    # The scheduler and workers log every lost worker and retried task; the run reports those that matter.
    logging.getLogger("distributed").setLevel(logging.ERROR)
    if scheduler is None:
        import dask

        with dask.config.set(LOCAL_WORKER_CONFIG), distributed.LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster, distributed.Client(cluster) as client:
            yield client
        return
    target = {"scheduler_file": scheduler} if os.path.isfile(scheduler) else {"address": scheduler}
    try:
        # The connect timeout is Dask's own setting (distributed.comm.timeouts.connect, 30 s).
        client = distributed.Client(**target)
    except (OSError, TimeoutError, ValueError) as e:
        raise ClusterError(f"{scheduler}: cannot reach the Dask scheduler ({e})") from None
    with client:
        yield client


def ordered_records(client, task, items, batch_size=DEFAULT_BATCH_SIZE, window=None):
    """Run `task` over `items` in batches on the cluster; yield `(item, records)` in input order.

    Args:
        client: a `distributed.Client`.
        task: a picklable callable, list of items -> an iterable of one list of records per item.
        items: any iterable; read as batches are submitted, never all at once.
        batch_size: items per task.
        window: batches in flight; default twice the cluster's worker threads, re-read every
            WINDOW_REFRESH_SECONDS as the cluster grows or shrinks.

    Raises:
        ClusterError: a batch failed on every worker Dask tried it on.
    """
    distributed = _import_distributed()
    it = iter(items)
    pending = deque()
    limit, looked = window, None
    try:
        while True:
            if not window and (looked is None or time.monotonic() - looked > WINDOW_REFRESH_SECONDS):
                limit, looked = max(2, 2 * sum(client.nthreads().values())), time.monotonic()
            while len(pending) < limit:
                batch = list(islice(it, batch_size))
                if not batch:
                    break
                pending.append((batch, client.submit(task, batch, pure=False)))
            if not pending:
                return
            batch, future = pending.popleft()
            try:
                results = future.result()
            except distributed.KilledWorker as e:
                raise ClusterError(f"a batch starting at {batch[0][0]} killed every worker that ran it ({e})") from None
            finally:
                future.release()
            yield from zip(batch, results)
    finally:
        for _, future in pending:
            future.cancel()

