"""Where classification results go: a table or JSON Lines on stdout, or a JSON Lines, CSV or Parquet file.

Every writer takes the records `Result.record()` makes, one at a time, so memory does not grow
with the number of images. A results file is ours alone: an existing one is refused, unless
`resume` asks to finish an interrupted run into it, and then only if it is recognisably a
galaxy-edge results file of the same classes; its paths are the work already done.

JSON Lines and CSV are appended line by line and flushed after every record, so a run killed
with `kill -9` keeps every result written before it (a torn last line is cut off on resume).
Parquet cannot be appended to: it is written in row groups to a hidden file beside the output
and renamed into place when the run ends, normally or by Ctrl-C; a resumed Parquet run copies the
old rows into the new file first. Only pyarrow knows Parquet, and it is imported only for it.
"""

import contextlib
import io
import json
import os
from pathlib import Path

from galaxy_edge.errors import DataError

SUFFIX_FORMATS = {".jsonl": "jsonl", ".json": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".parquet": "parquet"}
# Parquet rows buffered before a row group is written: a few hundred kB whatever the run's size.
PARQUET_ROW_GROUP = 4096
# Parquet schema metadata key that marks a file as ours (and names its columns' classes).
PARQUET_KEY = b"galaxy-edge"


def format_for(path):
    """The results format a file name asks for, from its suffix.

    Raises:
        DataError: the suffix is not one of .jsonl, .json, .ndjson, .csv, .parquet.
    """
    fmt = SUFFIX_FORMATS.get(Path(path).suffix.lower())
    if fmt is None:
        raise DataError(f"{path}: unknown results format; name the file .jsonl, .csv or .parquet")
    return fmt


def flat_columns(class_names):
    """The columns of a CSV or Parquet results file: one probability column per class."""
    return ["path", "label", "score", *(f"p_{name}" for name in class_names), "error"]


def flat_row(rec, class_names):
    """A record as one row of `flat_columns`: an error row has no label, score or probabilities."""
    probs = rec.get("probabilities", {})
    return [rec["path"], rec.get("label"), rec.get("score"), *(probs.get(n) for n in class_names), rec.get("error")]


def json_line(rec):
    return json.dumps(rec, separators=(", ", ": "), allow_nan=False)


class TableWriter:
    """The human-readable table, one line at a time to `emit`: path, label, score, then the next top-k classes."""

    def __init__(self, emit, width, top_k):
        self.emit, self.width = emit, width
        head = "  ".join(f"top{i + 1:<13}" for i in range(1, top_k))
        # Written with the first row, so that a run that fails before any result prints only its error.
        self.header = f"{'image':<{width}}  {'label':<10} {'score':>6}  {head}".rstrip()

    def write(self, rec):
        if self.header:
            self.emit(self.header)
            self.header = None
        if "error" in rec:
            self.emit(f"{rec['path']:<{self.width}}  error: {rec['error']}")
        else:
            others = "  ".join(f"{t['label']:<10} {t['score']:5.3f}" for t in rec["top_k"][1:])
            self.emit(f"{rec['path']:<{self.width}}  {rec['label']:<10} {rec['score']:6.3f}  {others}".rstrip())

    def close(self):
        pass


class JsonLinesWriter:
    """One JSON object per line, to `emit` (standard output) or to a results file."""

    def __init__(self, emit, results=None):
        self.emit, self.results = emit, results

    def write(self, rec):
        self.emit(json_line(rec))

    def close(self):
        if self.results:
            self.results.close()


class CsvWriter:
    """Flat rows (`flat_columns`) to a results file; the header starts a new file."""

    def __init__(self, results, class_names, new):
        import csv  # here, not at start-up: a JPEG classify to the terminal never needs it

        self.results, self.class_names = results, class_names
        self.buffer = io.StringIO()
        self.csv = csv.writer(self.buffer, lineterminator="")
        if new:
            self._row(flat_columns(class_names))

    def write(self, rec):
        self._row(["" if v is None else v for v in flat_row(rec, self.class_names)])

    def _row(self, values):
        self.buffer.seek(0)
        self.buffer.truncate()
        self.csv.writerow(values)
        self.results.append(self.buffer.getvalue())

    def close(self):
        self.results.close()


class _AppendFile:
    """A results file appended to one line at a time, flushed after each, so a kill loses at most one."""

    def __init__(self, path, exists):
        self.path = path
        self.stream = open(path, "a" if exists else "x", encoding="utf-8", newline="")

    def append(self, line):
        try:
            self.stream.write(line + "\n")
            self.stream.flush()
        except OSError as e:
            raise DataError(f"{self.path}: cannot write results ({e.strerror}); stopping") from None

    def close(self):
        try:
            self.stream.flush()
            with contextlib.suppress(OSError):
                os.fsync(self.stream.fileno())
        finally:
            with contextlib.suppress(OSError):
                self.stream.close()


