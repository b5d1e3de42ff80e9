"""gentext: generative models of text, each family a plugin behind one CLI.

Importing this package is cheap on purpose: it pulls in neither torch nor any family, so
`gentext --help` and `gentext models` start fast. Heavy modules are imported where used.
"""

__version__ = "0.1.0"

from gentext import deprecation
from gentext.errors import GentextError

deprecation.install()  # 0.1.0 module paths keep working for one release, warning

__all__ = ["GentextError", "__version__"]
