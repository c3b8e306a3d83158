"""The machine-speed probe: a positive time that grows when the machine is busier."""

from __future__ import annotations

import threading

from tools.bench.probe import probe_ms


def test_probe_times_the_mix_and_sees_a_busy_interpreter():
    quiet = probe_ms(repeats=3)
    assert 0 < quiet < 5_000
    stop = threading.Event()

    def spin() -> None:  # pure Python beside the probe: it now shares the interpreter lock
        while not stop.is_set():
            sum(i * i for i in range(1000))

    hog = threading.Thread(target=spin)
    hog.start()
    try:
        busy = probe_ms(repeats=3)
    finally:
        stop.set()
        hog.join()
    assert busy > quiet * 1.2
