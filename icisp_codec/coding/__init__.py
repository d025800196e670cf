"""Range coding of integer symbols with integer frequency tables (constriction)."""
from .range_coder import SymbolDecoder, SymbolEncoder, symbol_checksum

__all__ = ["SymbolDecoder", "SymbolEncoder", "symbol_checksum"]
