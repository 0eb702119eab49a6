"""Vitrina's verifier: the checks that turn a light green, runnable by anyone.

Pure Python on top of ``cryptography``; it never imports the portal. The portal's workers call the
same functions that volunteers run with ``python -m verifier``.
"""

__version__ = "0.1.0"
