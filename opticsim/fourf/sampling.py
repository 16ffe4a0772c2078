"""Sampling of the 4f correlator: the pitches and shapes of its input, Fourier and output planes."""

from __future__ import annotations

from ..grid import focal_pitch


class Sampling:
    """The grids of a :class:`~opticsim.FourF`: input plane, Fourier plane (one FFT of the
    input grid, or the Fourier SLM's own samples) and output plane."""

    @property
    def wavelength(self) -> float:
        """Laser wavelength (m)."""
        return self.laser.wavelength

    @property
    def fft_pitch(self) -> tuple[float, float]:
        """Pitch at which one FFT of the input grid samples the Fourier plane, ``λ·f1/(N·dx)``
        (m): a unit of spatial frequency of ``1/(N·dx)``."""
        return focal_pitch(self.wavelength, self.lens1.focal_length, self.shape, self.pitch)

    @property
    def fourier_by_fft(self) -> bool:
        """True when the Fourier plane is sampled by FFTs: no Fourier SLM, or one whose
        pitch/oversample equals :attr:`fft_pitch` (to 1 ppm)."""
        return self._by_fft

    @property
    def fourier_pitch(self) -> tuple[float, float]:
        """Sample pitch of the Fourier plane (m): :attr:`fft_pitch`, or the Fourier SLM's
        pitch/oversample where that differs."""
        if self.fourier_by_fft:
            return self.fft_pitch
        return (self.fourier_slm.sample_pitch,) * 2

    @property
    def fourier_shape(self) -> tuple[int, int]:
        """Samples of the Fourier plane: the input grid's shape, or the Fourier SLM's samples
        when its pitch is not :attr:`fft_pitch`."""
        return self.shape if self.fourier_by_fft else self.fourier_slm.sample_shape

    @property
    def output_pitch(self) -> tuple[float, float]:
        """Sample pitch of the output plane, ``dx·f2/f1`` (m)."""
        ratio = self.lens2.focal_length / self.lens1.focal_length
        return (self.pitch[0] * ratio, self.pitch[1] * ratio)

    @property
    def magnification(self) -> float:
        """Lateral magnification ``−f2/f1``."""
        return -self.lens2.focal_length / self.lens1.focal_length

    @property
    def mask_shape(self) -> tuple[int, int]:
        """Shape of a Fourier mask: the Fourier SLM's panel, or the grid when it is ideal."""
        return self.shape if self.fourier_slm is None else self.fourier_slm.shape

    @property
    def replica_period(self) -> tuple[float, float]:
        """Output samples after which a pixelated Fourier SLM replicates the output,
        ``λ·f2/p_F`` over the output pitch = ``N·fft_pitch/p_F`` (N without a Fourier SLM,
        N/oversample when the Fourier SLM is sampled by the FFT)."""
        if self.fourier_slm is None:
            return tuple(float(n) for n in self.shape)
        return tuple(n * natural / self.fourier_slm.pitch
                     for n, natural in zip(self.shape, self.fft_pitch))
