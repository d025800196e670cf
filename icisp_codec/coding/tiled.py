"""Symbol groups <-> the coding tiles' substreams: a writer for the encoder and its mirror-image reader.

A latent codec hands the writer whole groups of symbols (all of z, then each latent slice) with the table
row of every symbol; the writer cuts each group along the coding tiles and codes each tile's part into that
tile's substream for the group's table set. The reader takes the same groups' rows in the same order and
returns the symbols. Both keep a running CRC of the symbols in coding order (stored in the file, so a
decoder that fell out of sync notices). Tiles change which substream a symbol goes to, never its value or
its probability.

numpy + constriction only: no torch here.
"""
import numpy as np

from .range_coder import SymbolDecoder, SymbolEncoder, symbol_checksum


class TiledSymbolWriter:
    def __init__(self, tables, regions):
        """tables: {table_set: (freqs, lengths, offsets)}; regions: {table_set: [(row slice, column slice)
        per tile]}, in the order of each tile's substreams."""
        self.regions = regions
        tiles = len(next(iter(regions.values())))
        self.encoders = [{name: SymbolEncoder(tables) for name in regions} for _ in range(tiles)]
        self.crc = 0

    def write(self, table_set, symbols, rows):
        """symbols, rows: integer arrays (..., H, W) on the grid of `table_set`."""
        for (r, c), encoders in zip(self.regions[table_set], self.encoders):
            block = np.asarray(symbols[..., r, c])
            encoders[table_set].encode(table_set, block, np.asarray(rows[..., r, c]))
            self.crc = symbol_checksum([block], self.crc)

    def substreams(self):
        """[(substream per table set, in `regions` order), ...] per tile, in raster order."""
        return [tuple(encoders[name].to_bytes() for name in self.regions) for encoders in self.encoders]


class TiledSymbolReader:
    def __init__(self, tables, regions, substreams):
        """The writer's tables and regions, and its substreams as stored in the file. ValueError when a
        substream cannot be read."""
        self.regions = regions
        self.decoders = [{name: SymbolDecoder(tables, data) for name, data in zip(regions, tile)}
                         for tile in substreams]
        self.crc = 0

    def expect(self, table_set, channels):
        """Refuse (ValueError) substreams too short for `channels` symbols per position of their tile's
        region, before the rows are known (before any network has run)."""
        for (r, c), decoders in zip(self.regions[table_set], self.decoders):
            decoders[table_set].expect(table_set, channels * (r.stop - r.start) * (c.stop - c.start))

    def read(self, table_set, rows):
        """rows: integer array (..., H, W) on the grid of `table_set` -> the symbols, int64, same shape.
        ValueError when a substream is too short or invalid for its symbols."""
        rows = np.asarray(rows)
        symbols = np.empty(rows.shape, dtype=np.int64)
        blocks = [(r, c, rows[..., r, c]) for r, c in self.regions[table_set]]
        for (_, _, block_rows), decoders in zip(blocks, self.decoders):  # every tile's capacity, first
            decoders[table_set].reserve(table_set, block_rows)
        for (r, c, block_rows), decoders in zip(blocks, self.decoders):
            block = decoders[table_set].decode(table_set, block_rows, reserved=True).reshape(block_rows.shape)
            self.crc = symbol_checksum([block], self.crc)
            symbols[..., r, c] = block
        return symbols
