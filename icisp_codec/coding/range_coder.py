"""Symbols -> bytes and back with constriction's range coder.

Every symbol is coded with one row of an integer frequency table (see model/entropy/tables.py). Symbols that
use the same row are coded together in one call, rows in increasing order; the decoder knows every symbol's
row before it reads them (rows come from already decoded data), so it reproduces the order exactly. A value
outside its row's range is coded as the row's escape bin followed by the raw value in two 16-bit halves.

numpy + constriction only: no torch here.
"""
import zlib

import constriction
import numpy as np

_model = constriction.stream.model


class SubstreamTooShort(ValueError):
    """A substream has fewer bytes than the symbols it must hold could possibly cost."""


_HALF = _model.Uniform(1 << 16)


class _Tables:
    def __init__(self, freqs, lengths, offsets):
        self.freqs, self.lengths, self.offsets = freqs, lengths.astype(np.int64), offsets.astype(np.int64)
        self._models = {}
        # Each row's cheapest symbol, in bits: a lower bound on what any symbol coded with that row costs.
        totals = freqs.astype(np.float64).sum(axis=1)
        self.floor_bits = -np.log2(freqs.max(axis=1) / np.maximum(totals, 1))

    def model(self, row):
        if row not in self._models:
            probabilities = self.freqs[row, : self.lengths[row]].astype(np.float64)
            self._models[row] = _model.Categorical(probabilities, perfect=False)
        return self._models[row]


def _zigzag(values):
    values = values.astype(np.int64)
    return np.where(values >= 0, 2 * values, -2 * values - 1)


def _unzigzag(codes):
    codes = codes.astype(np.int64)
    return np.where(codes % 2 == 0, codes // 2, -(codes + 1) // 2)


def _groups(rows):
    """Yield (row, positions) in increasing row order, positions in raster order."""
    order = np.argsort(rows, kind="stable")
    sorted_rows = rows[order]
    starts = np.flatnonzero(np.diff(sorted_rows, prepend=-1))
    ends = np.append(starts[1:], len(rows))
    for s, e in zip(starts, ends):
        yield int(sorted_rows[s]), order[s:e]


class SymbolEncoder:
    """Encodes groups of symbols into one range-coded substream."""

    def __init__(self, tables):
        self._tables = tables  # {table_set: (freqs, lengths, offsets)}
        self._cache = {}
        self._encoder = constriction.stream.queue.RangeEncoder()

    def _table(self, table_set):
        if table_set not in self._cache:
            self._cache[table_set] = _Tables(*self._tables[table_set])
        return self._cache[table_set]

    def encode(self, table_set, symbols, rows):
        symbols = np.asarray(symbols, dtype=np.int64).ravel()
        rows = np.asarray(rows, dtype=np.int64).ravel()
        table = self._table(table_set)
        for row, positions in _groups(rows):
            bins = symbols[positions] - table.offsets[row]
            escape = table.lengths[row] - 1
            outside = (bins < 0) | (bins >= escape)
            bins = np.where(outside, escape, bins)
            self._encoder.encode(bins.astype(np.int32), table.model(row))
            if outside.any():
                codes = _zigzag(symbols[positions][outside])
                if (codes >= 1 << 32).any():
                    raise ValueError("latent value out of the codable range")
                halves = np.stack([codes >> 16, codes & 0xFFFF], axis=1).ravel()
                self._encoder.encode(halves.astype(np.int32), _HALF)

    def to_bytes(self) -> bytes:
        return self._encoder.get_compressed().astype("<u4").tobytes()


class SymbolDecoder:
    """Reads groups of symbols back, given the same tables and the same rows the encoder used.

    Before decoding a group it checks that the substream can hold it: the range coder writes at least each
    symbol's information (at least its row's floor_bits), less one 32-bit word, and at least one word for
    any symbols at all. A substream too short is refused before any work is spent on it."""

    def __init__(self, tables, data: bytes):
        if len(data) % 4:
            raise ValueError("substream length is not a multiple of 4 bytes")
        self._tables = {k: _Tables(*v) for k, v in tables.items()}
        words = np.frombuffer(data, dtype="<u4").astype(np.uint32)
        self._decoder = constriction.stream.queue.RangeDecoder(words)
        self._capacity_bits = 8 * len(data)
        self._floor_bits = 0.0  # the least the symbols decoded so far can have cost

    def reserve(self, table_set, rows):
        """Refuse (ValueError) if the substream is too short for these further symbols."""
        rows = np.asarray(rows, dtype=np.int64).ravel()
        table = self._tables[table_set]
        if rows.size and (rows.min() < 0 or rows.max() >= len(table.lengths)):
            raise ValueError("table row out of range")
        # Half the float floor: constriction rounds probabilities to its own precision.
        self._floor_bits += 0.5 * float(table.floor_bits[rows].sum())
        if rows.size and (self._capacity_bits == 0 or self._floor_bits > self._capacity_bits + 32):
            raise SubstreamTooShort(f"substream of {self._capacity_bits // 8} bytes is too short for its symbols")
        return rows

    def expect(self, table_set, count):
        """Refuse (ValueError) if the substream cannot hold `count` symbols of this table set whatever
        their rows: a check before anything is computed, when the rows are not known yet."""
        floor = 0.5 * count * float(self._tables[table_set].floor_bits.min())
        if count and (self._capacity_bits == 0 or floor > self._capacity_bits + 32):
            raise SubstreamTooShort(f"substream of {self._capacity_bits // 8} bytes is too short for its {count} "
                                    f"symbols")

    def decode(self, table_set, rows, reserved=False):
        """The symbols of `rows` (reserve() already called for them when `reserved`)."""
        rows = np.asarray(rows, dtype=np.int64).ravel() if reserved else self.reserve(table_set, rows)
        table = self._tables[table_set]
        symbols = np.empty(rows.shape, dtype=np.int64)
        for row, positions in _groups(rows):
            bins = self._read(table.model(row), len(positions))
            escape = table.lengths[row] - 1
            values = bins + table.offsets[row]
            outside = bins == escape
            if outside.any():
                halves = self._read(_HALF, 2 * int(outside.sum()))
                values[outside] = _unzigzag((halves[0::2] << 16) | halves[1::2])
            symbols[positions] = values
        return symbols

    def _read(self, model, count):
        try:
            return np.asarray(self._decoder.decode(model, count), dtype=np.int64)
        except Exception as exc:  # constriction asserts on data no encoder could have produced
            raise ValueError(f"substream is invalid for the entropy model ({exc})") from None


def symbol_checksum(symbol_arrays, crc=0) -> int:
    """CRC-32 of all symbols (int32 little-endian, in coding order): stored in the file so a decoder that
    ever falls out of sync with its encoder notices instead of writing a wrong image. `crc` continues a
    running checksum."""
    for symbols in symbol_arrays:
        crc = zlib.crc32(np.asarray(symbols, dtype="<i4").tobytes(), crc)
    return crc
