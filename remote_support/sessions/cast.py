"""Recorded sessions read back: asciicast v2 files, playback in the terminal, and the screen text.

The screen text is what the technician saw, rendered through pyte (a VT100/xterm emulator in pure Python):
a search for a word finds it whether it was printed plainly, drawn by a full-screen program (less, top,
vim) or typed with line editing, and does not find escape sequences or text that was overwritten
before it could be seen.
"""

from __future__ import annotations

import copy
import json
import os
import time
from dataclasses import dataclass
from typing import IO, Any, Iterator

from ..errors import JournalError, UsageError

#: pauses longer than this are shortened on playback (seconds; as asciinema's idle_time_limit)
IDLE_LIMIT = 2.0


@dataclass
class Cast:
    """One session's recording: the asciicast header and its events ``(t, kind, data)``."""

    run_id: str
    header: dict[str, Any]
    events: list[tuple[float, str, str]]
    last_seq: int

    def lines(self) -> Iterator[str]:
        """The recording as asciicast v2 lines (header, then one JSON array per event)."""
        yield json.dumps(self.header, ensure_ascii=False)
        for t, kind, data in self.events:
            yield json.dumps([t, kind, data], ensure_ascii=False)

    def text(self) -> str:
        return "\n".join(self.lines()) + "\n"


def load_cast(journal: Any, run_id: str) -> Cast:
    """The recording of session ``run_id`` (an id or a unique prefix) from the journal."""
    record = journal.get_run(run_id, host=None)
    if record.kind != "session":
        raise UsageError(f"run {record.id} is a {record.kind} run, not a session: see `remote-support sessions list`")
    chunks = journal.session_chunks(record.id)
    if not chunks or chunks[0][2] != "h":
        raise JournalError(f"session {record.id} has no recording in journal {journal.where}")
    header = json.loads(chunks[0][3])
    return Cast(record.id, header, [(t, kind, data) for _, t, kind, data in chunks[1:]], chunks[-1][0])


def play(cast: Cast, out: IO[bytes] | None = None, *, speed: float = 1.0, idle_limit: float | None = IDLE_LIMIT,
         sleep=time.sleep) -> None:
    """Write the session's output to ``out`` (default: stdout) with its timing, ``speed`` times faster."""
    if speed <= 0:
        raise UsageError(f"--speed {speed:g}: must be more than 0")
    fd = out.fileno() if out is not None else 1
    previous = 0.0
    for t, kind, data in cast.events:
        if kind != "o":
            continue
        pause = max(0.0, t - previous)
        if idle_limit is not None:
            pause = min(pause, idle_limit)
        previous = t
        if pause:
            sleep(pause / speed)
        _write_all(fd, data.encode("utf-8"))


def _write_all(fd: int, data: bytes) -> None:
    while data:
        written = os.write(fd, data)
        data = data[written:]


# --------------------------------------------------------------------------------------------- the screen

def _pyte():
    try:
        import pyte
    except ImportError:  # a dependency: only a broken install lacks it
        raise UsageError("pyte is not installed: pip install pyte (remote-support needs it to render sessions)") from None
    return pyte


_ALTERNATE = (47, 1047, 1049)  # xterm's alternate screen (less, top, vim draw there)


