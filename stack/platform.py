"""Platform facts for the run directory: CPU, cores, Python, packages, Jetson model and power mode.

Jetson facts come from files a Jetson has (/proc/device-tree/model, /etc/nv_tegra_release,
/var/lib/nvpmodel/status + /etc/nvpmodel.conf) and from ``nvpmodel -q``. Every reader takes a
``root`` so tests can point it at fake sysfs content.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

PACKAGES = (
    "l4stack",
    "numpy",
    "scipy",
    "onnxruntime",
    "onnxruntime-gpu",
    "onnx",
    "opencv-python-headless",
    "rosbags",
    "rich",
    "matplotlib",
    "tensorrt",
    "pycuda",
)
_CPU_KEYS = ("model name", "Processor", "Hardware", "cpu model", "uarch")
_NVPMODEL_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class PowerMode:
    id: int | None
    name: str


@dataclass(frozen=True)
class JetsonFacts:
    model: str  # /proc/device-tree/model, e.g. "Jetson-AGX" or "NVIDIA Jetson AGX Xavier ..."
    l4t: str | None  # L4T release, e.g. "35.3.1" (JetPack 5.1.1)
    power_mode: PowerMode | None


def _read(path: Path) -> str | None:
    try:
        return path.read_bytes().decode("utf-8", "replace")
    except OSError:
        return None


def cpu_model(cpuinfo: str) -> str:
    """The CPU model from /proc/cpuinfo text; ARM kernels name it under other keys."""
    for key in _CPU_KEYS:
        m = re.search(rf"^{re.escape(key)}\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
        if m and m.group(1).strip():
            return m.group(1).strip()
    m = re.search(r"^CPU part\s*:\s*(\S+)$", cpuinfo, re.MULTILINE)
    if m:  # Carmel (Xavier) reports 0x004 with implementer 0x4e (NVIDIA)
        return f"ARM CPU part {m.group(1)}"
    return platform.processor() or platform.machine()


def parse_l4t_release(text: str) -> str | None:
    """'# R35 (release), REVISION: 3.1, ...' -> '35.3.1'."""
    m = re.search(r"R(\d+)\s*\(release\),\s*REVISION:\s*([\d.]+)", text)
    return f"{m.group(1)}.{m.group(2)}" if m else None


def parse_nvpmodel_query(text: str) -> PowerMode | None:
    """Output of ``nvpmodel -q``: 'NV Power Mode: MODE_30W_ALL' then the mode id on its own line."""
    m = re.search(r"NV Power Mode:\s*(\S+)\s*\n\s*(\d+)?", text + "\n")
    if not m:
        return None
    return PowerMode(int(m.group(2)) if m.group(2) else None, m.group(1))


def parse_nvpmodel_conf(text: str) -> dict[int, str]:
    """Mode ids to names from /etc/nvpmodel.conf ('< POWER_MODEL ID=3 NAME=MODE_30W_ALL >')."""
    return {
        int(i): name for i, name in re.findall(r"<\s*POWER_MODEL\s+ID=(\d+)\s+NAME=(\S+)\s*>", text)
    }


def parse_nvpmodel_status(text: str) -> int | None:
    """/var/lib/nvpmodel/status: 'pmode:0003 fmode:quiet' -> 3."""
    m = re.search(r"pmode:\s*(\d+)", text)
    return int(m.group(1)) if m else None


def query_nvpmodel() -> str | None:
    """``nvpmodel -q`` output, or None where the tool is absent or fails."""
    exe = shutil.which("nvpmodel")
    if exe is None:
        return None
    try:
        done = subprocess.run(
            [exe, "-q"], capture_output=True, text=True, timeout=_NVPMODEL_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def power_mode(root: Path, query: Callable[[], str | None]) -> PowerMode | None:
    text = query()
    mode = parse_nvpmodel_query(text) if text else None
    if mode is not None:
        return mode
    status = _read(root / "var/lib/nvpmodel/status")
    mode_id = parse_nvpmodel_status(status) if status else None
    if mode_id is None:
        return None
    names = parse_nvpmodel_conf(_read(root / "etc/nvpmodel.conf") or "")
    return PowerMode(mode_id, names.get(mode_id, f"mode {mode_id}"))


def jetson_facts(
    root: Path = Path("/"), query: Callable[[], str | None] = query_nvpmodel
) -> JetsonFacts | None:
    """Jetson model, L4T release and power mode; None on a machine that is not a Jetson."""
    model = _read(root / "proc/device-tree/model")
    release = _read(root / "etc/nv_tegra_release")
    if model is None and release is None:
        return None
    model = (model or "").strip("\x00\n ")
    if release is None and "jetson" not in model.lower() and "nvidia" not in model.lower():
        return None  # another ARM board with a device tree
    return JetsonFacts(
        model=model or "unknown Jetson",
        l4t=parse_l4t_release(release) if release else None,
        power_mode=power_mode(root, query),
    )


def package_versions(names: tuple[str, ...] = PACKAGES) -> dict[str, str]:
    out = {}
    for name in names:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out


def platform_facts(
    root: Path = Path("/"), query: Callable[[], str | None] = query_nvpmodel
) -> dict[str, Any]:
    """Facts written to platform.json in every run directory."""
    jetson = jetson_facts(root, query)
    affinity = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    return {
        "cpu_model": cpu_model(_read(root / "proc/cpuinfo") or ""),
        "cores": os.cpu_count(),
        "usable_cores": sorted(affinity) if affinity is not None else None,
        "machine": platform.machine(),
        "system": f"{platform.system()} {platform.release()}",
        "hostname": platform.node(),
        "python": sys.version.split()[0],
        "packages": package_versions(),
        "jetson": asdict(jetson) if jetson else None,
    }
