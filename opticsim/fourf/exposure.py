"""Exposure of the 4f correlator: the laser power a lab sets for the camera."""

from __future__ import annotations

import dataclasses
import sys
from typing import TYPE_CHECKING

import numpy as np
from tqdm import tqdm

from .. import checks
from ..camera import photon_energy

if TYPE_CHECKING:
    from .system import FourF


class Exposure:
    """The laser power of a :class:`~opticsim.FourF` for its camera's full well."""

    def exposed(self, images, mask=None, *, gray=None, layout=None, fill: float = 0.8,
                batch_size: int = 64, progress: bool = False) -> "FourF":
        """This system with the laser power set as a lab sets it (attenuator or ND filter): the
        brightest camera pixel of ``images`` through the displays (``mask`` or ``gray``, as
        :meth:`run` takes them; each ± capture of a differential pair apart) collects ``fill``
        of the camera's full well in its exposure, noise-free. ``progress``: a progress bar
        over the batches of ``batch_size`` images, on stderr.

        Electrons scale with power: ``e = I·A·FF·QE·t/(hc/λ)`` for the peak irradiance ``I``
        (W/m²) on a pixel of area ``A`` and fill factor ``FF``, so ``P' = P·fill·FWC/e``.
        """
        if self.camera is None:
            raise ValueError("exposed needs a camera, whose full well sets the exposure")
        fill = checks.in_range("fill", fill, 0.0, 1.0, low_open=True)
        batch_size = checks.integer("batch_size", batch_size, 1)
        displays = np.asarray(mask if gray is None else gray)
        halves = ([displays[..., k, :, :] for k in (0, 1)] if self.readout == "differential"
                  else [displays])
        images = np.asarray(images)
        images = images[None] if images.ndim == 2 else images
        bare = dataclasses.replace(self, camera=None, readout="intensity")
        peak = 0.0
        starts = range(0, len(images), batch_size)
        with tqdm(total=len(halves) * len(starts), disable=not progress, desc="exposure",
                  unit="batch", leave=False, file=sys.stderr) as bar:
            for half in halves:
                source = {"mask": half} if gray is None else {"gray": half}
                for start in starts:
                    frames = bare.run(images[start:start + batch_size], layout=layout, **source)
                    peak = max(peak, float(frames.max()))
                    bar.update(1)
        camera = self.camera
        electrons = (peak * camera.pitch[0] * camera.pitch[1] * camera.fill_factor * camera.qe
                     * camera.exposure / photon_energy(self.wavelength))
        if electrons <= 0:
            raise ValueError("the images give no light on the camera through these displays")
        power = self.laser.power * fill * camera.full_well / electrons
        return dataclasses.replace(self, laser=dataclasses.replace(self.laser, power=power))
