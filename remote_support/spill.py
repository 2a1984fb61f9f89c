"""Outputs too big to hold: spilled to an unlinked temp file as they arrive, with a head and a tail kept.

A host may print 300 MB. Past :data:`SPILL_AT` bytes a stream goes to disk; the text that travels on
(results, the terminal, --json) is a :class:`SpilledText`: its head and tail around a marker line, with
the whole raw stream still readable in chunks for the journal, which compresses it into its blob.
"""

from __future__ import annotations

import codecs
import os
import tempfile
import threading
from typing import Callable, Iterator

#: bytes of one stream kept in memory; beyond it the stream is spilled to a file
SPILL_AT = 8 * 1024 * 1024
#: bytes of the head and of the tail kept for showing
KEEP = 256 * 1024
_READ = 1024 * 1024


class SpilledText(str):
    """The head and tail of a stream (as text); ``chunks()`` gives the whole stream, decoded."""

    size: int  # bytes of the whole stream
    _fd: int

    def __new__(cls, shown: str, fd: int, size: int) -> "SpilledText":
        text = super().__new__(cls, shown)
        text._fd = fd
        text.size = size
        return text

    def chunks(self, size: int = _READ) -> Iterator[str]:
        """The whole stream as text, a chunk at a time (pread: safe from any thread, any number of times);
        after release() only the head and tail are left."""
        if self._fd < 0:
            yield str(self)
            return
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        offset = 0
        while True:
            data = os.pread(self._fd, size, offset)
            if not data:
                break
            offset += len(data)
            yield decoder.decode(data)
        tail = decoder.decode(b"", final=True)
        if tail:
            yield tail

    def release(self) -> None:
        """Give the file back (the journal has the whole text): a run of many hosts that each print a lot
        must not keep every output on the controller's disk until it ends."""
        fd, self._fd = getattr(self, "_fd", -1), -1
        if fd >= 0:
            os.close(fd)

    def __del__(self) -> None:
        try:
            self.release()
        except OSError:
            pass

    def __reduce__(self):  # pickling or copying keeps what is shown: the file belongs to this object
        return (str, (str(self),))


class Spool:
    """One stream as it arrives: in memory while small, then appended to an unlinked temp file."""

    def __init__(self) -> None:
        self.head = b""
        self.tail = bytearray()
        self.size = 0
        self._fd: int | None = None
        self._lock = threading.Lock()

    def __del__(self) -> None:
        if self._fd is not None:
            os.close(self._fd)

    @property
    def spilled(self) -> bool:
        return self._fd is not None

    def write(self, data: bytes | bytearray) -> None:
        if not data:
            return
        with self._lock:
            if self._fd is None:
                fd, path = tempfile.mkstemp(prefix="rs-output-")
                os.unlink(path)  # nobody else can open it; it goes when we close it
                self._fd = fd
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view):]
            if len(self.head) < KEEP:
                self.head += bytes(data[:KEEP - len(self.head)])
            self.tail += data[-KEEP:]
            del self.tail[:-KEEP]
            self.size += len(data)

    def text(self, mask: Callable[[str], str]) -> SpilledText:
        """The stream as a SpilledText (head, a marker, tail; masked); the file is handed over to it.
        Only spilled streams come here, and they are far longer than head and tail together."""
        head = mask(self.head.decode("utf-8", "replace"))
        tail = mask(bytes(self.tail).decode("utf-8", "replace"))
        omitted = self.size - len(self.head) - len(self.tail)
        marker = (f"\n[... {omitted} bytes not shown here: the whole output ({self.size} bytes) is kept in the "
                  f"journal: remote-support runs show RUN --host HOST --step N ...]\n")
        fd, self._fd = self._fd, None
        assert fd is not None
        return SpilledText(head + marker + tail, fd, self.size)


class Collected:
    """One stream of a command as it arrives, for connections that read it themselves (local, WinRM): kept in
    memory up to :data:`SPILL_AT` bytes, then spilled; :meth:`text` is the masked text, or a SpilledText."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.spool = Spool()

    def add(self, data: bytes | bytearray) -> None:
        self.buffer += data
        if len(self.buffer) > SPILL_AT or (self.spool.spilled and len(self.buffer) >= _READ):
            self.spool.write(self.buffer)
            self.buffer.clear()

    def text(self, mask: Callable[[str], str]) -> str:
        if self.spool.spilled:
            self.spool.write(self.buffer)
            self.buffer.clear()
            return self.spool.text(mask)
        return mask(self.buffer.decode("utf-8", "replace"))
