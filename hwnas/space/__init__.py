"""Search spaces, architectures and candidate ops.  Importing this package registers every space."""

from hwnas.space.arch import Arch
from hwnas.space.base import (SPACES, LayerSpec, Network, SearchSpace, describe_spaces, get_space, list_spaces,
                              register_space, resolve_arch)
from hwnas.space.ops import OPS, OpSig, build_op
from hwnas.space import mobile, resnet, shufflenet  # noqa: F401  (registration)

__all__ = ["Arch", "SPACES", "LayerSpec", "Network", "SearchSpace", "describe_spaces", "get_space", "list_spaces",
           "register_space", "resolve_arch", "OPS", "OpSig", "build_op"]