class ParquetWriter:
    """Flat rows to a Parquet file, in row groups, through a hidden file renamed into place on close."""

    def __init__(self, path, class_names, resume_from=None):
        import tempfile

        import pyarrow as pa
        import pyarrow.parquet as pq

        self.pa, self.path, self.class_names = pa, Path(path), class_names
        self.schema = parquet_schema(class_names)
        fd, self.tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp")
        os.close(fd)
        self.rows = []
        try:
            self.writer = pq.ParquetWriter(self.tmp, self.schema)
            if resume_from is not None:
                for batch in pq.ParquetFile(resume_from).iter_batches(batch_size=PARQUET_ROW_GROUP):
                    self.writer.write_table(pa.Table.from_batches([batch]).cast(self.schema))
        except BaseException:
            self._discard()
            raise

    def write(self, rec):
        self.rows.append(flat_row(rec, self.class_names))
        if len(self.rows) >= PARQUET_ROW_GROUP:
            self._flush()

    def _flush(self):
        if self.rows:
            columns = list(zip(*self.rows))
            self.writer.write_table(self.pa.table(list(columns), schema=self.schema))
            self.rows = []

    def close(self):
        try:
            self._flush()
            self.writer.close()
            os.chmod(self.tmp, 0o644)
            # On disk before the rename, as atomic.write_bytes does: a crash then leaves the old file or the whole new one.
            fd = os.open(self.tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(self.tmp, self.path)
        except BaseException:
            self._discard()
            raise

    def _discard(self):
        with contextlib.suppress(OSError):
            os.unlink(self.tmp)


def parquet_schema(class_names):
    import pyarrow as pa

    fields = [pa.field("path", pa.string()), pa.field("label", pa.string()), pa.field("score", pa.float32())]
    fields += [pa.field(f"p_{name}", pa.float32()) for name in class_names]
    fields.append(pa.field("error", pa.string()))
    mark = json.dumps({"class_names": list(class_names)}).encode()
    return pa.schema(fields, metadata={PARQUET_KEY: mark})


def open_results_file(path, class_names, resume=False):
    """Open a results file for a run; with `resume`, read what an earlier run of ours already did.

    Args:
        path: a .jsonl (.json, .ndjson), .csv or .parquet file.
        class_names: the model's classes; a resumed file must have been written for the same ones.
        resume: append to an existing results file instead of refusing it.

    Returns:
        (writer, done): a writer with write(record) and close(), and the set of paths already in the file.

    Raises:
        DataError: the file exists and `resume` is not set; or it is not a galaxy-edge results file
            of these classes; or it cannot be read or written.
    """
    path = Path(path)
    fmt = format_for(path)
    exists = path.exists()
    if exists and not resume:
        raise DataError(f"{path}: already exists; pass --resume to finish that run into it, or choose another --out")
    if exists and not path.is_file():
        raise DataError(f"{path}: is not a file")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        if fmt == "parquet":
            done = _parquet_done(path, class_names) if exists else set()
            return ParquetWriter(path, class_names, resume_from=path if exists else None), done
        done = (_jsonl_done if fmt == "jsonl" else _csv_done)(path, class_names) if exists else set()
        results = _AppendFile(path, exists)
    except OSError as e:
        raise DataError(f"{path}: cannot write results ({e.strerror})") from None
    if fmt == "jsonl":
        return JsonLinesWriter(results.append, results), done
    return CsvWriter(results, class_names, new=not exists), done


def _not_ours(path, why):
    return DataError(f"{path}: not a galaxy-edge classify results file ({why}); refusing to write into it")


def _text_lines(path):
    """The file's complete lines, and where a torn last line (a write cut short by a kill) starts, or None."""
    data = path.read_bytes()
    torn = data.rfind(b"\n") + 1 if data and not data.endswith(b"\n") else None
    try:
        return data[:torn].decode("utf-8").splitlines(), torn
    except UnicodeDecodeError:
        raise _not_ours(path, "not UTF-8 text") from None


def _cut_torn_line(path, torn):
    # Only once the file is known to be ours: a file that is refused is left exactly as it was.
    if torn is not None:
        with open(path, "r+b") as f:
            f.truncate(torn)
            f.flush()
            os.fsync(f.fileno())


def _jsonl_done(path, class_names):
    done = set()
    lines, torn = _text_lines(path)
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            ok = isinstance(rec, dict) and isinstance(rec["path"], str) and ("error" in rec or "label" in rec)
        except (ValueError, KeyError):
            ok = False
        if not ok:
            raise _not_ours(path, f"line {number} is not a result")
        if "probabilities" in rec and list(rec["probabilities"]) != list(class_names):
            raise _not_ours(path, f"line {number} has classes {list(rec['probabilities'])}, the model {list(class_names)}")
        done.add(rec["path"])
    _cut_torn_line(path, torn)
    return done


def _csv_done(path, class_names):
    import csv

    lines, torn = _text_lines(path)
    rows = csv.reader(io.StringIO("\n".join(lines)))
    header = next(rows, None)
    if header != flat_columns(class_names):
        raise _not_ours(path, f"its header is not {','.join(flat_columns(class_names))}")
    done = {row[0] for row in rows if row}
    _cut_torn_line(path, torn)
    return done


def _parquet_done(path, class_names):
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except Exception as e:  # noqa: BLE001 - pyarrow raises several types for a file without a footer
        raise _not_ours(path, f"not a complete Parquet file: {e}") from None
    mark = (pf.schema_arrow.metadata or {}).get(PARQUET_KEY)
    if mark is None or json.loads(mark).get("class_names") != list(class_names):
        raise _not_ours(path, f"no galaxy-edge results of classes {list(class_names)} in its schema")
    done = set()
    for batch in pf.iter_batches(columns=["path"], batch_size=65536):
        done.update(batch.column(0).to_pylist())
    return done

