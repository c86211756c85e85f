"""The tidy output file: resumable, and safe against interruption at any moment.

Rows are appended one batch at a time, each batch as a single ``os.write`` followed by ``fsync``; a SIGINT
(Ctrl-C) that arrives during the write is held back until the batch is on disk.  A harder kill (SIGKILL, power
loss) can at worst leave a partial last line: on resume it is cut off (the rows before it are complete), the rows
already present are skipped, and the runner recomputes every batch that is incomplete *as a whole batch*, so that
the resumed file is byte-for-byte the one an uninterrupted run writes (with the same ``--batch-size``).  The header
is written atomically (temporary file + ``os.replace``).  Every field is kept on one line (whitespace in texts is
collapsed before writing), so "line" and "row" are the same thing.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import signal
import sys
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path

__all__ = ["ResumableCSV", "format_value"]


def format_value(v) -> str:
    """Shortest round-trip text of a value (floats via ``repr``), so re-runs write identical bytes."""
    if isinstance(v, bool):
        return str(int(v))
    if isinstance(v, float):
        return repr(v)
    if hasattr(v, "item"):  # numpy scalar
        return format_value(v.item())
    return str(v)


@contextlib.contextmanager
def deferred_sigint():
    """Hold back SIGINT inside the block; re-deliver it (KeyboardInterrupt) when the block ends, unless SIGINT was
    ignored before the block (a process started in the background with SIGINT ignored stays uninterruptible)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    try:
        old = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    except ValueError:  # pragma: no cover - not in the main interpreter
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)
        if received and old is not signal.SIG_IGN:
            if callable(old):
                old(signal.SIGINT, None)
            else:
                raise KeyboardInterrupt


class ResumableCSV:
    """Append-only CSV with a fixed header; :meth:`open` returns the rows already written."""

    def __init__(self, path: str | Path, columns: Sequence[str]):
        self.path = Path(path)
        self.columns = list(columns)
        self._header = self._encode([self.columns])

    @staticmethod
    def _encode(rows: Iterable[Sequence]) -> bytes:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        for r in rows:
            w.writerow([format_value(v) for v in r])
        return buf.getvalue().encode("utf-8")

    def _write_header(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "wb") as f:
            f.write(self._header)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)

    def open(self) -> list[tuple[str, str]]:
        """Create the file or validate an existing one; returns its rows (column -> text) in file order."""
        from probcascade.exceptions import DataValidationError

        if not self.path.exists() or self.path.stat().st_size == 0:
            self._write_header()
            return []
        data = self.path.read_bytes()
        if not data.endswith(b"\n"):
            cut = data.rfind(b"\n") + 1
            if cut == 0:  # not even a complete header
                self._write_header()
                return []
            with open(self.path, "r+b") as f:
                f.truncate(cut)
                f.flush()
                os.fsync(f.fileno())
            print(f"{self.path}: dropped an incomplete last line left by an interrupted run", file=sys.stderr)
            data = data[:cut]
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise DataValidationError(f"{self.path}: exists but is not a UTF-8 CSV file; choose another --out") from None
        reader = csv.reader(io.StringIO(text))
        header = next(reader, None)
        if header != self.columns:
            raise DataValidationError(
                f"{self.path} exists with different columns (it was written with other --signals or is another "
                f"file): found {header}, expected {self.columns}; choose another --out or delete it"
            )
        done = []
        for lineno, row in enumerate(reader, start=2):
            if len(row) != len(self.columns):
                raise DataValidationError(f"{self.path} line {lineno}: {len(row)} fields, expected {len(self.columns)}")
            done.append(dict(zip(self.columns, row)))
        return done

    def append(self, rows: Sequence[Sequence]) -> None:
        """Append whole rows with one write + fsync, with SIGINT held back until they are on disk."""
        if not rows:
            return
        payload = self._encode(rows)
        with deferred_sigint():
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
            try:
                view = memoryview(payload)
                while view:
                    n = os.write(fd, view)
                    view = view[n:]
                os.fsync(fd)
            finally:
                os.close(fd)
