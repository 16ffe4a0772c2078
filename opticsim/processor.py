"""An electronic processor as a roofline (Williams, Waterman & Patterson, Commun. ACM 52(4):65,
2009): a layer takes ``t = max(F/(η·P), B/(η·W))`` for ``F`` FLOPs and ``B`` bytes moved on a
processor of peak arithmetic rate ``P`` (FLOP/s) and memory bandwidth ``W`` (B/s) at an achieved
fraction ``η`` of both. The layer is compute-bound when its arithmetic intensity ``F/B`` exceeds
the ridge point ``P/W`` (FLOP/B), memory-bound below it.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import checks

# bytes per value of the precisions a peak is quoted in
PRECISION_BYTES = {"fp64": 8, "fp32": 4, "tf32": 4, "fp16": 2, "bf16": 2}


def roofline_time(flops: float, bytes_moved: float, peak_flops: float, bandwidth: float,
                  efficiency: float = 1.0) -> float:
    """Seconds of a step of ``flops`` FLOPs moving ``bytes_moved`` bytes:
    ``max(flops/(efficiency·peak_flops), bytes_moved/(efficiency·bandwidth))``."""
    flops = checks.non_negative("flops", flops)
    bytes_moved = checks.non_negative("bytes_moved", bytes_moved)
    efficiency = checks.in_range("efficiency", efficiency, 0.0, 1.0, low_open=True)
    return max(flops / peak_flops, bytes_moved / bandwidth) / efficiency


@dataclass(frozen=True)
class Processor:
    """A processor's roofline: ``peak_flops`` (FLOP/s, > 0, dense, at ``precision``),
    ``bandwidth`` (B/s, > 0, main memory) and ``precision`` (a key of ``PRECISION_BYTES``:
    the data type the peak is quoted for, whose size :attr:`value_bytes` the byte counts
    use)."""

    peak_flops: float
    bandwidth: float
    precision: str = "fp32"

    def __post_init__(self):
        object.__setattr__(self, "peak_flops", checks.positive("peak_flops", self.peak_flops))
        object.__setattr__(self, "bandwidth", checks.positive("bandwidth", self.bandwidth))
        if self.precision not in PRECISION_BYTES:
            raise ValueError(f"precision must be one of {tuple(PRECISION_BYTES)}, got "
                             f"{self.precision!r}")

    @property
    def value_bytes(self) -> int:
        """Bytes per value at ``precision``."""
        return PRECISION_BYTES[self.precision]

    @property
    def ridge(self) -> float:
        """Arithmetic intensity (FLOP/B) above which a step is compute-bound: ``P/W``."""
        return self.peak_flops / self.bandwidth

    def time(self, flops: float, bytes_moved: float, efficiency: float = 1.0) -> float:
        """Seconds of one step (:func:`roofline_time`)."""
        return roofline_time(flops, bytes_moved, self.peak_flops, self.bandwidth, efficiency)
