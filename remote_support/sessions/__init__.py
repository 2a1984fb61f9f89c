"""Recorded interactive sessions (``remote-support shell``, ``sessions list/play/export/search``).

- :mod:`.shell`: the terminal on one host (an SSH pty, or a network device's CLI), raw mode, resizes,
  ``--become`` through ``sudo -i``, idle timeout; the session as a run of kind ``session``;
- :mod:`.recorder`: asciicast v2 events into the journal as the session goes, secrets masked, hidden
  input left out;
- :mod:`.cast`: reading them back: asciicast files, playback, the screen text (through pyte) and search.
"""

from .cast import Cast, load_cast, play, screen_text, search, session_screen_text

__all__ = ["Cast", "load_cast", "play", "screen_text", "search", "session_screen_text"]
