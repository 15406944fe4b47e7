"""lrlib: the helper library of an open course on low-resolution visual recognition.

Data flows one way through the modules:
``data`` (registry -> uint8 tensors) -> ``degrade`` (low-resolution copies)
-> ``backbones`` (deep features) -> ``metrics`` -> ``results`` and ``viz``.
"""

__version__ = "0.1.0"
