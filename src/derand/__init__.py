"""derand: a derandomization framework for structure discovery.

An implementation of Tsikouras, Pantis, Mitliagkas and Tzamos, *A Derandomization Framework
for Structure Discovery: Applications in Neural Networks and Beyond* (ICLR 2026).
"""

from derand.errors import InputError

__version__ = "0.1.0"

__all__ = ["InputError", "__version__"]
