"""The service from another checkout (`bench.run --before TREE`), installed as users install it.

Since the repository builds one package, `authsvc`, from its folders (app/ -> authsvc, handlers/
-> authsvc.handlers, openapi/ as package data), an older tree cannot simply go first on
`PYTHONPATH`: its modules are named by pyproject.toml, not by their folders. So the tree is built
and installed, not editable, into a throwaway venv whose only other entry is this environment's
site-packages (a `.pth` line: the same third-party versions; pip fetches only the build backend
the tree's pyproject.toml asks for). A plain path entry does not run that directory's `.pth`
files, so this checkout's own editable `authsvc` stays out.

Trees from commit 68a1125 on (the first with the `authsvc` layout) are supported; older ones
imported `app` and are refused with a clear error.
"""

from __future__ import annotations

import shutil
import site
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_SKIP = shutil.ignore_patterns(".git", ".venv", ".tox", "build", "*.egg-info", "__pycache__")


@contextmanager
def installed(tree: Path) -> Iterator[Path]:
    """A venv with `tree` installed as `authsvc`; yields the directory of its `authsvc` script."""
    tree = tree.resolve()
    if not (tree / "pyproject.toml").is_file():
        raise RuntimeError(f"--before {tree}: not a source tree (no pyproject.toml)")
    with tempfile.TemporaryDirectory(prefix="authsvc-bench-before-") as workdir:
        root = Path(workdir)
        source = root / "source"
        shutil.copytree(tree, source, ignore=_SKIP)  # the build writes into the tree it builds
        venv = root / "venv"
        subprocess.run(
            [sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120
        )
        python = venv / "bin" / "python"
        target_site = _site_packages(python)
        here = "\n".join(site.getsitepackages()) + "\n"
        (target_site / "authsvc_bench_dependencies.pth").write_text(here)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "--python",
                str(python),
                "install",
                "--quiet",
                "--no-deps",  # the dependencies are this environment's (the .pth line)
                str(source),
            ],
            check=True,
            capture_output=True,
            timeout=600,
        )
        _check_imports_from(python, venv)
        yield venv / "bin"


def _site_packages(python: Path) -> Path:
    out = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return Path(out.stdout.strip())


def _check_imports_from(python: Path, venv: Path) -> None:
    """Refuse to label this checkout's code as `@before`: the venv must import its own authsvc."""
    probe = subprocess.run(
        [str(python), "-c", "import authsvc.factory, authsvc; print(authsvc.__file__)"],
        capture_output=True,
        text=True,
        cwd=venv,
        timeout=120,
    )
    if probe.returncode != 0:
        raise RuntimeError(
            "--before: the installed tree does not import as `authsvc` (trees before commit "
            f"68a1125 are not supported):\n{probe.stderr[-1500:]}"
        )
    imported = Path(probe.stdout.strip()).resolve()
    if not imported.is_relative_to(venv.resolve()):
        raise RuntimeError(f"--before: the service would import {imported} instead")
