"""The vehicle runtime files (docker/vehicle): what can be checked without a Jetson."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
DOCKER = ROOT / "docker" / "vehicle"


def test_dockerfile_builds_the_decided_runtime() -> None:
    text = (DOCKER / "Dockerfile").read_text()
    stages = re.findall(r"^FROM (\S+) AS (\w+)", text, re.M)
    assert [s for _, s in stages] == ["python", "ros", "trt", "runtime"]
    assert "ARG L4T_BASE=nvcr.io/nvidia/l4t-jetpack:r35" in text  # JetPack 5.1, Xavier
    assert "ARG PYTHON_VERSION=3.10" in text and "ARG TENSORRT_BRANCH=release/8.5" in text
    assert 'ARG NUMPY_SPEC="numpy>=1.23,<2"' in text and "-c /opt/constraints.txt" in text
    assert "-DPython3_EXECUTABLE=/opt/venv/bin/python" in text  # Humble built for 3.10
    assert "PYTHON_MINOR_VERSION=${PYTHON_VERSION#3.}" in text and "pycuda" in text
    assert "HEALTHCHECK" in text and 'ENTRYPOINT ["/usr/local/bin/l4stack-entrypoint"]' in text
    assert 'CMD ["l4", "ros", "launch/vehicle.yaml"' in text
    for copied in re.findall(r"^COPY (docker/\S+)", text, re.M):
        assert (ROOT / copied).exists(), copied


def test_scripts_parse_and_the_unit_runs_the_image() -> None:
    for script in ("entrypoint.sh", "healthcheck.sh"):
        shell = "bash" if script == "entrypoint.sh" else "sh"
        assert subprocess.run([shell, "-n", str(DOCKER / script)]).returncode == 0
    assert 'exec "$@"' in (DOCKER / "entrypoint.sh").read_text()
    unit = (DOCKER / "l4stack.service").read_text()
    for line in ("[Unit]", "[Service]", "[Install]", "Restart=on-failure", "--runtime nvidia",
                 "--network host", "--ulimit rtprio=99", "docker stop -t 20"):  # fmt: skip
        assert line in unit


def test_healthcheck_follows_the_trace(tmp_path: Path) -> None:
    script = (DOCKER / "healthcheck.sh").read_text().replace("/var/log/l4stack/run", str(tmp_path))
    check = tmp_path / "check.sh"
    check.write_text(script)
    assert subprocess.run(["sh", str(check)]).returncode == 1  # no run yet
    (tmp_path / "trace.l4t").write_bytes(b"x")
    assert subprocess.run(["sh", str(check)]).returncode == 0
    import os

    os.utime(tmp_path / "trace.l4t", (0, 0))  # written long ago: the graph stopped
    assert subprocess.run(["sh", str(check)]).returncode == 1
