"""The wheel carries the task library: tasks/ and templates/ of the checkout become package data
(remote_support/library/), so `pip install remote-support` has `tasks list` and `run diagnose`."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent


class BuildWithLibrary(build_py):
    def run(self):
        super().run()
        target = Path(self.build_lib) / "remote_support" / "library"
        for name in ("tasks", "templates"):
            if target.joinpath(name).exists():
                shutil.rmtree(target / name)
            shutil.copytree(ROOT / name, target / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


setup(cmdclass={"build_py": BuildWithLibrary})
