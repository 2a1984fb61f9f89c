"""Reports of a recorded run, to hand over: one HTML page for a ticket, JSON, JUnit XML for CI.

Each renderer takes what :meth:`remote_support.journal.Journal.get_run` returns. The journal has masked
every secret already; the renderers mask again with :data:`~remote_support.secrets.MASK` (cheap, and a
report built from a record made elsewhere still hides what this process knows).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import jinja2
import markupsafe

from . import __version__
from .results import JSON_FORMAT_VERSION as _JSON_FORMAT_VERSION, Status
from .secrets import MASK

if TYPE_CHECKING:
    from .journal import RunRecord
    from .results import HostResult

#: statuses in the order the summary lists them, worst first
STATUS_ORDER = ("unreachable", "failed", "interrupted", "changed", "ok", "skipped", "pending", "running")


# --------------------------------------------------------------------------------------------- JSON

#: the JSON report is the run document (``RunRecord.to_dict``): its version and every status count
JSON_FORMAT_VERSION = _JSON_FORMAT_VERSION
HOST_STATUSES = tuple(s.value for s in Status)


def render_json(run: "RunRecord") -> str:
    """The run as indented JSON: the run document of README's "JSON" section, secrets masked."""
    return json.dumps(_masked(run.to_dict()), indent=2, ensure_ascii=False) + "\n"


_masked = MASK.deep  # every text in the JSON masked


# --------------------------------------------------------------------------------------------- JUnit

# Terminal colour and cursor sequences (ls --color, systemctl) mean nothing on a page: dropped
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[@-Z\\-_]")
# XML 1.0 (and HTML) cannot carry these characters even escaped: shown as U+FFFD
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")


def _printable(text: str) -> str:
    """Masked text that any XML or HTML parser takes: no terminal sequences, no control characters."""
    return _XML_INVALID.sub("\ufffd", _ANSI.sub("", MASK(text)))


def _xml(text: Any) -> str:
    return _printable("" if text is None else str(text))


def _cases(host: "HostResult") -> list[tuple[str, str, str, float, str, str, str]]:
    """(name, status, message, seconds, command, stdout, stderr) per test case of a host: its steps, and
    a ``(host)`` case when the host's status is not explained by a step (unreachable, lost, not run)."""
    cases = [(f"{s.number:02d} {s.name}", "ok" if s.ignored else s.status, s.reason, s.duration or 0.0,
              s.command or "", s.stdout, s.stderr) for s in host.steps]
    if host.status not in {c[1] for c in cases} and (host.status not in ("ok", "changed") or not cases):
        cases.append(("(host)", host.status, host.reason, host.duration or 0.0, "", "", ""))
    return cases


def suite_name(run: "RunRecord", width: int = 60) -> str:
    """The testsuite's name, what CI lists the run under: the task's name, or ``exec: `` and the command's
    first line, shortened to ``width`` characters (the run id is the suite's ``id``)."""
    if run.kind == "task":
        return run.name
    text = (run.command or run.name or "").strip()
    first = text.splitlines()[0] if text else ""
    if len(first) > width or first != text:
        first = first[:width - 1].rstrip() + "\u2026"
    return f"exec: {first}"


