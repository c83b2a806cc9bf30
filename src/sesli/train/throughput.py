"""Peak FLOP/s of the device a run trains on, for an MFU-style utilisation figure.

MFU (model FLOPs utilisation, PaLM, Chowdhery et al. 2022, appendix B) is the FLOP/s the model's
arithmetic needs at the measured speed divided by the device's peak: a task reports the FLOPs of
each batch (for a transformer LM ``6 N`` per token plus attention, see ``sesli.train.tasks.lm``)
and the engine divides their rate by :func:`peak_flops`.

The peaks are datasheet figures for dense bf16/fp16 tensor-core math (no sparsity), so a run in
fp32 is measured against the bf16 peak (the usual convention: utilisation of the chip, not of a
precision). They are estimates: clocks, power limits and the SXM/PCIe variant move them by 10-30%.
A CPU has no datasheet row here: its peak is *measured* once per process as the speed of a large
fp32 matmul on the threads torch uses, so a CPU "MFU" says how close the run comes to plain matmul
speed. ``SESLI_PEAK_FLOPS`` (FLOP/s, e.g. ``989e12``) overrides both.
"""

from __future__ import annotations

import functools
import os
import time

import torch

# device-name fragment (upper case) -> dense bf16/fp16 tensor FLOP/s; the first match wins, so
# longer names come before their prefixes
PEAK_BF16 = (
    ("H200", 989e12),
    ("H100", 989e12),  # SXM; the PCIe card is ~756e12
    ("GH200", 989e12),
    ("B200", 2250e12),
    ("A100", 312e12),
    ("A800", 312e12),
    ("L40S", 362e12),
    ("L40", 181e12),
    ("L4", 121e12),
    ("A10G", 70e12),
    ("A10", 125e12),
    ("RTX 4090", 165e12),
    ("RTX 3090", 71e12),
    ("V100", 125e12),  # fp16 (no bf16)
    ("T4", 65e12),  # fp16 (no bf16)
)


def peak_from_name(name: str) -> float | None:
    """The table's peak for a CUDA device name (``torch.cuda.get_device_name``), None if unknown."""
    upper = name.upper()
    return next((peak for key, peak in PEAK_BF16 if key in upper), None)


@functools.cache
def measured_cpu_flops(n: int = 512, repeats: int = 8) -> float:
    """FLOP/s of an ``n x n`` fp32 matmul on this CPU (best of ``repeats``; about 0.1 s)."""
    a = torch.ones(n, n)  # no RNG: measuring must not shift a seeded run's draws
    b = torch.ones(n, n)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / max(best, 1e-9)


def peak_flops(device: torch.device | str) -> float | None:
    """Peak FLOP/s of ``device``: ``SESLI_PEAK_FLOPS``, the table (CUDA), a measurement (CPU)."""
    if os.environ.get("SESLI_PEAK_FLOPS"):
        return float(os.environ["SESLI_PEAK_FLOPS"])
    device = torch.device(device)
    if device.type == "cuda" and torch.cuda.is_available():
        return peak_from_name(torch.cuda.get_device_name(device))
    if device.type == "cpu":
        return measured_cpu_flops()
    return None  # mps, xpu, ...: no figure; MFU is left out
