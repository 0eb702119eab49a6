"""The verifier's version: in ``--version`` and in the User-Agent of every request it makes.

Its own module so that the package's public face (``verifier/__init__.py``) can import every other
module without any of them importing the package back.
"""

__version__ = "0.1.0"
