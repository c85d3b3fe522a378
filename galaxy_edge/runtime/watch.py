"""Telescope-side mode: classify every image that lands in a folder, exactly once, across restarts.

The results file is the only state. It is append-only JSON Lines, flushed and fsynced after
every image, so a crash loses at most the line being written; on start the watcher reads it to
learn what is done, and cuts off a torn last line (that image is simply classified again).

A file is taken only once it is complete: hidden files and partial-download names (`.tmp`,
`.part`, ...) are ignored, and a file's size and times must be unchanged across two polls.
Writers that can, should write to a hidden or `.tmp` name and rename when done. A file that
fails (half-written by a writer that paused longer than a poll, unreadable) is tried again
whenever it changes: the last record of a file is the one that counts.
The results file is written only if it is empty or already a results file.

With `frames` set, a FITS file is a telescope frame, not a cutout: its galaxies are found and
classified (galaxy_edge.fits.field) and appended one line each, keyed by file and object id, then
one line closes the frame. A crash part-way through a frame leaves it unclosed: on restart it is
searched again and only the objects not yet in the results are appended.
"""

import contextlib
import json
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from galaxy_edge.errors import DataError, GalaxyEdgeError
from galaxy_edge.runtime.outputs import cut_torn_line, json_line

# An empty file may be a writer that has created it and not yet written: give it this long.
EMPTY_FILE_GRACE_SECONDS = 10.0


@dataclass
class WatchStats:
    """What one `watch` run did."""

    classified: int = 0
    failed: int = 0
    galaxies: int = 0
    already_done: int = 0
    repaired_torn_line: bool = False
    skipped_lines: list = field(default_factory=list)


# Every line watch writes starts so: how a results file is told from a file that is not ours.
RECORD_PREFIX = b'{"file": '


def file_state(st):
    """What must change about a file for it to be tried again after it failed: size, content time, inode time.

    The inode time (ctime) changes with chmod too, so a permission fixed later counts.
    """
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns]


