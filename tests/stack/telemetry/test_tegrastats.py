"""tegrastats lines of Xavier and Orin, and the nvpmodel / jetson_clocks state."""

from __future__ import annotations

import pytest

from stack.telemetry import TelemetryError, parse_line
from stack.telemetry.sampler import parse_jetson_clocks, parse_nvpmodel
from tests.stack.telemetry import samples


def test_xavier_jetpack5_line() -> None:
    s = parse_line(samples.XAVIER_JP5, 7)
    assert (s.t_ns, s.ram_used_mb, s.ram_total_mb, s.swap_total_mb) == (7, 2448, 31920, 15960)
    assert s.cpu_load == (62.0, 40.0, None, None, 35.0, 28.0, None, None)
    assert s.cpu_freq_mhz[:2] == (2265, 2265) and s.cpu_freq_mhz[2] is None
    assert s.cpu_mean_load == pytest.approx((62 + 40 + 35 + 28) / 4)
    assert (s.emc_load, s.emc_freq_mhz, s.gpu_load, s.gpu_freq_mhz) == (21.0, 2133, 87.0, (1377,))
    assert s.temps_c["GPU"] == 47.0 and s.temps_c["Tdiode"] == 44.25 and s.max_temp_c == 50.0
    assert s.power_mw == {
        "GPU": (9284, 8701), "CPU": (2632, 2478), "SOC": (3251, 3190), "CV": (0, 0),
        "VDDRQ": (1393, 1366), "SYS5V": (4270, 4198),
    }  # fmt: skip


def test_xavier_jetpack4_rails_without_units() -> None:
    s = parse_line(samples.XAVIER_JP4)
    assert s.power_mw["SYS5V"] == (1556, 1556) and s.power_mw["GPU"] == (0, 0)
    assert "RAM" not in s.power_mw and "SWAP" not in s.power_mw


def test_orin_jetpack6_line() -> None:
    s = parse_line(samples.ORIN_JP6)
    assert len(s.cpu_load) == 12 and s.cpu_load[8] is None
    assert s.gpu_load == 45.0 and s.gpu_freq_mhz == (1300, 1300)
    assert "CV0" not in s.temps_c and s.temps_c["GPU"] == 48.1  # -256C: no sensor
    assert s.power_mw["VDD_GPU_SOC"] == (7189, 6021) and len(s.power_mw) == 4


def test_a_line_that_is_not_tegrastats_is_refused() -> None:
    with pytest.raises(TelemetryError, match="no RAM field"):
        parse_line("tegrastats: permission denied")


def test_power_state() -> None:
    assert parse_nvpmodel(samples.NVPMODEL_Q) == ("MAXN", 0)
    assert parse_nvpmodel("") == (None, None)
    assert parse_jetson_clocks(samples.JETSON_CLOCKS_PINNED) is True
    assert parse_jetson_clocks(samples.JETSON_CLOCKS_DYNAMIC) is False
    assert parse_jetson_clocks("") is None
