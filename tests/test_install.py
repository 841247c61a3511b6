"""The locked install: uv.lock agrees with pyproject.toml, and every way in installs from it."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

from helpers import ROOT


def uv() -> str:
    """The uv `make` installs into .tools/ (or one on PATH)."""
    for candidate in (ROOT / ".tools" / "bin" / "uv", Path(sys.executable).parent / "uv"):
        if candidate.exists():
            return str(candidate)
    found = shutil.which("uv")
    assert found, "uv not found: run `make install-test`, which installs it into .tools/"
    return found


def test_the_lock_matches_pyproject():
    """A dependency added to pyproject.toml without `make lock` fails here, not on a user's machine."""
    checked = subprocess.run(
        [uv(), "lock", "--check", "--offline"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 0, f"uv.lock is stale: run `make lock`\n{checked.stderr}"
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    packages = {p["name"]: p for p in lock["package"]}
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {"": project["dependencies"], **project["optional-dependencies"]}
    for extra, requirements in wanted.items():
        for requirement in requirements:
            name = re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0].lower().replace("_", "-")
            assert name in packages, f"{requirement} ({extra or 'runtime'}) is not in uv.lock"
    # Every locked distribution from the index carries its hash.
    for package in lock["package"]:
        if package.get("source", {}).get("registry"):
            files = [*package.get("wheels", []), *([package["sdist"]] if "sdist" in package else [])]
            assert files and all(f["hash"].startswith("sha256:") for f in files), package["name"]


def test_every_install_goes_through_the_lock():
    makefile = (ROOT / "Makefile").read_text()
    assert "sync --frozen" in makefile and "pip install -e" not in makefile
    assert (ROOT / ".ci" / "run").read_text().rstrip().endswith("make test")
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "uv.lock" in dockerfile and "uv sync --frozen" in dockerfile
    assert "pip install" not in dockerfile
    users = re.findall(r"^USER (\S+)", dockerfile, flags=re.M)
    assert users and not users[-1].startswith(("0", "root")), users
