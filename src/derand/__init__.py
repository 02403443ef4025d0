"""derand: a derandomization framework for structure discovery.

An implementation of Tsikouras, Pantis, Mitliagkas and Tzamos, *A Derandomization Framework
for Structure Discovery: Applications in Neural Networks and Beyond* (ICLR 2026).
"""

from derand.errors import InputError

__version__ = "0.2.0.dev0"
"""The version (PEP 440); ``pyproject.toml`` reads it from here. 0.1.0 is the first release."""

__all__ = ["InputError", "__version__"]
