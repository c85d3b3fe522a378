"""Where classification results go: a table or JSON Lines on stdout, or a JSON Lines, CSV or Parquet file.

Every writer takes the records `Result.record()` makes, one at a time, so memory does not grow
with the number of images. A results file is ours alone: an existing one is refused, unless
`resume` asks to finish an interrupted run into it, and then only if it is recognisably a
galaxy-edge results file of the same classes; its paths are the work already done.

JSON Lines and CSV are appended line by line and flushed after every record, so a run killed
with `kill -9` keeps every result written before it (a torn last line is cut off on resume).

A Parquet file cannot be appended to, and one cut short has no footer and cannot be read at all, so
`x.parquet` is a Parquet dataset, as Dask and Spark write one: a folder of whole part files
(`part-000000.parquet`, ... in input order) that `pandas.read_parquet("x.parquet")` or
`pyarrow.parquet.read_table` read as one table. The rows of the part being filled are appended to
that part's journal (`_part-NNNNNN.jsonl`, flushed after every record; readers skip names starting
with `_` or `.`); a full journal becomes its part, written atomically, and is then removed. After
`kill -9` every row is in a part or a journal, and a resumed run carries on from them. Only
pyarrow knows Parquet, and it is imported only for it.
"""

import contextlib
import io
import json
import os
import re
from pathlib import Path

from galaxy_edge.errors import DataError

SUFFIX_FORMATS = {".jsonl": "jsonl", ".json": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".parquet": "parquet"}
# Rows per Parquet part file: 100,000 rows are a part of 2-4 MB and a journal of about 20 MB,
# converted in one read (a few tens of MB of memory), and a night of 10 million galaxies is 100 files.
PARQUET_PART_ROWS = 100_000
_PART = re.compile(r"part-(\d{6})\.parquet")
_JOURNAL = re.compile(r"_part-(\d{6})\.jsonl")
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
    """One results line: JSON, never NaN or Infinity (which are not JSON)."""
    return json.dumps(rec, separators=(", ", ": "), allow_nan=False)


def csv_line(values):
    """One CSV line (no line end), quoted as the csv module quotes."""
    import csv  # here, not at start-up: a JPEG classify to the terminal never needs it

    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow(values)
    return buffer.getvalue()


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
        self.results, self.class_names = results, class_names
        if new:
            self.results.append(csv_line(flat_columns(class_names)))

    def write(self, rec):
        self.results.append(csv_line(["" if v is None else v for v in flat_row(rec, self.class_names)]))

    def close(self):
        self.results.close()


class AppendFile:
    """A results file appended to one line at a time, flushed after each, so a kill loses at most one.

    Args:
        path: the file.
        exists: append to it; else create it (an existing file is an error).
    """

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
    """Flat rows to a Parquet dataset folder: whole part files, and a journal of the part being filled.

    Args:
        folder: the dataset folder (made if missing).
        class_names: the model's classes.
        part_rows: rows per part file.
        next_part: the number of the part being filled; `journal_rows` of its rows are already in
            its journal (a resumed run).
    """

    def __init__(self, folder, class_names, part_rows=PARQUET_PART_ROWS, next_part=0, journal_rows=0):
        self.folder, self.class_names, self.part_rows = Path(folder), class_names, part_rows
        self.schema = parquet_schema(class_names)
        self.columns = flat_columns(class_names)
        self.number, self.rows = next_part, journal_rows
        self.journal = AppendFile(self._journal_path(), exists=self._journal_path().exists())

    def _journal_path(self):
        return self.folder / f"_part-{self.number:06d}.jsonl"

    def write(self, rec):
        self.journal.append(json_line(dict(zip(self.columns, flat_row(rec, self.class_names)))))
        self.rows += 1
        if self.rows >= self.part_rows:
            self._write_part()
            self.journal = AppendFile(self._journal_path(), exists=False)

    def _write_part(self):
        """The journal becomes its part file (written whole, atomically), then the journal goes."""
        import pyarrow as pa
        import pyarrow.json as pj
        import pyarrow.parquet as pq

        from galaxy_edge import atomic

        self.journal.close()
        journal = self._journal_path()
        if self.rows:
            table = pj.read_json(journal, parse_options=pj.ParseOptions(explicit_schema=self.schema)).cast(self.schema)
        else:
            table = self.schema.empty_table()
        buffer = pa.BufferOutputStream()
        pq.write_table(table, buffer)
        part = self.folder / f"part-{self.number:06d}.parquet"
        try:
            atomic.write_bytes(part, buffer.getvalue().to_pybytes())
            # A kill here leaves the journal beside its part: a resumed run sees the part and drops the journal.
            journal.unlink()
        except OSError as e:
            raise DataError(f"{part}: cannot write results ({e.strerror}); stopping") from None
        self.number, self.rows = self.number + 1, 0

    def close(self):
        # Also on Ctrl-C and errors: the rows so far become a part, so the folder reads as a whole table.
        # A folder without any part would not read as a table at all: its first part may be empty.
        if self.rows or self.number == 0:
            self._write_part()
        else:
            self.journal.close()
            with contextlib.suppress(FileNotFoundError):
                self._journal_path().unlink()


def parquet_schema(class_names):
    import pyarrow as pa

    fields = [pa.field("path", pa.string()), pa.field("label", pa.string()), pa.field("score", pa.float32())]
    fields += [pa.field(f"p_{name}", pa.float32()) for name in class_names]
    fields.append(pa.field("error", pa.string()))
    mark = json.dumps({"class_names": list(class_names)}).encode()
    return pa.schema(fields, metadata={PARQUET_KEY: mark})


