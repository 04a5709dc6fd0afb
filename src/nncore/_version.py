"""The version of nncore, in a module of its own so that any module can import it."""

#: nncore's version (PEP 440).
__version__ = "0.1.0"
