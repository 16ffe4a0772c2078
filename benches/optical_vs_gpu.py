"""Time, energy and FLOPs per image of the kd teacher, the digital student and the
optical-electronic hybrid against image size: ``opticsim bench`` from a source checkout
(the code is :mod:`kd.optical_vs_gpu`).

    python benches/optical_vs_gpu.py [opticsim bench options]
"""

import sys

from opticsim.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))