def open_results_file(path, class_names, resume=False, part_rows=PARQUET_PART_ROWS):
    """Open a results file for a run; with `resume`, read what an earlier run of ours already did.

    Args:
        path: a .jsonl (.json, .ndjson) or .csv file, or a .parquet dataset folder.
        class_names: the model's classes; a resumed file must have been written for the same ones.
        resume: append to an existing results file instead of refusing it.
        part_rows: rows per Parquet part file.

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
    if exists and fmt != "parquet" and not path.is_file():
        raise DataError(f"{path}: is not a file")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        if fmt == "parquet":
            done, next_part, journal_rows = _parquet_done(path, class_names) if exists else (set(), 0, 0)
            path.mkdir(exist_ok=True)
            return ParquetWriter(path, class_names, part_rows, next_part, journal_rows), done
        done = (_jsonl_done if fmt == "jsonl" else _csv_done)(path, class_names) if exists else set()
        results = AppendFile(path, exists)
    except OSError as e:
        raise DataError(f"{path}: cannot write results ({e.strerror})") from None
    if fmt == "jsonl":
        return JsonLinesWriter(results.append, results), done
    return CsvWriter(results, class_names, new=not exists), done


def _not_ours(path, why):
    return DataError(f"{path}: not a galaxy-edge classify results file ({why}); refusing to write into it")


def complete_lines(path, not_ours=None):
    """The file's complete lines, and where a torn last line (a write cut short by a kill) starts, or None.

    Raises:
        DataError: the file is not UTF-8 text (`not_ours(path, why)` makes the error; default: classify's).
    """
    data = path.read_bytes()
    torn = data.rfind(b"\n") + 1 if data and not data.endswith(b"\n") else None
    try:
        return data[:torn].decode("utf-8").splitlines(), torn
    except UnicodeDecodeError:
        raise (not_ours or _not_ours)(path, "not UTF-8 text") from None


def cut_torn_line(path, torn):
    # Only once the file is known to be ours: a file that is refused is left exactly as it was.
    if torn is not None:
        with open(path, "r+b") as f:
            f.truncate(torn)
            f.flush()
            os.fsync(f.fileno())


def _jsonl_done(path, class_names):
    done = set()
    lines, torn = complete_lines(path)
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
    cut_torn_line(path, torn)
    return done


def _csv_done(path, class_names):
    import csv

    lines, torn = complete_lines(path)
    rows = csv.reader(io.StringIO("\n".join(lines)))
    header = next(rows, None)
    if header != flat_columns(class_names):
        raise _not_ours(path, f"its header is not {','.join(flat_columns(class_names))}")
    done = {row[0] for row in rows if row}
    cut_torn_line(path, torn)
    return done


def _parquet_done(folder, class_names):
    """The paths in a Parquet results folder's parts and journal; the part being filled and its rows so far.

    Leftovers of a kill are put right, once the folder is known to be ours: a journal whose part was
    written is removed, as are temporary files of a part being written, and a torn journal line is cut off.
    """
    import pyarrow.parquet as pq

    if not folder.is_dir():
        raise _not_ours(folder, "a file; galaxy-edge writes Parquet results as a folder of part files")
    parts, journals, leftovers = {}, {}, []
    for entry in sorted(folder.iterdir()):
        if m := _PART.fullmatch(entry.name):
            parts[int(m.group(1))] = entry
        elif m := _JOURNAL.fullmatch(entry.name):
            journals[int(m.group(1))] = entry
        elif entry.name.startswith(".part-") and entry.name.endswith(".tmp"):
            leftovers.append(entry)
        else:
            raise _not_ours(folder, f"it holds {entry.name}, which galaxy-edge did not write")
    done = set()
    for part in parts.values():
        try:
            pf = pq.ParquetFile(part)
        except Exception as e:  # noqa: BLE001 - pyarrow raises several types for a file without a footer
            raise _not_ours(folder, f"{part.name} is not a complete Parquet file: {e}") from None
        mark = (pf.schema_arrow.metadata or {}).get(PARQUET_KEY)
        if mark is None or json.loads(mark).get("class_names") != list(class_names):
            raise _not_ours(folder, f"{part.name} holds no galaxy-edge results of classes {list(class_names)}")
        for batch in pf.iter_batches(columns=["path"], batch_size=65536):
            done.update(batch.column(0).to_pylist())
    next_part = max(parts, default=-1) + 1
    if any(n not in parts and n != next_part for n in journals):
        raise _not_ours(folder, f"its journals {sorted(journals)} do not follow its parts {sorted(parts)}")
    rows = 0
    if next_part in journals:
        journal = journals.pop(next_part)
        lines, torn = complete_lines(journal)
        columns = flat_columns(class_names)
        for number, line in enumerate(lines, 1):
            try:
                rec = json.loads(line)
                ok = isinstance(rec, dict) and list(rec) == columns
            except ValueError:
                ok = False
            if not ok:
                raise _not_ours(folder, f"line {number} of {journal.name} is not a result row")
            done.add(rec["path"])
        rows = len(lines)
        cut_torn_line(journal, torn)
    for stale in [*journals.values(), *leftovers]:
        stale.unlink()
    return done, next_part, rows
