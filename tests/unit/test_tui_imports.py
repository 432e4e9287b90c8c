"""The core never imports Textual: only station/tui does, and `station image` never loads it."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import station

ROOT = Path(station.__file__).parent


def _imports(tree: ast.AST) -> list[tuple[str, int, bool]]:
    """(module, line, at module level) for every import in a module."""
    top = {id(n) for n in getattr(tree, "body", [])}
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno, id(node) in top) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            out.append((node.module, node.lineno, id(node) in top))
    return out


def test_nothing_outside_station_tui_imports_textual() -> None:
    offenders = []
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT)
        if rel.parts[0] == "tui":
            continue
        for module, line, top in _imports(ast.parse(path.read_text(), str(path))):
            if module == "textual" or module.startswith("textual."):
                offenders.append(f"station/{rel}:{line} imports {module}")
            if (module == "station.tui" or module.startswith("station.tui.")) and top:
                offenders.append(f"station/{rel}:{line} imports {module} at module level (import it lazily)")
    assert not offenders, "\n".join(offenders)
    assert any(
        m == "textual.app"
        for p in (ROOT / "tui").rglob("*.py")
        for m, _, _ in _imports(ast.parse(p.read_text()))
    )


def test_station_image_does_not_load_textual(tmp_path: Path) -> None:
    src = tmp_path / "src.bin"
    src.write_bytes(b"\x5a" * 65536)
    cmd = [
        sys.executable,
        "-X",
        "importtime",
        "-m",
        "station.cli",
        "image",
        "-q",
        str(src),
        str(tmp_path / "img"),
    ]
    env = {"XDG_DATA_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env)
    assert r.returncode == 0, r.stderr
    loaded = [
        line.rsplit("|", 1)[-1].strip() for line in r.stderr.splitlines() if line.startswith("import time:")
    ]
    assert (
        "station.jobs.imaging" in loaded and "station.rescue.engine" in loaded
    )  # the check sees real imports
    assert not [m for m in loaded if m == "textual" or m.startswith("textual.")], (
        "station image imported Textual"
    )
    assert not [m for m in loaded if m.startswith("station.tui")]
    assert (tmp_path / "img").read_bytes() == src.read_bytes()


def test_station_without_a_terminal_prints_help_instead_of_opening_the_workstation(tmp_path: Path) -> None:
    r = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "station.cli"], capture_output=True, text=True, timeout=60,
        stdin=subprocess.DEVNULL, env={"XDG_DATA_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert r.returncode == 0 and "usage: station" in r.stdout
    assert "textual" not in {line.rsplit("|", 1)[-1].strip() for line in r.stderr.splitlines()}
