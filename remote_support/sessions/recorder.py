"""Writing a session into the journal as it goes: asciicast v2 events, masked, hidden input left out.

The recorder is fed what the terminal shows (``output``), what the technician types (``input``, kept only
with ``--record-input``) and window sizes (``resize``); a thread writes the events to the journal every
:data:`FLUSH_INTERVAL` seconds, so a killed tool loses at most about a second of the session.

Hidden input. The client cannot see the remote terminal's echo setting, so typed text is recorded only
when the remote side echoes it back promptly (within :data:`ECHO_WINDOW` seconds, as the start of the
output that follows); text typed after a password-like prompt (``[Pp]assword``, ``passphrase``, ``PIN``,
``pw:``) is never recorded until Enter. The limit: a program that echoes what it is given although it is
secret (or a prompt worded otherwise, with echo on) is recorded as shown; the output itself is recorded as
the technician saw it, with the secrets the tool knows masked.
"""

from __future__ import annotations

import codecs
import json
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from ..errors import JournalError
from ..secrets import MASK

#: seconds between two writes to the journal (a SIGKILL loses at most this much, plus ECHO_WINDOW of input)
FLUSH_INTERVAL = 0.25
#: typed text counts as shown when the remote side echoes it within this many seconds
ECHO_WINDOW = 0.5
#: output is held this long after it arrived when it may continue (a secret split over two reads is masked)
HOLD = 0.3

PASSWORD_PROMPT = re.compile(r"([Pp]assword|PASSWORD|passphrase|Passphrase|PIN|pw:)[^\n]{0,40}$")
_ESCAPES = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[PX^_][^\x1b]*\x1b\\|[()*+][0-9A-Za-z]|.)")
_CONTROLS = re.compile(r"[\x00-\x1f\x7f]")


def visible_text(text: str) -> str:
    """``text`` without terminal escape sequences (what is printed, plus newlines)."""
    return _ESCAPES.sub("", text)


@dataclass
class _Event:
    t: float
    kind: str  # o | i | r
    data: str
    decided: bool = True  # input: known whether it was shown (echoed) or hidden
    keep: bool = True
    typed: str = ""  # input: its printable text, to find in the echo
    seen: str = ""  # input: visible output since it was typed


