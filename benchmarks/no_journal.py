#!/usr/bin/env python3
"""Benchmark-only launcher: `remote-support` with the run journal replaced by one that does nothing.

The product has, on purpose, no option to turn the journal off. To measure what recording costs, the
benchmark runs the same command twice: once normally, once through this launcher:

    python benchmarks/no_journal.py exec all -i INVENTORY -f 50 --json -- 'uname -a; uptime'

It imports ``remote_support.journal_sqlite`` (the journal code a normal run imports; SQLAlchemy is imported
only when a run needs the full journal), replaces ``journal_sqlite.open_journal`` (how a run opens its
journal) with a function returning :class:`NullJournal`, and calls ``remote_support.cli.main()``
with the same arguments. Everything else (inventory, runner, SSH, JSON output, JournalRecorder) is the
real code. NullJournal has only the methods a run calls (``start_run``, ``mark_changing``, ``record_host``,
``finish_run``, ``where``, ``close``); a command that needs anything more fails loudly instead of measuring something else.

With ``--skip-journal-import`` as its first argument (an information row of the benchmark), it goes one
step further: ``remote_support.journal`` and ``remote_support.journal_sqlite`` are never imported (a stub module stands in for it, with the same
null journal), so the run also saves the import of the journal module and SQLAlchemy, as a build of the
tool without any journal would:

    python benchmarks/no_journal.py --skip-journal-import exec all -i INVENTORY -- 'uname -a; uptime'

Never use this outside the benchmark: the runs it makes are recorded nowhere.
"""

from __future__ import annotations

import os
import sys
import types
from datetime import datetime, timezone

# Started as `python benchmarks/no_journal.py`, Python puts benchmarks/ first on sys.path, where
# benchmarks/journal.py lives; take it off so nothing can import that by mistake, and make sure the
# checkout is importable (run.py also sets PYTHONPATH to it).
_here = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _here]
sys.path.insert(0, os.path.dirname(_here))

#: printed on stderr, so the benchmark can check that this launcher (not the real journal) ran
MARKER = "no_journal: journal replaced by a null journal (benchmark only; nothing recorded)"
SKIP_IMPORT = "--skip-journal-import"


class NullJournal:
    """The journal methods a run calls, doing nothing."""

    where = "nowhere (benchmarks/no_journal.py: nothing recorded)"
    is_sqlite = False

    def start_run(self, *, kind, name, command, params, inventory, pattern, check, diff, ticket, operator,
                  hosts, tool_version, parent_run=None, request=None) -> str:
        return datetime.now(timezone.utc).strftime("%Y%m%d-%H%M") + "-0000"

    def mark_changing(self, run_id, host) -> None:
        pass

    def record_host(self, run_id, result, facts=None) -> None:
        pass

    def finish_run(self, run_id, result) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> "NullJournal":
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def _open(url: str | None = None) -> NullJournal:
    return NullJournal()


class NullRecorder:
    """Stands in for JournalRecorder when the journal module is not imported; does what it does, on the
    null journal."""

    spool = None

    def __init__(self, journal, run_id, facts_of=None, warn=None):
        self.journal = journal
        self.run_id = run_id
        self.facts_of = facts_of or (lambda host: None)

    def host_started(self, host) -> None:
        pass

    def host_finished(self, result) -> None:
        self.journal.record_host(self.run_id, result, facts=self.facts_of(result.host))

    def finish(self, result) -> None:
        self.journal.finish_run(self.run_id, result)


def main() -> None:
    if sys.argv[1:2] == [SKIP_IMPORT]:
        del sys.argv[1]
        import remote_support

        for name in ("journal", "journal_sqlite"):
            stub = types.ModuleType(f"remote_support.{name}", "benchmarks/no_journal.py: no journal, not imported")
            stub.Journal = type("Journal", (), {"open": staticmethod(_open)})
            stub.open_journal = _open
            stub.JournalRecorder = NullRecorder
            sys.modules[stub.__name__] = stub
            setattr(remote_support, name, stub)
        print(f"{MARKER}; remote_support.journal not imported", file=sys.stderr, flush=True)
    else:
        # A run opens its journal with journal_sqlite.open_journal (the sqlite3 fast path, else the full
        # Journal.open, which imports SQLAlchemy): replace it. The module is imported as in a normal run.
        import remote_support.journal_sqlite as fast_module

        fast_module.open_journal = _open
        print(MARKER, file=sys.stderr, flush=True)
    from remote_support.cli import main as cli_main

    cli_main()  # reads sys.argv[1:], exits with the tool's exit code


if __name__ == "__main__":
    main()
