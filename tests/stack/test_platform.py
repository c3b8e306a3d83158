"""Platform facts, with Jetson files faked under tmp_path."""

from __future__ import annotations

from pathlib import Path

from stack.platform import (
    PowerMode,
    cpu_model,
    jetson_facts,
    parse_l4t_release,
    parse_nvpmodel_conf,
    parse_nvpmodel_query,
    platform_facts,
)

XAVIER_MODEL = b"Jetson-AGX\x00"
RELEASE = "# R35 (release), REVISION: 3.1, GCID: 32827747, BOARD: t186ref, EABI: aarch64\n"
NVPMODEL_Q = "NV Fan Mode:quiet\nNV Power Mode: MODE_30W_ALL\n3\n"
NVPMODEL_CONF = """
< POWER_MODEL ID=0 NAME=MAXN >
CPU_ONLINE CORE_0 1
< POWER_MODEL ID=3 NAME=MODE_30W_ALL >
CPU_ONLINE CORE_0 1
"""


def fake_jetson(root: Path, *, status: str | None = None) -> Path:
    (root / "proc/device-tree").mkdir(parents=True)
    (root / "proc/device-tree/model").write_bytes(XAVIER_MODEL)
    (root / "etc").mkdir()
    (root / "etc/nv_tegra_release").write_text(RELEASE)
    (root / "etc/nvpmodel.conf").write_text(NVPMODEL_CONF)
    if status is not None:
        (root / "var/lib/nvpmodel").mkdir(parents=True)
        (root / "var/lib/nvpmodel/status").write_text(status)
    return root


def test_jetson_model_release_and_power_mode_from_nvpmodel(tmp_path):
    facts = jetson_facts(fake_jetson(tmp_path), query=lambda: NVPMODEL_Q)
    assert facts is not None
    assert facts.model == "Jetson-AGX"
    assert facts.l4t == "35.3.1"
    assert facts.power_mode == PowerMode(3, "MODE_30W_ALL")


def test_power_mode_falls_back_to_status_file_and_conf(tmp_path):
    facts = jetson_facts(fake_jetson(tmp_path, status="pmode:0003 fmode:quiet"), query=lambda: None)
    assert facts.power_mode == PowerMode(3, "MODE_30W_ALL")


def test_power_mode_unknown_without_tool_or_status(tmp_path):
    facts = jetson_facts(fake_jetson(tmp_path), query=lambda: None)
    assert facts.power_mode is None


def test_not_a_jetson(tmp_path):
    assert jetson_facts(tmp_path, query=lambda: NVPMODEL_Q) is None
    (tmp_path / "proc/device-tree").mkdir(parents=True)
    (tmp_path / "proc/device-tree/model").write_bytes(b"Raspberry Pi 4 Model B\x00")
    assert jetson_facts(tmp_path, query=lambda: None) is None


def test_parsers_reject_garbage():
    assert parse_l4t_release("hello") is None
    assert parse_nvpmodel_query("nvpmodel: command failed") is None
    assert parse_nvpmodel_conf("") == {}


def test_cpu_model_on_x86_and_arm():
    assert (
        cpu_model("processor\t: 0\nmodel name\t: Intel(R) Xeon(R) CPU\n") == "Intel(R) Xeon(R) CPU"
    )
    carmel = "processor\t: 0\nCPU implementer\t: 0x4e\nCPU part\t: 0x004\n"
    assert cpu_model(carmel) == "ARM CPU part 0x004"


def test_platform_facts_on_a_fake_jetson(tmp_path):
    root = fake_jetson(tmp_path)
    (root / "proc/cpuinfo").write_text("CPU part\t: 0x004\n")
    facts = platform_facts(root, query=lambda: NVPMODEL_Q)
    assert facts["jetson"]["power_mode"]["name"] == "MODE_30W_ALL"
    assert facts["cpu_model"] == "ARM CPU part 0x004"
    assert facts["cores"] >= 1 and "numpy" in facts["packages"]
