"""Built-in step kinds, one module each, chosen by name through one dictionary."""

from __future__ import annotations

import importlib

from .base import StepKind

# kind name -> "module:Class"; every kind implements StepKind (steps/base.py)
STEP_KINDS = {
    "command": "remote_support.steps.command:Command",
    "shell": "remote_support.steps.command:Command",
    "assert": "remote_support.steps.assertion:Assert",
    "facts": "remote_support.steps.facts:Facts",
    "package": "remote_support.steps.package:Package",
    "service": "remote_support.steps.service:Service",
    "template": "remote_support.steps.template:Template",
    "copy": "remote_support.steps.copy:Copy",
    "script": "remote_support.steps.script:Script",
    "fetch": "remote_support.steps.fetch:Fetch",
    "wait_for": "remote_support.steps.wait_for:WaitFor",
    "reboot": "remote_support.steps.reboot:Reboot",
    "show": "remote_support.steps.netshow:Show",
    "config": "remote_support.steps.netconfig:Config",
    "powershell": "remote_support.steps.powershell:PowerShell",
    "backup": "remote_support.steps.netbackup:Backup",
    "compliance": "remote_support.steps.compliance:Compliance",
    "file": "remote_support.steps.file:File",
    "lineinfile": "remote_support.steps.lineinfile:LineInFile",
    "blockinfile": "remote_support.steps.blockinfile:BlockInFile",
    "set_fact": "remote_support.steps.set_fact:SetFact",
    "debug": "remote_support.steps.debug:Debug",
    "user": "remote_support.steps.user:User",
    "group": "remote_support.steps.group:Group",
    "cron": "remote_support.steps.cron:Cron",
    "sysctl": "remote_support.steps.sysctl:Sysctl",
    "mount": "remote_support.steps.mount:Mount",
    "get_url": "remote_support.steps.get_url:GetUrl",
    "unarchive": "remote_support.steps.unarchive:Unarchive",
    "kill": "remote_support.steps.process:Kill",
    "process": "remote_support.steps.process:Kill",
    # Windows repair steps (fixed PowerShell scripts with a JSON contract: steps/winscripts.py)
    "registry": "remote_support.steps.registry:Registry",
    "win_file": "remote_support.steps.win_file:WinFile",
    "win_user": "remote_support.steps.win_users:WinUser",
    "win_group": "remote_support.steps.win_users:WinGroup",
    "win_scheduled_task": "remote_support.steps.win_scheduled_task:WinScheduledTask",
    "win_feature": "remote_support.steps.win_feature:WinFeature",
}

_loaded: dict[str, StepKind] = {}


def step_kind(name: str) -> StepKind | None:
    """The step kind called ``name``, or None when there is none (the caller names the valid ones)."""
    if name not in STEP_KINDS:
        return None
    if name not in _loaded:
        module, _, cls = STEP_KINDS[name].partition(":")
        _loaded[name] = getattr(importlib.import_module(module), cls)()
    return _loaded[name]


def kind_names() -> list[str]:
    return sorted(STEP_KINDS)
