"""The `icisp` command line: thin wrappers over the library (codec, bitstream, train)."""
