"""tinygen: int8 TFLite models to bit-exact microcontroller firmware."""
__version__ = "0.1.0"
