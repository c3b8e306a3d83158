"""Static checks of what cannot run here: the TensorRT adapter against TensorRT's type stubs
(tensorrt-stubs 10.13) and the rclpy adapter against rclpy Humble's annotated sources
(rclpy-intellisense), with mypy. In CI (CI=true) a missing checker or stub is a failure, not a
skip: `.ci/run` installs them."""

from __future__ import annotations

import importlib.metadata
import os
from pathlib import Path

import pytest

from tests.static.stubs import gather, repair_stub

ROOT = Path(__file__).resolve().parents[2]
CHECKED = ["stack/engine/tensorrt.py", "stack/ros", "stack/cli/ros.py"]
CONFIG = """[mypy]
python_version = 3.10
mypy_path = {stubs}
follow_imports = silent
cache_dir = {cache}
[mypy-pycuda.*,tensorrt_libs.*,rcl_interfaces.*,rosgraph_msgs.*,builtin_interfaces.*,rpyutils.*,unique_identifier_msgs.*,action_msgs.*,lifecycle_msgs.*,rosidl_runtime_py.*,rosidl_parser.*]
ignore_missing_imports = True
[mypy-tensorrt.*,tensorrt_bindings.*,rclpy.*]
ignore_errors = True
"""


@pytest.fixture(scope="module")
def mypy_config(tmp_path_factory) -> Path:
    try:
        import mypy.api  # noqa: F401

        tmp = tmp_path_factory.mktemp("mypy")
        gather(tmp / "stubs")
    except (ImportError, importlib.metadata.PackageNotFoundError) as exc:
        if os.environ.get("CI"):
            pytest.fail(f"static checks need mypy, tensorrt-stubs and rclpy-intellisense: {exc}")
        pytest.skip(f"static checks need mypy, tensorrt-stubs and rclpy-intellisense: {exc}")
    config = tmp / "mypy.ini"
    config.write_text(CONFIG.format(stubs=tmp / "stubs", cache=tmp / "cache"))
    return config


def _mypy(config: Path, *targets: str) -> tuple[str, int]:
    import mypy.api

    out, err, status = mypy.api.run(["--config-file", str(config), *targets])
    return out + err, status


def test_the_vehicle_adapters_type_check_against_tensorrt_and_rclpy(mypy_config: Path) -> None:
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        out, status = _mypy(mypy_config, *CHECKED)
    finally:
        os.chdir(cwd)
    assert status == 0, out


def test_the_stubs_are_really_read(mypy_config: Path, tmp_path: Path) -> None:
    """Canaries: calls that fail on the car must fail the check (no silent Any)."""
    canary = tmp_path / "canary.py"
    canary.write_text(
        "import tensorrt as trt\n"
        "from rclpy.impl.rcutils_logger import RcutilsLogger\n"
        "def f(log: RcutilsLogger, b: trt.Builder) -> None:\n"
        "    log.info('x=%s', 1)\n"  # item 1: one message string only
        "    b.build_engine(None, None)\n"  # gone since TensorRT 10
        "    trt.Runtime(trt.Logger()).deserialize_cuda_engine(b'x', 1)\n"
    )
    out, status = _mypy(mypy_config, str(canary))
    assert status == 1
    assert 'canary.py:4: error: Too many arguments for "info"' in out
    assert '"Builder" has no attribute "build_engine"' in out
    assert "canary.py:6: error" in out


def test_stub_repairs_touch_only_the_syntax_errors() -> None:
    assert repair_stub("    def f(self, in: list[int], out: int) -> int:") == (
        "    def f(self, in_: list[int], out: int) -> int:"
    )
    assert repair_stub("    def g(self, a: int = None, b: int) -> None:") == (
        "    def g(self, a: int = None, b: int = ...) -> None:"
    )
    fine = "    def h(self, a: int, *, b: int = 1, c: int) -> None:"
    assert repair_stub(fine) == fine
    assert repair_stub("x = {'in': 1}") == "x = {'in': 1}"
