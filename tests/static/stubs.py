"""Type stubs for the static checks, gathered into one folder for mypy's ``mypy_path``.

- TensorRT: ``tensorrt-stubs`` 10.13.0.35.1 (PyPI). Its generated ``tensorrt.pyi`` has two
  kinds of syntax errors mypy refuses to read past (a parameter named ``in``, a Python
  keyword, in four plugin methods; ``add_scale_nd`` with a parameter without a default after
  defaulted ones); ``repair_stub`` fixes exactly those, nothing else.
- rclpy: ``rclpy-intellisense`` 1.2.0 (PyPI), the humble branch of ros2/rclpy's Python sources
  (annotated as Humble's are), read by mypy as source.

Neither package is importable at run time for us (the stubs carry no code; the rclpy sources
need rclpy's C extension), so they are copied into a folder mypy reads and nothing else does.
"""

from __future__ import annotations

import importlib.metadata
import re
import shutil
from pathlib import Path

_KEYWORD_PARAM = re.compile(r"([(,]\s*)in: ")


def _split_params(params: str) -> list[str]:
    out, depth, cur = [], 0, ""
    for ch in params:
        depth += ch in "([{"
        depth -= ch in ")]}"
        if ch == "," and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    return [*out, cur] if cur.strip() else out


def _fix_defaults(line: str) -> str:
    """``def f(self, a: int = None, b: int)`` -> ``b: int = ...`` (a stub needs no value)."""
    head, sep, rest = line.partition("(")
    params, close, tail = rest.rpartition(")")
    if not sep or not close or not head.lstrip().startswith("def "):
        return line
    parts, seen_default = _split_params(params), False
    for i, part in enumerate(parts):
        name = part.strip()
        if name.startswith("*"):
            break
        if "=" in name:
            seen_default = True
        elif seen_default and name:
            parts[i] = part + " = ..."
    return f"{head}({','.join(parts)}){tail}"


def repair_stub(text: str) -> str:
    text = _KEYWORD_PARAM.sub(r"\1in_: ", text)
    return "\n".join(_fix_defaults(line) for line in text.split("\n"))


def _package_dirs(dist: str) -> dict[str, Path]:
    """Top-level package folders a distribution installed, by name."""
    files = importlib.metadata.distribution(dist).files or []
    out = {}
    for f in files:
        parts = Path(str(f)).parts
        if len(parts) > 1 and not parts[0].endswith((".dist-info", ".egg-info")):
            out[parts[0]] = Path(str(f.locate())).parents[len(parts) - 2]
    return out


def gather(dest: Path) -> None:
    """Copy the TensorRT stubs (repaired) and Humble's rclpy sources into ``dest``; raises
    importlib.metadata.PackageNotFoundError when one is not installed."""
    for dist in ("tensorrt-stubs", "rclpy-intellisense"):
        for name, path in _package_dirs(dist).items():
            if name in ("tensorrt", "tensorrt_bindings", "rclpy"):
                shutil.copytree(path, dest / name, dirs_exist_ok=True)
    for stub in (dest / "tensorrt_bindings").rglob("*.pyi"):
        stub.write_text(repair_stub(stub.read_text()))