def _timestamp(value: datetime) -> str:
    """ISO 8601 with its zone (the journal's times are UTC; a naive one is taken as UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.isoformat(timespec="seconds")


def render_junit(run: "RunRecord") -> str:
    """JUnit XML valid against Jenkins' ``junit-10.xsd``: one testsuite per run (named by :func:`suite_name`,
    ``id`` = run id), one testcase per host x step (classname = host).

    failed -> <failure>, unreachable and interrupted -> <error>, skipped and pending -> <skipped>; a step
    whose failure was ignored passes. A host with no step that explains its status gets a ``(host)`` case.
    ``skipped`` is counted on the testsuite only: the schema refuses it on ``testsuites``.
    """
    suites = ET.Element("testsuites", name="remote-support")
    suite = ET.SubElement(suites, "testsuite", name=_xml(suite_name(run)), id=_xml(run.id),
                          timestamp=_timestamp(run.started_at), hostname=_xml(run.controller))
    properties = ET.SubElement(suite, "properties")
    for name, value in (("run_id", run.id), ("kind", run.kind), ("status", run.status),
                        ("exit_code", run.exit_code), ("ticket", run.ticket), ("operator", run.who),
                        ("pattern", run.pattern), ("check", run.check), ("diff", run.diff),
                        ("parent_run", run.parent_run), ("tool_version", run.tool_version)):
        if value not in (None, ""):
            ET.SubElement(properties, "property", name=name, value=_xml(value))
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    seconds = 0.0
    for host in run.hosts:
        for name, status, message, duration, command, stdout, stderr in _cases(host):
            totals["tests"] += 1
            seconds += duration
            case = ET.SubElement(suite, "testcase", classname=_xml(host.host), name=_xml(name),
                                 time=f"{duration:.3f}")
            if status == "failed":
                totals["failures"] += 1
                element = ET.SubElement(case, "failure", type="failed", message=_xml(message or "failed"))
                element.text = _xml(stderr or stdout or message)
            elif status in ("unreachable", "interrupted"):
                totals["errors"] += 1
                element = ET.SubElement(case, "error", type=status, message=_xml(message or status))
                element.text = _xml(message)
            elif status in ("skipped", "pending"):
                totals["skipped"] += 1
                ET.SubElement(case, "skipped", message=_xml(message or ("not run yet" if status == "pending"
                                                                         else "skipped")))
            if command or stdout:
                ET.SubElement(case, "system-out").text = _xml((f"$ {command}\n" if command else "") + stdout)
            if stderr:
                ET.SubElement(case, "system-err").text = _xml(stderr)
    for element in (suites, suite):
        for key, value in totals.items():
            if key != "skipped" or element is suite:
                element.set(key, str(value))
        element.set("time", f"{seconds:.3f}")
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


# --------------------------------------------------------------------------------------------- HTML

def _when(value: datetime | None) -> str:
    return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC") if value else "-"


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 60:
        return f"{value:.1f} s"
    minutes, secs = divmod(round(value), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {secs:02d} s"


def _diff_lines(diff: str) -> list[tuple[str, str]]:
    """(css class, line) of a unified diff."""
    out = []
    for line in diff.splitlines():
        if line.startswith(("+++", "---")):
            cls = "file"
        elif line.startswith("@@"):
            cls = "hunk"
        elif line.startswith("+"):
            cls = "add"
        elif line.startswith("-"):
            cls = "del"
        else:
            cls = "ctx"
        out.append((cls, line))
    return out


_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8" />
<meta name="viewport" content="width=device-width, initial-scale=1" />
<meta name="generator" content="remote-support {{ version }}" />
<title>Run {{ run.id }}: {{ run.name }}</title>
<style>
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 1.5em auto; max-width: 75em;
       padding: 0 1em; color: #1d1d1f; background: #fff; }
h1 { font-size: 1.5em; margin-bottom: .2em; } h2 { font-size: 1.2em; margin-top: 1.8em;
     border-bottom: 1px solid #ddd; } h3 { font-size: 1.05em; }
table { border-collapse: collapse; margin: .5em 0; } th, td { text-align: left; padding: .25em .7em;
      border-bottom: 1px solid #eee; vertical-align: top; } th { background: #f6f6f6; }
table.summary th { width: 11em; }
pre { background: #f7f7f7; border: 1px solid #e3e3e3; padding: .5em; overflow-x: auto; white-space: pre-wrap;
      word-break: break-all; margin: .3em 0; font: 12.5px/1.35 ui-monospace, Menlo, Consolas, monospace; }
pre.stderr { background: #fff6f6; border-color: #f0d0d0; }
details { margin: .3em 0; border: 1px solid #e6e6e6; border-radius: 4px; padding: .2em .6em; }
details > summary { cursor: pointer; } details[open] > summary { margin-bottom: .4em; }
.status { display: inline-block; padding: 0 .55em; border-radius: 3px; font-weight: 600; color: #fff;
          font-size: .9em; }
.s-ok { background: #2e7d32; } .s-changed { background: #c77700; } .s-failed { background: #c62828; }
.s-unreachable { background: #6a1b9a; } .s-skipped { background: #757575; }
.s-interrupted { background: #d84315; } .s-pending, .s-running { background: #1565c0; }
.label { color: #666; font-size: .85em; text-transform: uppercase; letter-spacing: .03em; margin-top: .5em; }
.diff .add { color: #1b5e20; background: #e8f5e9; } .diff .del { color: #b71c1c; background: #ffebee; }
.diff .hunk { color: #0d47a1; } .diff .file { font-weight: 600; }
.note { border-left: 3px solid #999; padding-left: .7em; margin: .6em 0; }
.muted { color: #777; } footer { margin-top: 3em; color: #888; font-size: .85em; }
</style>
</head>
<body>
<h1>Run {{ run.id }}: {{ run.name }} <span class="status s-{{ run.status }}">{{ run.status }}</span></h1>
<p class="muted">{{ "Task" if run.kind == "task" else "Ad-hoc command" }} on {{ run.hosts|length }} host(s)
{%- if run.ticket %} for ticket <strong>{{ run.ticket }}</strong>{% endif %}, by {{ run.who }}.</p>

<h2 id="summary">Summary</h2>
<table class="summary">
<tr><th>Hosts</th><td>{% for status, n in counts %}<span class="status s-{{ status }}">{{ n }} {{ status }}</span> {% endfor %}</td></tr>
<tr><th>Ticket</th><td>{{ run.ticket or "-" }}</td></tr>
<tr><th>{{ "Task" if run.kind == "task" else "Command" }}</th><td>{{ run.name }}</td></tr>
{% if run.command and run.command != run.name %}<tr><th>Command</th><td><code>{{ run.command }}</code></td></tr>{% endif %}
<tr><th>Operator</th><td>{{ run.who }}</td></tr>
<tr><th>Controller</th><td>{{ run.controller }} (pid {{ run.pid }})</td></tr>
<tr><th>Started</th><td>{{ when(run.started_at) }}</td></tr>
<tr><th>Ended</th><td>{{ when(run.ended_at) }} ({{ seconds(run.duration) }})</td></tr>
<tr><th>Status</th><td><span class="status s-{{ run.status }}">{{ run.status }}</span>
  exit code {{ run.exit_code if run.exit_code is not none else "-" }}{% if run.aborted_reason %}: {{ run.aborted_reason }}{% endif %}</td></tr>
<tr><th>Inventory</th><td>{{ run.inventory|join(", ") or "-" }}</td></tr>
<tr><th>Pattern</th><td><code>{{ run.pattern }}</code></td></tr>
<tr><th>Mode</th><td>{{ "check (dry run)" if run.check else "apply" }}{{ ", diff" if run.diff else "" }}</td></tr>
{% if run.params %}<tr><th>Parameters</th><td><pre>{{ params }}</pre></td></tr>{% endif %}
{% if run.parent_run %}<tr><th>Retry of</th><td>{{ run.parent_run }}</td></tr>{% endif %}
<tr><th>Tool</th><td>remote-support {{ run.tool_version }}</td></tr>
</table>

{% if run.notes %}
<h2 id="notes">Notes</h2>
{% for note in run.notes %}
<div class="note"><div class="muted">{{ when(note.created_at) }}, {{ note.author }}
{%- if note.kind == "escalation" %}: <strong>escalated to {{ note.escalated_to }}</strong>{% elif note.kind != "note" %} ({{ note.kind }}){% endif %}</div>
<div>{{ note.text }}</div></div>
{% endfor %}
{% endif %}

{% if compliance %}
<h2 id="compliance">Compliance</h2>
<table class="compliance">
<tr><th>Device</th><th>Step</th><th>Result</th><th>Rules passed</th><th>Rules failed</th><th>Failed rules</th></tr>
{% for c in compliance %}
<tr><td><a href="#host-{{ c.index }}">{{ c.host }}</a></td><td>{{ c.step }}</td>
<td><span class="status s-{{ "ok" if c.compliant else "failed" }}">{{ "pass" if c.compliant else "fail" }}</span></td>
<td>{{ c.passed }}</td><td>{{ c.failed }}</td><td>{{ c.failed_names|join("; ") }}</td></tr>
{% endfor %}
</table>
{% endif %}

<h2 id="hosts">Hosts</h2>
<table class="hosts">
<tr><th>Host</th><th>Status</th><th>Steps</th><th>Duration</th><th>Reason</th></tr>
{% for host in run.hosts %}
<tr><td><a href="#host-{{ loop.index }}">{{ host.host }}</a></td>
<td><span class="status s-{{ host.status }}">{{ host.status }}</span></td>
<td>{{ host.steps|length }}</td><td>{{ seconds(host.duration) }}</td><td>{{ host.reason }}</td></tr>
{% endfor %}
</table>

{% for host in run.hosts %}
<h2 id="host-{{ loop.index }}">{{ host.host }} <span class="status s-{{ host.status }}">{{ host.status }}</span></h2>
<p class="muted">{{ when(host.started_at) }} to {{ when(host.ended_at) }} ({{ seconds(host.duration) }})
{%- if host.reason %}: {{ host.reason }}{% endif %}</p>
{% for step in host.steps %}
<details{% if step.status in ("failed", "unreachable", "interrupted") and not step.ignored %} open="open"{% endif %}>
<summary><span class="status s-{{ step.status }}">{{ step.status }}</span> {{ "%02d"|format(step.number) }}. {{ step.name }}
<span class="muted">rc {{ step.rc if step.rc is not none else "-" }}, {{ seconds(step.duration) }}
{%- if step.attempts > 1 %}, {{ step.attempts }} attempts{% endif %}{% if step.ignored %}, failure ignored{% endif %}</span></summary>
{% if step.reason %}<div class="label">Reason</div><div>{{ step.reason }}</div>{% endif %}
{% if step.command %}<div class="label">Command</div><pre>{{ step.command }}</pre>{% endif %}
{% if step.stdout %}<div class="label">stdout</div><pre class="stdout">{{ step.stdout }}</pre>{% endif %}
{% if step.stderr %}<div class="label">stderr</div><pre class="stderr">{{ step.stderr }}</pre>{% endif %}
{% if step.diff %}<div class="label">Diff</div><pre class="diff">{% for cls, line in diff_lines(step.diff) %}<span class="{{ cls }}">{{ line }}</span>{{ "\n" }}{% endfor %}</pre>{% endif %}
{% if step.data.rules is defined and step.data.rules is sequence %}<div class="label">Compliance rules</div>
<table class="rules">
<tr><th>Rule</th><th>Kind</th><th>Result</th><th>Offending lines</th></tr>
{% for rule in step.data.rules %}
<tr><td>{{ rule.name }}</td><td>{{ rule.kind }}</td>
<td><span class="status s-{{ "ok" if rule.passed else "failed" }}">{{ "pass" if rule.passed else "fail" }}</span></td>
<td>{% if rule.offending %}<pre>{{ rule.offending|join("\n") }}</pre>{% endif %}</td></tr>
{% endfor %}
</table>
{% endif %}
{% if step.truncated %}<p class="muted">Shortened here: {{ step.truncated|join(", ") }}; the full text is in the journal.</p>{% endif %}
</details>
{% else %}
<p class="muted">No steps recorded.</p>
{% endfor %}
{% if host.facts %}
<details><summary>Facts</summary><pre>{{ facts_json(host.facts) }}</pre></details>
{% endif %}
{% endfor %}

<footer>Generated by remote-support {{ version }} at {{ when(now) }}. Secrets are shown as ********.</footer>
</body>
</html>
"""