def _screen_class():
    pyte = _pyte()

    class Screen(pyte.Screen):
        """pyte's screen with the alternate screen of full-screen programs, keeping every line seen."""

        def __init__(self, columns: int, lines: int):
            super().__init__(columns, lines)
            self.seen: dict[str, None] = {}
            self._main: tuple[Any, Any] | None = None

        def row(self, y: int) -> str:
            line = self.buffer.get(y)
            if not line:
                return ""
            # only the cells written (a line is a sparse dict: reading every column would create them all)
            cells = [" "] * self.columns
            for x, char in line.items():
                if x < self.columns:
                    cells[x] = char.data
            return "".join(cells).rstrip()

        def keep_display(self) -> None:
            for y in range(self.lines):
                self.keep(self.row(y))

        def keep(self, text: str) -> None:
            if text.strip():
                self.seen.setdefault(text, None)

        def index(self) -> None:
            top, bottom = self.margins or (0, self.lines - 1)
            if self.cursor.y == bottom:
                self.keep(self.row(top))  # about to scroll away
            super().index()

        def resize(self, lines: int | None = None, columns: int | None = None) -> None:
            lines = lines or self.lines
            if lines < self.lines:
                # as xterm and tmux: lines go from the top only as far as the cursor needs to stay on the
                # screen, the rest from the bottom (pyte always deletes from the top, leaving stale rows)
                self.keep_display()
                drop = max(0, self.cursor.y - (lines - 1))
                kept = {y - drop: self.buffer[y] for y in range(drop, drop + lines) if y in self.buffer}
                self.buffer.clear()
                self.buffer.update(kept)
                self.cursor.y -= drop
                self.lines = lines
                self.set_margins()
            super().resize(lines, columns)

        def erase_in_display(self, how: int = 0, *args: Any, **kwargs: Any) -> None:
            if how in (2, 3):
                self.keep_display()  # cleared: what was there was seen
            super().erase_in_display(how, *args, **kwargs)

        def set_mode(self, *modes: int, **kwargs: Any) -> None:
            if kwargs.get("private") and any(m in _ALTERNATE for m in modes) and self._main is None:
                self._main = (copy.deepcopy(self.buffer), copy.copy(self.cursor))
                self.keep_display()
                self.buffer.clear()
            super().set_mode(*modes, **kwargs)

        def reset_mode(self, *modes: int, **kwargs: Any) -> None:
            if kwargs.get("private") and any(m in _ALTERNATE for m in modes) and self._main is not None:
                self.keep_display()
                buffer, cursor = self._main
                self._main = None
                self.buffer.clear()
                self.buffer.update(buffer)
                self.cursor = cursor
            super().reset_mode(*modes, **kwargs)

    return Screen


def render(cast: Cast, *, upto: float | None = None):
    """The pyte screen after the recording's output (up to ``upto`` seconds), resizes honoured."""
    pyte = _pyte()
    screen = _screen_class()(int(cast.header.get("width") or 80), int(cast.header.get("height") or 24))
    stream = pyte.Stream(screen)
    previous = None
    for t, kind, data in cast.events:
        if upto is not None and t > upto:
            break
        if kind == "r":
            cols, _, rows = data.partition("x")
            try:
                lines, columns = int(rows), int(cols)
            except ValueError:
                continue
            screen.keep_display()
            screen.resize(lines, columns)
        elif kind == "o":
            if previous is not None and t - previous > 0.1:
                screen.keep_display()  # the screen stood still long enough to be seen
            stream.feed(data)
            previous = t
    return screen


def final_screen(cast: Cast) -> list[str]:
    """The screen as the recording leaves it, one string per row (trailing blanks cut)."""
    screen = render(cast)
    return [screen.row(y) for y in range(screen.lines)]


def screen_text(cast: Cast) -> str:
    """Every line the technician saw during the session, in the order it first appeared."""
    screen = render(cast)
    screen.keep_display()
    return "\n".join(screen.seen)


def session_screen_text(journal: Any, run_id: str) -> str:
    """The screen text of a session (see :func:`screen_text`), kept in the journal and rendered again
    only when more of the recording has arrived (a session still going, or one that was killed)."""
    cast = load_cast(journal, run_id)
    stored = journal.session_screen(cast.run_id)
    if stored is not None and stored[0] == cast.last_seq:
        return stored[1]
    text = screen_text(cast)
    journal.store_session_screen(cast.run_id, cast.last_seq, text)
    return text


def search(journal: Any, text: str, limit: int = 50) -> list[str]:
    """Ids of the sessions whose screen text holds ``text`` (case-insensitive), newest first. Sessions
    whose screen text is missing or behind their recording are rendered first."""
    if not text.strip():
        raise UsageError("sessions search: give the text to look for")
    for run_id in journal.stale_session_screens():
        session_screen_text(journal, run_id)
    return journal.search_session_screens(text, limit=limit)
