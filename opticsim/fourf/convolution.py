"""Convolution on the 4f correlator: kernels to Fourier masks and back, channel layouts."""

from __future__ import annotations

import numpy as np

from .. import checks, readout
from ..grid import embed_centred, invert


class Convolution:
    """Kernels, masks and channel layouts on a :class:`~opticsim.FourF`'s samples."""

    def layout(self, in_channels: int, out_channels: int, image_shape, kernel_shape
               ) -> readout.Layout:
        """Where ``in_channels`` images of ``image_shape`` and ``out_channels`` outputs of
        ``kernel_shape`` convolutions go on this system (tiled when ``multiplex="tiled"``)."""
        in_channels = checks.integer("in_channels", in_channels, 1)
        out_channels = checks.integer("out_channels", out_channels, 1)
        image_shape = checks.shape2("image_shape", image_shape)
        kernel_shape = checks.shape2("kernel_shape", kernel_shape)
        return readout.layout(in_channels, out_channels, image_shape, kernel_shape, self.shape,
                              tiled=self.multiplex == "tiled",
                              replica_period=self.replica_period)

    def mask_frequencies(self, axis: int) -> np.ndarray:
        """Positions of the mask samples along ``axis`` from the optical axis in units of
        :attr:`fft_pitch` (spatial frequency × N·dx): integers on an ideal grid, the pixel
        centres on a Fourier SLM."""
        n = self.shape[axis]
        if self.fourier_slm is None:
            return np.arange(n) - n // 2.0
        oversample = self.fourier_slm.oversample
        samples = self.fourier_slm.sample_shape[axis]
        centres = np.arange(self.fourier_slm.shape[axis]) * oversample + (oversample - 1) / 2
        if self.fourier_by_fft:                 # the panel as embed_centred places it
            return centres + (n - samples) // 2 - n // 2
        return (centres - samples // 2) * (self.fourier_pitch[axis] / self.fft_pitch[axis])

    def mask_from_kernel(self, kernel) -> np.ndarray:
        """Fourier-plane transmittance ``(..., *mask_shape)`` whose 4f output is the
        convolution with ``kernel`` ``(..., K_y, K_x)`` (grid samples).

        ``M(κ) = Σ_q h[q]·exp(−i2π(q − K//2)·κ/N)``, the centred DFT of the kernel with its sample
        ``(K_y//2, K_x//2)`` on the optical axis, at the mask samples κ (the Fourier SLM's pixel
        centres). On an ideal grid ``u_out(−x·f2/f1) = −(f1/f2)·(u_in ∗ h)(x)``, linear while
        input extent + kernel extent ≤ N. Not normalised: a passive SLM needs ``max|M| ≤ 1``.
        """
        kernel = np.asarray(kernel)
        checks.finite_array("kernel", kernel)
        if kernel.shape[-2] > self.shape[0] or kernel.shape[-1] > self.shape[1]:
            raise ValueError(f"kernel of {kernel.shape[-2:]} samples does not fit the "
                             f"{self.shape} grid")
        factors = []
        for axis in (0, 1):
            taps = np.arange(kernel.shape[axis - 2]) - kernel.shape[axis - 2] // 2
            phase = np.outer(self.mask_frequencies(axis), taps) / self.shape[axis]
            factors.append(np.exp(-2j * np.pi * phase))
        mask = np.einsum("yq,...qp,xp->...yx", factors[0], kernel, factors[1])
        return mask.astype(self.dtype)

    def masks_from_kernels(self, kernels, layout: readout.Layout) -> np.ndarray:
        """Displayed masks for kernels ``(C_out, C_in, K_y, K_x)`` on ``layout``: each pair's
        kernel shifted so all input channels add on their output's region (and, tiled, every
        output on one display); split into ± pairs for the differential readout."""
        kernels = checks.finite_array("kernels", np.asarray(kernels))
        expected = (layout.out_channels, layout.in_channels) + tuple(layout.kernel_shape)
        if kernels.shape != expected:
            raise ValueError(f"kernels must have shape {expected}, got {kernels.shape}")
        carrier = self.layout_carriers(layout)
        if self.readout == "differential":
            parts = readout.split_signed(kernels)
            return np.stack([layout.masks(self.mask_from_kernel(p), carrier) for p in parts],
                            axis=1)
        return layout.masks(self.mask_from_kernel(kernels), carrier)

    def layout_carriers(self, layout: readout.Layout) -> np.ndarray:
        """Carriers ``(C_out, C_in, *mask_shape)`` shifting each channel pair's kernel on this
        system's Fourier-plane samples (:meth:`readout.Layout.carriers`)."""
        frequencies = (self.mask_frequencies(0), self.mask_frequencies(1))
        return layout.carriers(frequencies, self.shape)

    def kernel_from_mask(self, mask) -> np.ndarray:
        """The centred kernel on the input grid implemented by a Fourier mask (each Fourier-SLM
        pixel held over its samples, fill factor ignored); inverts :meth:`mask_from_kernel`
        on an ideal grid.

        ``h[q] = (δ_y·δ_x/(N_y·N_x))·Σ_κ M(κ)·exp(i2π q·κ/N)`` over the mask samples κ spaced
        δ = fourier_pitch/fft_pitch apart (an inverse FFT when δ = 1), q from the grid centre.
        """
        masks = checks.finite_array("mask", np.asarray(mask))
        if masks.shape[-2:] != self.mask_shape:
            raise ValueError(f"mask must end in {self.mask_shape}, got {masks.shape}")
        if self.fourier_slm is not None:
            oversample = self.fourier_slm.oversample
            masks = masks.repeat(oversample, -2).repeat(oversample, -1)
        if self.fourier_by_fft:
            centred = np.fft.ifftshift(embed_centred(masks, self.shape), axes=(-2, -1))
            return np.fft.fftshift(np.fft.ifft2(centred), axes=(-2, -1))
        rows, cols = self.kernel_synthesis()
        return np.einsum("yk,...kl,xl->...yx", rows, masks, cols)

    def kernel_synthesis(self) -> tuple[np.ndarray, np.ndarray]:
        """Per axis the ``(N, S)`` matrix ``(δ/N)·exp(i2π q·κ/N)`` from the S Fourier-plane
        samples κ (in units of :attr:`fft_pitch`, δ apart) to the kernel taps q (from the grid
        centre): :meth:`kernel_from_mask` is ``rows @ samples @ cols.T``. complex128."""
        factors = []
        for axis in (0, 1):
            n, samples = self.shape[axis], self.fourier_shape[axis]
            step = self.fourier_pitch[axis] / self.fft_pitch[axis]
            kappa = (np.arange(samples) - samples // 2) * step
            taps = np.arange(n) - n // 2
            factors.append(np.exp(2j * np.pi * np.outer(taps, kappa) / n) * (step / n))
        return factors[0], factors[1]

    def upright(self, frames) -> np.ndarray:
        """Output frames with the 4f inversion undone (x → −x, y → −y)."""
        return invert(np.asarray(frames))