def _finalize(value: Any) -> Any:
    """Every text the template prints is masked once more and made printable (markup stays markup)."""
    if isinstance(value, markupsafe.Markup):
        return markupsafe.Markup(_printable(str(value)))
    return _printable(value) if isinstance(value, str) else value


_HTML = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True,
                           lstrip_blocks=True, finalize=_finalize).from_string(_TEMPLATE)


def _compliance(run: "RunRecord") -> list[dict[str, Any]]:
    """One row per compliance step of each host: device, pass/fail, rule counts, the failed rules' names."""
    rows = []
    for index, host in enumerate(run.hosts, 1):
        for step in host.steps:
            rules = step.data.get("rules") if isinstance(step.data, dict) else None
            if not isinstance(step.data.get("compliance") if isinstance(step.data, dict) else None, dict) \
                    or not isinstance(rules, list):
                continue
            failed = [str(r.get("name", "?")) for r in rules if isinstance(r, dict) and not r.get("passed")]
            rows.append({"index": index, "host": host.host, "step": step.name, "compliant": not failed,
                         "passed": len(rules) - len(failed), "failed": len(failed), "failed_names": failed})
    return rows


def render_html(run: "RunRecord") -> str:
    """One self-contained page (inline CSS, no script, no external resource) to attach to a ticket."""
    counts = sorted(((s, n) for s, n in run.counts.items() if n),
                    key=lambda item: STATUS_ORDER.index(item[0]) if item[0] in STATUS_ORDER else len(STATUS_ORDER))
    return _HTML.render(run=run, counts=counts, version=__version__, now=datetime.now(timezone.utc),
                        compliance=_compliance(run),
                        params=json.dumps(run.params, indent=2, ensure_ascii=False),
                        when=_when, seconds=_seconds, diff_lines=_diff_lines,
                        facts_json=lambda facts: json.dumps(facts, indent=2, ensure_ascii=False))


def write_report(path: str | os.PathLike, text: str) -> None:
    """Write a report file readable by its owner only (0600, as the evidence zip): it holds raw outputs.
    An existing file is replaced, not written through, so its old mode or a link there does not count."""
    target = os.fspath(path)
    if os.path.exists(target) and not os.path.isfile(target):  # -o /dev/stdout, a FIFO: write to it
        with open(target, "w", encoding="utf-8") as handle:
            handle.write(text)
        return
    directory = os.path.dirname(os.path.abspath(target))
    fd, temp = tempfile.mkstemp(dir=directory, prefix=".report-")  # mkstemp creates it 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
