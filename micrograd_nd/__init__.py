"""micrograd_nd: reverse-mode automatic differentiation over NumPy arrays."""

__version__ = "0.1.0"
