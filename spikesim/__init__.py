"""spikesim: defocused spike-camera simulation and spike-stream I/O.

Data flows one way: scene -> optics -> defocus -> sensor -> stream. See
docs/ARCHITECTURE.md.
"""

__version__ = "0.1.0"
