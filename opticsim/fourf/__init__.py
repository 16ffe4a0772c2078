"""The 4f optical correlator: laser → input SLM → lens 1 → Fourier SLM → lens 2 → camera.

With the input in the front focal plane of lens 1 and the mask in the shared focal plane, the
field in the back focal plane of lens 2 is ``u_out(x) = −(f1/f2)·(u_in ∗ h)(−x·f1/f2)`` where
``h`` is the kernel whose centred Fourier transform is the mask: a convolution at the speed of
light, inverted and magnified by ``M = −f2/f1`` (Goodman ch. 8).

:meth:`FourF.field` follows one frame element by element through the public engine;
:meth:`FourF.run` computes the same frames with two FFTs and three fused passes, then the
camera and the readout scheme (:mod:`opticsim.readout`).

The class is assembled from one module per part of the bench: :mod:`~opticsim.fourf.sampling`
(the grids of the three planes), :mod:`~opticsim.fourf.input_plane` (laser and input SLM),
:mod:`~opticsim.fourf.fourier_plane` (what the Fourier SLM displays),
:mod:`~opticsim.fourf.frames` (one frame through the system, element by element and fused),
:mod:`~opticsim.fourf.convolution` (kernels, masks and channel layouts) and
:mod:`~opticsim.fourf.exposure` (setting the laser power for the camera);
:mod:`~opticsim.fourf.system` holds the elements and checks them.
"""

from .system import FourF

__all__ = ["FourF"]
