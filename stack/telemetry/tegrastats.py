"""One tegrastats line -> a TegraSample (RAM, per-core CPU load and frequency, EMC, GR3D GPU
load and frequency, temperatures, power rails).

The line formats follow NVIDIA's Jetson Linux Developer Guide ("tegrastats Utility", r35.x)
and what the utility prints:

- Xavier (JetPack 5 / L4T r35): ``... CPU [2%@1190,1%@1190,off,...] EMC_FREQ 0%@2133
  GR3D_FREQ 0%@114 APE 150 ... AO@36.5C GPU@37C ... GPU 0mW/0mW CPU 311mW/311mW SOC ...``
  (JetPack 4 prints rails without the unit: ``GPU 0/0 CPU 155/155``);
- Orin (JetPack 5.1 / 6): ``GR3D_FREQ 0%@[305,305]`` (one frequency per GPC), rails such as
  ``VDD_GPU_SOC 3189mW/3189mW VIN_SYS_5V0 ...``, absent sensors as ``GPU@-256C``, and on
  JetPack 6 a leading ``MM-DD-YYYY HH:MM:SS`` stamp.

Rails are "current/average" in mW since tegrastats started. A field the line lacks is None
(or empty), never a made-up zero.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from stack.errors import L4Error


class TelemetryError(L4Error):
    """A tegrastats line or telemetry file that cannot be read."""


_STAMP = re.compile(r"^\d{2}-\d{2}-\d{4} \d{2}:\d{2}:\d{2} ")
_RAM = re.compile(r"\bRAM (\d+)/(\d+)MB")
_SWAP = re.compile(r"\bSWAP (\d+)/(\d+)MB")
_CPU = re.compile(r"\bCPU \[([^\]]*)\]")
_EMC = re.compile(r"\bEMC_FREQ (\d+)%(?:@(\d+))?")
_GR3D = re.compile(r"\bGR3D_FREQ (\d+)%(?:@\[?([\d,]+)\]?)?")
_TEMP = re.compile(r"\b([A-Za-z][\w]*)@(-?\d+(?:\.\d+)?)C\b")
_RAIL = re.compile(r"\b([A-Z][A-Z0-9_]*) (\d+)(?:mW)?/(\d+)(?:mW)?(?=\s|$)")
_ABSENT_C = -256.0  # what tegrastats prints for a sensor that is not there


@dataclass(frozen=True)
class TegraSample:
    t_ns: int  # when the line was read (the host's monotonic clock: the trace's)
    ram_used_mb: int
    ram_total_mb: int
    swap_used_mb: int | None = None
    swap_total_mb: int | None = None
    cpu_load: tuple[float | None, ...] = ()  # per core, %; None: the core is off
    cpu_freq_mhz: tuple[int | None, ...] = ()
    emc_load: float | None = None
    emc_freq_mhz: int | None = None
    gpu_load: float | None = None
    gpu_freq_mhz: tuple[int, ...] = ()  # one per GPC on Orin, one on Xavier
    temps_c: dict[str, float] = field(default_factory=dict)
    power_mw: dict[str, tuple[int, int]] = field(default_factory=dict)  # rail: (now, average)

    @property
    def cpu_mean_load(self) -> float | None:
        """Mean load over the online cores (None with none online)."""
        on = [x for x in self.cpu_load if x is not None]
        return sum(on) / len(on) if on else None

    @property
    def max_temp_c(self) -> float | None:
        return max(self.temps_c.values()) if self.temps_c else None


def _cpu(text: str) -> tuple[tuple[float | None, ...], tuple[int | None, ...]]:
    loads: list[float | None] = []
    freqs: list[int | None] = []
    for core in text.split(","):
        core = core.strip()
        if core == "off" or not core:
            loads.append(None)
            freqs.append(None)
            continue
        load, _, freq = core.partition("@")
        loads.append(float(load.rstrip("%")))
        freqs.append(int(freq) if freq else None)
    return tuple(loads), tuple(freqs)


def parse_line(line: str, t_ns: int = 0) -> TegraSample:
    """Parse one tegrastats line; TelemetryError when it has no RAM field (not tegrastats)."""
    text = _STAMP.sub("", line.strip())
    ram = _RAM.search(text)
    if ram is None:
        raise TelemetryError(f"not a tegrastats line (no RAM field): {line.strip()[:80]!r}")
    try:
        return _parse(text, ram, t_ns)
    except ValueError as exc:
        raise TelemetryError(f"tegrastats line: {exc}: {line.strip()[:80]!r}") from None


def _parse(text: str, ram: re.Match, t_ns: int) -> TegraSample:
    swap, cpu, emc, gr3d = (
        _SWAP.search(text),
        _CPU.search(text),
        _EMC.search(text),
        _GR3D.search(text),
    )
    loads, freqs = _cpu(cpu.group(1)) if cpu else ((), ())
    # Rails come after the temperatures; RAM/SWAP never match (their MB suffix).
    rails = {m.group(1): (int(m.group(2)), int(m.group(3))) for m in _RAIL.finditer(text)}
    temps = {
        m.group(1): float(m.group(2)) for m in _TEMP.finditer(text) if float(m.group(2)) > _ABSENT_C
    }
    return TegraSample(
        t_ns=t_ns,
        ram_used_mb=int(ram.group(1)),
        ram_total_mb=int(ram.group(2)),
        swap_used_mb=int(swap.group(1)) if swap else None,
        swap_total_mb=int(swap.group(2)) if swap else None,
        cpu_load=loads,
        cpu_freq_mhz=freqs,
        emc_load=float(emc.group(1)) if emc else None,
        emc_freq_mhz=int(emc.group(2)) if emc and emc.group(2) else None,
        gpu_load=float(gr3d.group(1)) if gr3d else None,
        gpu_freq_mhz=tuple(int(f) for f in gr3d.group(2).split(",") if f)
        if gr3d and gr3d.group(2)
        else (),
        temps_c=temps,
        power_mw=rails,
    )
