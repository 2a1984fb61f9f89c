"""What the technician sees: live progress while hosts finish, per-host output and the final summary.

Progress and summaries go to stderr so that stdout carries only command output (or JSON with --json)
and can be piped.
"""

from __future__ import annotations

import re
import threading
from typing import Sequence

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .inventory import Host
from .results import HostResult, RunResult, Status, StepResult
from .secrets import MASK

STYLES = {
    Status.OK: "green",
    Status.CHANGED: "yellow",
    Status.FAILED: "bold red",
    Status.UNREACHABLE: "bold magenta",
    Status.SKIPPED: "cyan",
    Status.INTERRUPTED: "bold yellow",
    Status.PENDING: "bold",
}

#: up to this many hosts, each finishing host gets a line; above it, a progress bar
LINE_PER_HOST_LIMIT = 30
#: up to this many hosts, the summary lists every host; above it, only those that did not go well
SUMMARY_ALL_LIMIT = 50


class LiveOutput:
    """RunListener for a terminal: from the first second a done/total counter with the hosts in flight;
    a line per finishing host up to LINE_PER_HOST_LIMIT hosts (above it, only the ones that went wrong)."""

    def __init__(self, console: Console, hosts: Sequence[Host] | int, *, quiet: bool = False):
        self.console = console
        self.total = hosts if isinstance(hosts, int) else len(hosts)
        self.quiet = quiet
        self._lock = threading.Lock()
        self._in_flight: dict[str, None] = {}  # insertion-ordered set
        self._progress: Progress | None = None
        self._task = None
        if not quiet and console.is_terminal:
            self._progress = Progress(TextColumn("[bold]running"), BarColumn(bar_width=20), MofNCompleteColumn(),
                                      TextColumn("{task.fields[tally]}"), TimeElapsedColumn(),
                                      TextColumn("[dim]{task.fields[flight]}"),
                                      console=console, transient=True)
            self._task = self._progress.add_task("hosts", total=self.total, tally="", flight="")
        self._counts = {s: 0 for s in Status}

    def __enter__(self) -> "LiveOutput":
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def _flight(self) -> str:
        names = list(self._in_flight)
        if not names:
            return ""
        shown = ", ".join(names[:3]) + (f" +{len(names) - 3}" if len(names) > 3 else "")
        return f"in flight: {escape(shown)}"

    def host_started(self, host: Host) -> None:
        if self.quiet or self._progress is None:
            return
        with self._lock:
            self._in_flight[host.name] = None
            self._progress.update(self._task, flight=self._flight())

    def host_finished(self, result: HostResult) -> None:
        if self.quiet:
            return
        with self._lock:
            self._counts[result.status] += 1
            self._in_flight.pop(result.host, None)
            loud = result.status in (Status.FAILED, Status.UNREACHABLE)
            if self._progress is None:
                if self.total <= LINE_PER_HOST_LIMIT or loud:
                    self.console.print(host_line(result), highlight=False)
                return
            tally = " ".join(f"[{STYLES[s]}]{s.value}={n}[/]" for s, n in self._counts.items() if n)
            self._progress.update(self._task, advance=1, tally=tally, flight=self._flight())
            if self.total <= LINE_PER_HOST_LIMIT or loud:
                self._progress.console.print(host_line(result), highlight=False)

    def warning(self, message: str) -> None:
        target = self._progress.console if self._progress is not None else self.console
        target.print(f"[yellow]warning:[/] {escape(message)}", highlight=False)


def hosts_text(count: int) -> str:
    """``1 host``, ``5 hosts``."""
    return f"{count} host{'' if count == 1 else 's'}"


def run_header(run) -> str:
    """The line a run starts with, printed before the first host is reached."""
    request = run.request
    what = f"[bold]{escape(run.name)}[/]" if request.kind == "task" else f"[bold]$ {escape(MASK(request.what))}[/]"
    parts = [f"{what} on [bold]{escape(request.pattern)}[/] ({hosts_text(len(run.hosts))}, "
             f"forks {min(request.forks, max(1, len(run.hosts)))})"]
    if request.ticket:
        parts.append(f"ticket {escape(request.ticket)}")
    if request.check:
        parts.append("[yellow]check mode: nothing will be changed[/]")
    parts.append(f"[dim]run {run.id}[/]")
    return " | ".join(parts)


