"""hwnas: hardware-aware neural architecture search with measured latency lookup tables."""

__version__ = "0.1.0"
