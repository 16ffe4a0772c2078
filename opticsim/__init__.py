"""opticsim: a physics-accurate optical bench simulator for hybrid optical-electronic networks.

The engine follows one frame from the laser through the input SLM, lens 1, the Fourier-plane
SLM and lens 2 to the camera; every function takes and returns a ``Field``.
"""

__version__ = "0.1.0"          # before the imports: opticsim.export records it

from . import alignment, export, presets, propagate, readout, zernike
from .camera import Camera
from .checks import SamplingWarning
from .field import Field
from .fourf import FourF
from .laser import Laser
from .lens import Lens
from .slm import SLM

__all__ = ["Camera", "Field", "FourF", "Laser", "Lens", "SLM", "SamplingWarning", "alignment",
           "export", "presets", "propagate", "readout", "zernike"]
