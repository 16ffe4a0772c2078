"""opticsim: a physics-accurate optical bench simulator for hybrid optical-electronic networks.

The engine follows one frame from the laser through the input modulator, lens 1, the
Fourier-plane mask and lens 2 to the detector; every function takes and returns a ``Field``.
"""

from . import propagate, zernike
from .camera import Camera
from .checks import SamplingWarning
from .field import Field
from .fourf import FourF
from .laser import Laser
from .lens import Lens

__all__ = ["Field", "FourF", "Laser", "Lens", "SamplingWarning", "propagate", "zernike"]
__version__ = "0.1.0"
from .slm import SLM  # noqa: E402
