"""Weight-sharing supernets: model, samplers, training, evaluation with BN recalibration."""

from hwnas.supernet.model import Supernet, extract

__all__ = ["Supernet", "extract"]