def read_done(results_path):
    """What the results file already says about each file (relative to the watched folder).

    A last line without its newline is a write cut short by a crash: it is removed from the file,
    so the next append starts on a clean line. Other unreadable lines are kept and reported.

    Returns:
        (done, torn, bad_lines): done maps each file to None when it was classified (final), or,
        when its last record is an error, to the `file_state` it failed in (tried again if that
        changes); whether a torn line was cut off; the numbers of lines that are not JSON results.
        A frame's galaxy lines are keyed (file, object) instead: the frame itself is done only once
        its closing line (which has no "object") is there.

    Raises:
        DataError: the results file exists but cannot be read or repaired, or is not a results file.
    """
    path = Path(results_path)
    done, bad = {}, []
    if not path.exists():
        return done, False, bad
    try:
        data = path.read_bytes()
    except OSError as e:
        raise DataError(f"{path}: cannot read the results file ({e.strerror})") from None
    check_results_file(path, data[: len(RECORD_PREFIX)])
    torn = bool(data) and not data.endswith(b"\n")
    if torn:
        keep = data.rfind(b"\n") + 1
        try:
            cut_torn_line(path, keep)
        except OSError as e:
            raise DataError(f"{path}: cannot repair a torn last line ({e.strerror})") from None
        data = data[:keep]
    for number, line in enumerate(data.split(b"\n"), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            key = rec["file"]
            if "object" in rec:
                done[(key, rec["object"])] = None
            else:
                done[key] = rec.get("state", []) if "error" in rec else None
        except (ValueError, KeyError, TypeError):
            bad.append(number)
    return done, torn, bad


def check_results_file(path, head):
    """Refuse a results file galaxy-edge did not write, from its first bytes `head`.

    An empty file is fine; anything else must start like a result line, torn or not.

    Raises:
        DataError: naming the file.
    """
    if head and not RECORD_PREFIX.startswith(head[: len(RECORD_PREFIX)]):
        raise DataError(
            f"{path}: not a galaxy-edge watch results file (it does not start with a result line); "
            f"refusing to write into it: choose another --out"
        )


class Watcher:
    """Poll a folder and append one result line per new, complete image.

    Args:
        folder: the folder the telescope writes into; searched recursively.
        classifier: a `galaxy_edge.runtime.classifier.Classifier`.
        results_path: the JSON Lines file to append to.
        interval: seconds between polls.
        echo: callable(str) for one human-readable line per image, or None.
        warn: callable(str) for warnings (a folder that cannot be read), or None.
        frames: FieldOptions to treat FITS files as frames to search for galaxies; None: FITS files are cutouts.
        bands: three band names, bluest first: single-band FITS files whose names differ only by
            them are one galaxy (or, with `frames`, one colour frame), taken once all three are
            complete and keyed by their group name, `NGC7479_{g,r,i}.fits` (galaxy_edge.fits.band_files).
            A group still missing a band waits for it; with `once`, it is an error line.
        planes: for FITS cubes, the 1-based planes to use, bluest first.

    Raises:
        DataError: the folder is missing, or the results file is unusable or in use by another watcher.
    """

    def __init__(self, folder, classifier, results_path, interval=1.0, echo=None, warn=None, frames=None, bands=None,
                 planes=None):
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise DataError(f"{folder}: no such folder")
        self.classifier = classifier
        self.results_path = Path(results_path)
        self.interval = interval
        self.echo = echo
        self.warn = warn
        self.frames = frames
        self.bands = bands
        self.planes = planes
        self.stats = WatchStats()
        self._stop = threading.Event()
        self._seen = {}  # key -> (file_state, first time this state was seen)
        self._unreadable = set()  # folders already warned about, until they can be read again
        self._out = None  # raw descriptor of the results file, opened for appending

    def stop(self, *signal_args):
        """Ask the loop to finish the image in hand and return. A second signal interrupts at once."""
        if self._stop.is_set() and signal_args:
            raise KeyboardInterrupt
        self._stop.set()

    def run(self, once=False):
        """Watch until stopped (SIGINT/SIGTERM or `stop()`), or, with `once`, until nothing is left to do.

        With `once`, an empty file is taken (and reported as an error) as soon as it is stable.

        Returns:
            WatchStats.
        """
        self._open()
        previous = _install_signal_handlers(self.stop)
        try:
            while not self._stop.is_set():
                ready, waiting = self._poll(empty_grace=0.0 if once else EMPTY_FILE_GRACE_SECONDS, once=once)
                for key in ready:
                    if self._stop.is_set():
                        break
                    self._classify(key)
                if once and not ready and not waiting:
                    break
                self._stop.wait(self.interval)
        finally:
            _restore_signal_handlers(previous)
            self._close()
        return self.stats

    def _open(self):
        from galaxy_edge.regular_files import describe_os_error, open_regular_for_append

        self.results_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._out = open_regular_for_append(self.results_path)
        except OSError as e:
            raise DataError(f"{self.results_path}: cannot open the results file ({describe_os_error(e)})") from None
        try:
            check_results_file(self.results_path, os.pread(self._out, len(RECORD_PREFIX), 0))
            self._lock()
            done, torn, bad = read_done(self.results_path)
        except BaseException:
            self._close()
            raise
        self.done = done
        self.stats.repaired_torn_line = torn
        self.stats.skipped_lines = bad

    def _lock(self):
        try:
            import fcntl
        except ImportError:
            return
        try:
            fcntl.flock(self._out, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise DataError(f"{self.results_path}: another `galaxy-edge watch` is writing to this file") from None

    def _close(self):
        if self._out is not None:
            os.close(self._out)
            self._out = None

    def _poll(self, empty_grace, once=False):
        """Files ready to classify now, in arrival order, and whether others are still settling.

        A file is new if it has no record yet, or if its last record is an error and it has changed
        since (a slow writer finished it, a permission was fixed): an error is not the last word.
        With `bands`, the files of a galaxy are ready together, under their group's name.
        """
        from galaxy_edge.image_files import find_images

        now = time.monotonic()
        ready, waiting, present = [], False, set()
        groups, settling = {}, set()  # group -> {band: (mtime, state)} of its settled files; groups not settled
        unreadable = []
        for path in find_images(self.folder, unreadable):
            key = Path(path).relative_to(self.folder).as_posix()
            group = self._group_of(key)
            name = group[0] if group else key  # what its results line is keyed by
            if name in self.done and self.done[name] is None:
                continue  # classified
            st = _stat(path)
            if st is None:
                continue  # gone between listing and stat: a rename in progress
            state = file_state(st)
            if not group and key in self.done and self.done[key] == state:
                continue  # failed in exactly this state; wait for a change
            present.add(key)
            before = self._seen.get(key)
            changed = before is None or before[0] != state
            if changed:
                self._seen[key] = (state, now)
            if changed or (st.st_size == 0 and now - before[1] < empty_grace):
                waiting = True
                if group:
                    settling.add(group[0])
            elif group:
                groups.setdefault(group[0], {})[group[1]] = (st.st_mtime_ns, state)
            else:
                ready.append((st.st_mtime_ns, key))
        for key, got in groups.items():
            if key in settling:
                continue
            if key in self.done and self.done[key] == _group_state(got, self.bands):
                continue  # failed with exactly these files; wait for a change
            if len(got) == len(self.bands) or once:
                ready.append((max(m for m, _ in got.values()), key))
            else:
                waiting = True  # a band still to come: cameras write one filter after another
        for key in set(self._seen) - present:
            del self._seen[key]
        self._report_unreadable(unreadable)
        return [key for _, key in sorted(ready)], waiting

    def _group_of(self, key):
        """(group name, band) of a single-band FITS file when `bands` is set; else None."""
        if not self.bands:
            return None
        from galaxy_edge.fits.band_files import group_name

        return group_name(key, self.bands)

    def _report_unreadable(self, unreadable):
        """Warn once about each folder that cannot be searched; again if it recovers and fails later."""
        now = {path for path, _ in unreadable}
        for path, reason in unreadable:
            if path not in self._unreadable and self.warn:
                self.warn(f"Warning: {path}: {reason}; watching goes on and will look again")
        self._unreadable = now

    def _classify(self, key):
        from galaxy_edge.runtime.batch import decode

        path = self.folder / key
        state, error = self._state(key)
        if state is None:
            self._seen.pop(key, None)  # moved away or deleted after it settled: nothing to report
            return
        if error is None and self.frames is not None:
            from galaxy_edge.preprocess import is_fits

            if is_fits(key):
                return self._classify_frame(key, path, state)
        image, error = (None, error) if error else decode(path, self.classifier.input_size, self.planes)
        if error is None:
            try:
                probs = self.classifier.probabilities(image)
            except GalaxyEdgeError as e:
                error = str(e)
        rec = {"file": key, "path": str(path), "time": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        if error is None:
            from galaxy_edge.runtime.batch import Result

            rec.update(Result(str(path), probabilities=probs).record(self.classifier.class_names))
            self.stats.classified += 1
            line = f"{key}  {rec['label']} {rec['score']:.3f}"
        else:
            rec["error"] = error
            # The state it failed in: when the file changes, it is tried again (`_poll`).
            rec["state"] = state
            self.stats.failed += 1
            line = f"{key}  error: {error}"
        self._append(rec)
        self.done[key] = None if error is None else state
        self._seen.pop(key, None)
        if self.echo:
            self.echo(line)

    def _state(self, key):
        """(file_state, None) of a file; for a band group, the states of its files and the error of a missing one.

        (None, None) when nothing of it is there any more.
        """
        from galaxy_edge.fits.band_files import band_paths, missing_bands

        members = band_paths(str(self.folder / key)) if self.bands else None
        if members is None:
            st = _stat(self.folder / key)
            return (None if st is None else file_state(st)), None
        found = {}
        for band, member in zip(self.bands, members):
            st = _stat(member)
            if st is not None:
                found[band] = (st.st_mtime_ns, file_state(st))
        if not found:
            return None, None
        return _group_state(found, self.bands), missing_bands(str(self.folder / key), self.bands, found)

    def _classify_frame(self, key, path, state):
        """One FITS frame: a line per galaxy not yet in the results, then the line that closes the frame."""
        from galaxy_edge.fits.field import classify_frame

        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        try:
            result = classify_frame(str(path), self.classifier, self.frames)
        except GalaxyEdgeError as e:
            reason = getattr(e, "reason", str(e))
            self._finish(key, {"file": key, "path": str(path), "time": now, "error": reason, "state": state},
                         state, f"{key}  error: {reason}")
            return
        for row in result.rows:
            if (key, row["id"]) not in self.done:
                self._append({"file": key, "object": row["id"], "path": str(path), "time": now, **row})
                self.done[(key, row["id"])] = None
                self.stats.galaxies += 1
        closing = {"file": key, "path": str(path), "time": now, "galaxies": len(result.rows), "sources": result.sources,
                   "psf_r50": round(result.psf_r50, 3) if result.psf_r50 == result.psf_r50 else None,
                   "warnings": result.warnings}
        self._finish(key, closing, None, f"{key}  frame: {len(result.rows)} galaxies of {result.sources} sources")

    def _finish(self, key, rec, failed_state, line):
        if "error" in rec:
            self.stats.failed += 1
        else:
            self.stats.classified += 1
        self._append(rec)
        self.done[key] = failed_state
        self._seen.pop(key, None)
        if self.echo:
            self.echo(line)

    def _append(self, rec):
        """Append one line and fsync it; if that fails, cut off what part of it went down and stop.

        Raises:
            DataError: the line could not be written whole (full disk, I/O error).
        """
        data = (json_line(rec) + "\n").encode("utf-8")
        start = None
        try:
            start = os.lseek(self._out, 0, os.SEEK_END)
            view = memoryview(data)
            while view:
                view = view[os.write(self._out, view):]
            os.fsync(self._out)
        except OSError as e:
            if start is not None:
                # Leave the file ending in a whole line, as after a clean stop; if even that fails,
                # the torn line is cut off at the next start.
                with contextlib.suppress(OSError):
                    os.ftruncate(self._out, start)
            raise DataError(f"{self.results_path}: cannot write results ({e.strerror}); stopping") from None


def _group_state(found, bands):
    """What must change about a band group for it to be tried again: each band file's state (None when missing)."""
    return [found[b][1] if b in found else None for b in bands]


def _stat(path):
    """The file's stat; a broken or looping symlink's own (it is then reported, not passed over); None if gone."""
    for stat in (os.stat, os.lstat):
        try:
            return stat(path)
        except OSError:
            continue
    return None


def _install_signal_handlers(handler):
    if threading.current_thread() is not threading.main_thread():
        return {}
    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        previous[sig] = signal.signal(sig, handler)
    return previous


def _restore_signal_handlers(previous):
    for sig, old in previous.items():
        signal.signal(sig, old)
