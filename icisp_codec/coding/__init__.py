"""Range coding of integer symbols with integer frequency tables (constriction), and the coding tiles'
substreams."""
from .range_coder import SubstreamTooShort, SymbolDecoder, SymbolEncoder, symbol_checksum
from .tiled import TiledSymbolReader, TiledSymbolWriter

__all__ = ["SubstreamTooShort", "SymbolDecoder", "SymbolEncoder", "TiledSymbolReader", "TiledSymbolWriter",
           "symbol_checksum"]
