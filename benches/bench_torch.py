"""Forward + backward time of ``opticsim.torch.Optical4fConv`` against a plain ``torch.fft`` 4f.

    python benches/bench_torch.py [--quick] [--device cpu|cuda] [--out PATH] [--plot PATH]

For each grid of N × N samples, a batch of images of N/2 × N/2 (one input channel) goes through
``channels`` time-multiplexed phase masks, and the loss ``mean(frames²)`` is differentiated
with respect to the masks and the images. The contenders, on the same tensors, device and
threads:

* ``plain``: the 4f as one would write it in PyTorch with no physics: zero-pad the images to
  N × N, ``fft2``, multiply by ``exp(iφ)`` (one mask per channel), ``ifft2``, ``|·|²``, crop the
  ``(N/2 + K − 1)²`` output region;
* ``layer``: ``Optical4fConv(hardware=False)`` on an ideal :class:`opticsim.FourF` of the same
  grid (physical lens scales, centred grids, the engine's channel layout and upright output);
* ``hardware``: ``Optical4fConv(hardware=True)`` in training mode on the same grid with an 8-bit
  phase Fourier SLM and a 12-bit camera (quantisation, shot and read noise, ADC), for reference.

The headline is the ratio ``layer / plain`` (target ≤ 1.5). Each contender is warmed up, then
timed in interleaved rounds of repeated calls; the time reported is the smallest per-round
median, so load from other processes inflates neither side of a ratio for long. Runs on CUDA
when present unless ``--device`` says otherwise. The table goes to stdout, everything to a JSON
file (``bench-results/bench_torch.json`` by default), and the ratios to a plot with ``--plot``.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F

import opticsim
from opticsim import torch as ot
from opticsim.environment import environment
from opticsim.files import write_atomic

TARGET = 1.5
KERNEL = 5
WAVELENGTH, PITCH, FOCAL_LENGTH = 532e-9, 8e-6, 0.1


class PlainFourF(torch.nn.Module):
    """A 4f with no physics: pad, FFT, phase mask, inverse FFT, |·|², crop."""

    def __init__(self, channels: int, grid: int, image: int):
        super().__init__()
        self.phase = torch.nn.Parameter(torch.zeros(channels, grid, grid))
        self.grid, self.image = grid, image

    def forward(self, images):
        pad = self.grid - self.image
        padded = F.pad(images, (0, pad, 0, pad))
        field = torch.fft.ifft2(torch.fft.fft2(padded) * torch.exp(1j * self.phase))
        tile = self.image + KERNEL - 1
        return (field.real ** 2 + field.imag ** 2)[..., :tile, :tile]


def _systems(grid: int):
    laser = opticsim.Laser(WAVELENGTH, 1e-9)
    lenses = (opticsim.Lens(FOCAL_LENGTH), opticsim.Lens(FOCAL_LENGTH))
    ideal = opticsim.FourF(laser, *lenses, (grid, grid), PITCH)
    fourier_pitch = WAVELENGTH * FOCAL_LENGTH / (grid * PITCH)
    hardware = opticsim.FourF(
        laser, *lenses, (grid, grid), PITCH,
        fourier_slm=opticsim.SLM((grid, grid), fourier_pitch, "phase", bits=8),
        camera=opticsim.Camera((grid, grid), PITCH, exposure=1e-3))
    return ideal, hardware


def _step(module, images):
    """One training step's worth of work: forward, loss, backward."""
    module.zero_grad(set_to_none=True)
    images.grad = None
    frames = module(images)
    frames.square().mean().backward()


def _time(contenders: dict, images, repeat: int, rounds: int) -> dict:
    """Smallest per-round median (s) of one forward + backward, rounds interleaved."""
    device = images.device
    synchronize = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for module in contenders.values():
        for _ in range(3):
            _step(module, images)
    synchronize()
    medians = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, module in contenders.items():
            times = []
            for _ in range(repeat):
                start = time.perf_counter()
                _step(module, images)
                synchronize()
                times.append(time.perf_counter() - start)
            medians[name].append(statistics.median(times))
    return {name: min(values) for name, values in medians.items()}


def bench(grids, batch: int, channels: int, repeat: int, rounds: int, device) -> list[dict]:
    rows = []
    for grid in grids:
        image = grid // 2
        ideal, hardware = _systems(grid)
        contenders = {
            "plain": PlainFourF(channels, grid, image),
            "layer": ot.Optical4fConv(ideal, 1, channels, KERNEL, hardware=False,
                                      image_shape=(image, image)),
            "hardware": ot.Optical4fConv(hardware, 1, channels, KERNEL, hardware=True,
                                         image_shape=(image, image)).train(),
        }
        generator = torch.Generator().manual_seed(grid)
        for module in contenders.values():
            module.to(device)
            with torch.no_grad():
                module.phase.copy_(torch.rand(module.phase.shape, generator=generator) * 6.28)
        images = torch.rand((batch, 1, image, image), generator=generator).to(device)
        images.requires_grad_(True)
        seconds = _time(contenders, images, repeat, rounds)
        rows.append({"grid": grid, "image": image, "kernel": KERNEL, "batch": batch,
                     "channels": channels, "seconds": seconds,
                     "ratio": seconds["layer"] / seconds["plain"],
                     "hardware_ratio": seconds["hardware"] / seconds["plain"]})
        print(f"N={grid:5d}  plain {1e3 * seconds['plain']:9.2f} ms  layer "
              f"{1e3 * seconds['layer']:9.2f} ms  ratio {rows[-1]['ratio']:5.2f}  "
              f"(hardware {1e3 * seconds['hardware']:9.2f} ms, "
              f"ratio {rows[-1]['hardware_ratio']:5.2f})", flush=True)
    return rows


def _write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, (json.dumps(data, indent=2) + "\n").encode())


def _plot(path: Path, rows: list[dict], device: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grids = [row["grid"] for row in rows]
    figure, axes = plt.subplots(figsize=(5, 3.5))
    axes.plot(grids, [row["ratio"] for row in rows], "o-", label="Optical4fConv, hardware off")
    axes.plot(grids, [row["hardware_ratio"] for row in rows], "s--",
              label="Optical4fConv, hardware on")
    axes.axhline(TARGET, color="gray", lw=0.8, ls=":", label=f"target {TARGET}×")
    axes.set_xscale("log", base=2)
    axes.set_xlabel("grid N (samples per axis)")
    axes.set_ylabel("time / plain torch.fft 4f")
    axes.set_title(f"forward + backward on {device}")
    axes.legend(fontsize=8)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=120)
    plt.close(figure)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, buffer.getvalue())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small grids, few repeats")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--channels", type=int, default=4)
    parser.add_argument("--out", type=Path, default=Path("bench-results/bench_torch.json"))
    parser.add_argument("--plot", type=Path, default=None)
    args = parser.parse_args(argv)
    grids = [64, 128] if args.quick else [64, 128, 256, 512]
    repeat, rounds = (5, 2) if args.quick else (10, 3)
    device = torch.device(args.device)
    rows = bench(grids, args.batch, args.channels, repeat, rounds, device)
    _write_json(args.out, {
        "benchmark": "bench_torch", "target_ratio": TARGET, "device": str(device),
        "environment": environment(str(device)), "rows": rows})
    if args.plot is not None:
        _plot(args.plot, rows, str(device))
    worst = max(row["ratio"] for row in rows)
    print(f"worst layer/plain ratio {worst:.2f} (target ≤ {TARGET}); results in {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