def host_line(result: HostResult) -> str:
    style = STYLES[result.status]
    reason = f"  {escape(MASK(result.reason))}" if result.reason else ""
    return (f"[{style}]{result.status.value:<11}[/] {escape(result.host)}  "
            f"[dim]{result.duration:.1f}s[/]{reason}")


def totals_line(run: RunResult) -> str:
    counts = run.count()
    parts = [f"[{STYLES[s]}]{s.value}={n}[/]" if n else f"{s.value}={n}" for s, n in counts.items()
             if s is not Status.PENDING or n]
    return " ".join(parts)


def print_summary(console: Console, run: RunResult, *, title: str = "Summary") -> None:
    """The per-host table that ends every run, then the totals and why the run stopped, if it did."""
    rows = list(run.hosts)
    hidden = 0
    if len(rows) > SUMMARY_ALL_LIMIT:
        shown = [r for r in rows if r.status not in (Status.OK, Status.CHANGED, Status.SKIPPED)]
        hidden = len(rows) - len(shown)
        rows = shown
    table = Table(title=title, title_justify="left", show_edge=False, pad_edge=False)
    table.add_column("host", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("rc", justify="right")
    table.add_column("time", justify="right")
    table.add_column("reason", overflow="fold")
    for result in rows:
        rcs = {s.rc for s in result.steps if s.rc is not None}
        rc = ",".join(str(r) for r in sorted(rcs)) if rcs else "-"
        table.add_row(escape(result.host), f"[{STYLES[result.status]}]{result.status.value}[/]", rc,
                      f"{result.duration:.1f}s", escape(MASK(result.reason)))
    if rows:
        console.print(table)
    if hidden:
        console.print(f"[dim]... and {hidden} more hosts that went well (use --json for all)[/]")
    console.print(f"{hosts_text(len(run.hosts))}: {totals_line(run)}", highlight=False)
    if run.aborted_reason:
        console.print(f"[bold red]run stopped:[/] {escape(run.aborted_reason)}")
    if run.interrupted:
        console.print("[bold yellow]run interrupted (Ctrl-C):[/] hosts still running were stopped")


# ------------------------------------------------------------------ ad-hoc command output


def fold_names(names: Sequence[str]) -> str:
    """``lab-001,lab-002,lab-003,web`` -> ``lab-[001-003],web`` (as ClusterShell's nodesets)."""
    groups: dict[tuple[str, str, int], list[int]] = {}
    order: list[tuple[str, str, int] | str] = []
    for name in names:
        match = re.fullmatch(r"(.*?)(\d+)(\D*)", name)
        if not match:
            order.append(name)
            continue
        key = (match.group(1), match.group(3), len(match.group(2)))
        if key not in groups:
            groups[key] = []
            order.append(key)
        groups[key].append(int(match.group(2)))
    parts = []
    for item in order:
        if isinstance(item, str):
            parts.append(item)
            continue
        prefix, suffix, width = item
        numbers = sorted(set(groups[item]))
        if len(numbers) == 1:
            parts.append(f"{prefix}{numbers[0]:0{width}d}{suffix}")
            continue
        ranges, start, prev = [], numbers[0], numbers[0]
        for n in numbers[1:] + [None]:
            if n is not None and n == prev + 1:
                prev = n
                continue
            ranges.append(f"{start:0{width}d}" if start == prev else f"{start:0{width}d}-{prev:0{width}d}")
            if n is not None:
                start = prev = n
        parts.append(f"{prefix}[{','.join(ranges)}]{suffix}")
    return ",".join(parts)


def print_command_output(console: Console, run: RunResult, *, one_line: bool = False,
                         grouped: bool = False) -> None:
    """Each host's stdout, stderr and rc: one block a host, one line a host (-o), or grouped by output."""
    if grouped:
        buckets: dict[tuple, list[str]] = {}
        for result in run.hosts:
            buckets.setdefault(_output_key(result), []).append(result.host)
        for key, names in buckets.items():
            status, rc, stdout, stderr, reason = key
            header = f"{fold_names(names)} ({len(names)}) | {status} | rc={rc if rc is not None else '-'}"
            console.rule(f"[{STYLES[Status(status)]}]{escape(header)}[/]", align="left")
            _print_streams(console, stdout, stderr, reason)
        return
    for result in run.hosts:
        status, rc, stdout, stderr, reason = _output_key(result)
        rc_text = f"rc={rc}" if rc is not None else "rc=-"
        style = STYLES[result.status]
        if one_line:
            body = (stdout + (" " + stderr if stderr else "")).strip().replace("\n", "\\n")
            body = body or reason
            console.print(f"[{style}]{escape(result.host)} | {status} | {rc_text}[/] | {escape(body)}",
                          highlight=False, soft_wrap=True)
            continue
        console.print(f"[{style}]{escape(result.host)} | {status} | {rc_text} >>[/]", highlight=False)
        _print_streams(console, stdout, stderr, reason)


def _output_key(result: HostResult) -> tuple:
    step = result.steps[0] if result.steps else None
    stdout = MASK(step.stdout) if step else ""
    stderr = MASK(step.stderr) if step else ""
    reason = MASK(result.reason) if result.status not in (Status.OK, Status.CHANGED) else ""
    return (result.status.value, step.rc if step else None, stdout, stderr, reason)


def _print_streams(console: Console, stdout: str, stderr: str, reason: str) -> None:
    if stdout:
        console.out(stdout.rstrip("\n"), highlight=False)
    if stderr:
        console.print(f"[red]{escape(stderr.rstrip())}[/]", highlight=False)
    if reason and not stderr.strip().endswith(reason):
        console.print(f"[dim]{escape(reason)}[/]", highlight=False)


# ------------------------------------------------------------------ task runs


STEP_MARKS = {
    Status.OK: "[green]ok[/]", Status.CHANGED: "[yellow]changed[/]", Status.FAILED: "[bold red]FAILED[/]",
    Status.UNREACHABLE: "[bold magenta]UNREACHABLE[/]", Status.SKIPPED: "[cyan]skipped[/]",
    Status.INTERRUPTED: "[bold yellow]interrupted[/]", Status.PENDING: "[bold]pending[/]",
}
#: up to this many hosts every host's steps are shown; above it only hosts that did not go well
STEPS_ALL_LIMIT = 10
_TAIL = 12


def print_steps(console: Console, run: RunResult, *, verbose: bool = False, diff: bool = False) -> None:
    """Each host's steps at the end of a live run: what ran, what changed, and for a failure the end of
    its output (the same printer as ``runs show``)."""
    show_all = verbose or len(run.hosts) <= STEPS_ALL_LIMIT
    for result in run.hosts:
        if not show_all and result.status in (Status.OK, Status.CHANGED, Status.SKIPPED):
            continue
        console.print(f"[bold]{escape(result.host)}[/] [{STYLES[result.status]}]{result.status.value}[/]",
                      highlight=False)
        for number, step in enumerate(result.steps, 1):
            print_step(console, step, number=number, brief=not verbose, output=verbose or step.status is Status.FAILED,
                       diff=diff or verbose)


# ------------------------------------------------------------------ the journal


def _status_markup(status: str) -> str:
    try:
        return f"[{STYLES[Status(status)]}]{status}[/]"
    except ValueError:  # running, pending
        return f"[bold]{escape(status)}[/]"


def _when(value) -> str:
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def print_run_list(console: Console, records) -> None:
    if not records:
        console.print("[dim]no runs recorded (yet) for these filters[/]")
        return
    table = Table(show_edge=False, pad_edge=False)
    for column in ("run", "started", "status", "hosts", "ticket", "who"):
        table.add_column(column, no_wrap=True)
    table.add_column("what", overflow="fold", ratio=1, min_width=12)
    for r in records:
        counts = " ".join(f"{k}={v}" for k, v in sorted(r.counts.items()) if v)
        what = ("$ " if r.kind == "exec" else "") + r.name + (" (check)" if r.check else "")
        started = r.started_at.astimezone().strftime("%m-%d %H:%M") if r.started_at else "-"
        table.add_row(r.id, started, _status_markup(r.status), counts, escape(r.ticket or "-"), escape(r.who),
                      escape(MASK(what)))
    console.print(table)


def print_run_record(console: Console, record) -> None:
    """A recorded run as the technician saw it: header, notes, then each host's steps and output."""
    kind = "command" if record.kind == "exec" else "task"
    console.print(f"[bold]run {record.id}[/]  {_status_markup(record.status)}"
                  f"{'  exit ' + str(record.exit_code) if record.exit_code is not None else ''}", highlight=False)
    rows = [(kind, MASK(record.name) + (f"  ({record.command})" if record.kind == "task" else "")),
            ("ticket", record.ticket or "-"), ("by", record.who + f" on {record.controller}"),
            ("hosts", f"{record.pattern}  from {', '.join(record.inventory) or '-'}"),
            ("when", f"{_when(record.started_at)} .. {_when(record.ended_at)}"),
            ("mode", ", ".join(m for m, on in (("check", record.check), ("diff", record.diff)) if on) or "normal"),
            ("version", record.tool_version)]
    if record.params:
        rows.append(("params", ", ".join(f"{k}={v}" for k, v in record.params.items())))
    if record.parent_run:
        rows.append(("retry of", record.parent_run))
    if record.aborted_reason:
        rows.append(("stopped", record.aborted_reason))
    for label, value in rows:
        console.print(f"  [dim]{label:<8}[/] {escape(str(value))}", highlight=False)
    for note in record.notes:
        to = f" -> {note.escalated_to}" if note.escalated_to else ""
        console.print(f"  [yellow]{note.kind}{escape(to)}[/] {_when(note.created_at)} {escape(note.author)}: "
                      f"{escape(note.text)}" + (f" [dim]({escape(note.bundle)})[/]" if note.bundle else ""),
                      highlight=False)
    console.print()
    for host in record.hosts:
        console.print(f"[bold]{escape(host.host)}[/] {_status_markup(host.status)}"
                      f"{'  ' + escape(host.reason) if host.reason else ''}", highlight=False)
        for step in host.steps:
            print_step(console, step)
    counts = " ".join(f"{k}={v}" for k, v in sorted(record.counts.items()) if v)
    console.print(f"\n{hosts_text(len(record.hosts))}: {counts}", highlight=False)


def print_step(console: Console, step: StepResult, *, number: int | None = None, brief: bool = True,
               output: bool = True, diff: bool = True) -> None:
    """One step: its line, its command (when it failed or in full), the end of its output, its diff."""
    mark = "[yellow]failed (ignored)[/]" if step.ignored else STEP_MARKS[Status(step.status)]
    rc = f" rc={step.rc}" if step.rc not in (None, 0) else ""
    attempts = f" after {step.attempts} attempts" if step.attempts > 1 else ""
    console.print(f"  {number or step.number}. {mark} {escape(step.name)}[dim]{rc}{attempts} {step.duration:.1f}s[/]"
                  + (f"  {escape(MASK(step.reason))}" if step.reason else ""), highlight=False)
    if step.command and (not brief or step.status == Status.FAILED):
        console.print(f"     [dim]$ {escape(MASK(step.command))}[/]", highlight=False)
    if output:
        for stream, style in ((step.stdout, "default"), (step.stderr, "red")):
            lines = MASK(stream).rstrip("\n").splitlines()
            if not lines:
                continue
            if brief and len(lines) > _TAIL:
                console.print(f"     [dim]... {len(lines) - _TAIL} more lines (runs show RUN --host H --step N "
                              "for all)[/]")
                lines = lines[-_TAIL:]
            for line in lines:
                console.print(f"     [{style}]{escape(line)}[/]", highlight=False)
    if diff and step.diff:
        for line in MASK(step.diff).rstrip("\n").splitlines():
            style = "green" if line.startswith("+") else "red" if line.startswith("-") else "dim"
            console.print(f"     [{style}]{escape(line)}[/]", highlight=False)


def print_step_record(console: Console, step: StepResult) -> None:
    print_step(console, step, brief=False)


def print_history(console: Console, host: str, entries) -> None:
    if not entries:
        console.print(f"[dim]nothing recorded for {escape(host)}[/]")
        return
    table = Table(title=f"history of {host}", title_justify="left", show_edge=False, pad_edge=False)
    for column in ("when", "run", "status", "ticket", "who"):
        table.add_column(column, no_wrap=True)
    table.add_column("what / reason", overflow="fold", ratio=1, min_width=12)
    for e in entries:
        who = f"{e.operator} ({e.os_user})" if e.operator and e.operator != e.os_user else e.os_user
        what = ("$ " if e.run_kind == "exec" else "") + e.run_name + (" (check)" if e.check else "")
        reason = e.reason or (f"step {e.failed_step!r} failed" if e.failed_step else "")
        when = e.started_at.astimezone().strftime("%m-%d %H:%M") if e.started_at else "-"
        table.add_row(when, e.run_id, _status_markup(e.status), escape(e.ticket or "-"), escape(who),
                      escape(MASK(what)) + (f"\n[dim]{escape(reason)}[/]" if reason else ""))
    console.print(table)