@dataclass
class SessionRecorder:
    """The events of one session, written to ``journal`` under run ``run_id`` as they come."""

    journal: Any
    run_id: str
    width: int
    height: int
    record_input: bool = False
    env: dict[str, str] = field(default_factory=dict)
    title: str = ""
    warn: Callable[[str], None] = lambda message: None
    clock: Callable[[], float] = time.monotonic

    def __post_init__(self) -> None:
        self.started = self.clock()
        self.header = {"version": 2, "width": self.width, "height": self.height, "timestamp": int(time.time()),
                       "env": dict(self.env), **({"title": self.title} if self.title else {})}
        self._seq = 0
        self._pending: list[_Event] = []
        self._unwritten: list[tuple[int, float, str, str]] = []
        self._lock = threading.Lock()
        self._out = codecs.getincrementaldecoder("utf-8")("replace")
        self._in = codecs.getincrementaldecoder("utf-8")("replace")
        self._line = ""  # the visible text of the output's current line (for password prompts)
        self._hidden = False  # after a password-like prompt, until Enter
        self.hidden_inputs = 0  # typed chunks left out as hidden (for the record)
        self.events = 0
        self._warned = False
        self.journal.add_session_chunks(self.run_id, [(0, 0.0, "h", json.dumps(self.header))])
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._flusher, name=f"session-{self.run_id}", daemon=True)
        self._thread.start()

    # -- fed by the terminal loop

    def _now(self) -> float:
        return round(self.clock() - self.started, 6)

    def output(self, data: bytes) -> None:
        text = self._out.decode(data)
        if not text:
            return
        visible = _CONTROLS.sub("", visible_text(text).replace("\n", " "))
        line = visible_text(text)
        with self._lock:
            # the echo of each keystroke waiting for one, in the order typed: shown only if the output that
            # follows starts with it (what else comes first, e.g. a program's output, counts as no echo)
            rest = visible
            for event in self._pending:
                if event.kind != "i" or event.decided:
                    continue
                event.seen += rest
                if event.seen.startswith(event.typed):
                    event.decided, event.keep = True, True
                    rest = event.seen[len(event.typed):]
                elif event.typed.startswith(event.seen):
                    break  # echoed in part so far
                else:
                    event.decided, event.keep = True, False
                    self.hidden_inputs += 1
                    rest = event.seen
            self._line = (self._line + line).rsplit("\n", 1)[-1][-200:]
            self._pending.append(_Event(self._now(), "o", text))

    def input(self, data: bytes) -> None:
        text = self._in.decode(data)
        if not text:
            return
        with self._lock:
            if not self._hidden and PASSWORD_PROMPT.search(_CONTROLS.sub("", self._line).rstrip()):
                self._hidden = True
            if self._hidden:
                self.hidden_inputs += 1
                if "\r" in text or "\n" in text:
                    self._hidden = False
                    self._line = ""
                return
            if not self.record_input:
                return
            typed = _CONTROLS.sub("", visible_text(text))
            self._pending.append(_Event(self._now(), "i", text, decided=not typed, typed=typed))

    def resize(self, cols: int, rows: int) -> None:
        with self._lock:
            self._pending.append(_Event(self._now(), "r", f"{cols}x{rows}"))

    # -- writing

    def _take(self, final: bool) -> list[tuple[int, float, str, str]]:
        """The events ready to be written, in order, masked and numbered (called under the lock)."""
        now = self._now()
        for event in self._pending:
            if event.kind == "i" and not event.decided and (final or now - event.t > ECHO_WINDOW):
                event.decided, event.keep = True, False
                self.hidden_inputs += 1
        ready: list[_Event] = []
        for event in self._pending:
            if not event.decided:
                break
            if not event.keep:
                continue
            if (ready and event.kind == "o" and ready[-1].kind == "o"
                    and MASK(ready[-1].data + event.data) != MASK(ready[-1].data) + MASK(event.data)):
                ready[-1].data += event.data  # a secret split over two reads: masked as one
                continue
            ready.append(event)
        consumed = 0  # every decided event before the first undecided one
        for event in self._pending:
            if not event.decided:
                break
            consumed += 1
        held: list[_Event] = []
        if (not final and ready and ready[-1].kind == "o" and consumed == len(self._pending)
                and now - ready[-1].t < HOLD):
            held = [ready.pop()]  # it may go on in the next read
        self._pending = held + self._pending[consumed:]
        rows = []
        for event in ready:
            self._seq += 1
            rows.append((self._seq, event.t, event.kind, MASK(event.data)))
        self.events += len(rows)
        return rows

    def flush(self, final: bool = False) -> None:
        with self._lock:
            rows = self._unwritten + self._take(final)
            self._unwritten = []
        if not rows:
            return
        try:
            self.journal.add_session_chunks(self.run_id, rows)
        except JournalError as exc:
            with self._lock:
                self._unwritten = rows + self._unwritten
            if not self._warned:
                self._warned = True
                self.warn(f"journal: cannot record the session ({exc}); retrying every second")
            if final:
                raise

    def _flusher(self) -> None:
        while not self._stop.wait(FLUSH_INTERVAL):
            try:
                self.flush()
            except JournalError:
                pass  # said once by flush(); kept for the next round

    def close(self) -> None:
        """Write everything still pending; the recorder takes no more events."""
        self._stop.set()
        self._thread.join()
        with self._lock:
            tail = self._out.decode(b"", final=True)
            if tail:
                self._pending.append(_Event(self._now(), "o", tail))
        self.flush(final=True)
