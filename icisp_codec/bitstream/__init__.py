"""The .icisp container: header, metadata chunks, substreams, checksums. Pure Python (no torch)."""
from .container import FORMAT_VERSION, MAGIC, Container, parse, serialize

__all__ = ["FORMAT_VERSION", "MAGIC", "Container", "parse", "serialize"]
