"""Range coding with integer tables: exact round trips, escapes, table construction."""
import numpy as np

from icisp_codec.coding import SymbolDecoder, SymbolEncoder
from icisp_codec.model.entropy.tables import gaussian_rows, scale_table, scale_to_index


def _tables():
    return {"gaussian": tuple(t.numpy() for t in gaussian_rows())}


def test_round_trip_with_escapes(rng):
    tables = _tables()
    n = 5000
    rows = rng.integers(0, 64, n)
    scales = scale_table().numpy()[rows]
    symbols = np.round(rng.normal(0, scales)).astype(np.int64)
    symbols[::97] = rng.integers(-100000, 100000, len(symbols[::97]))  # far outside every row: escapes
    enc = SymbolEncoder(tables)
    enc.encode("gaussian", symbols, rows)
    data = enc.to_bytes()
    dec = SymbolDecoder(tables, data)
    assert np.array_equal(dec.decode("gaussian", rows), symbols)


def test_cost_close_to_entropy(rng):
    """Gaussian symbols coded with their own scale's row cost within 1% of their ideal information."""
    tables = _tables()
    rows = np.full(20000, 30)
    s = float(scale_table()[30])
    symbols = np.round(rng.normal(0, s, rows.size)).astype(np.int64)
    freqs, lengths, offsets = tables["gaussian"]
    p = freqs[30, : lengths[30]] / freqs[30, : lengths[30]].sum()
    ideal_bits = -np.log2(p[symbols - offsets[30]]).sum()
    enc = SymbolEncoder(tables)
    enc.encode("gaussian", symbols, rows)
    actual_bits = len(enc.to_bytes()) * 8
    assert actual_bits < ideal_bits * 1.01 + 64


def test_scale_index_is_nearest_in_log():
    table = scale_table()
    assert scale_to_index(table).tolist() == list(range(64))
    assert scale_to_index(table[:1] * 0.5).item() == 0  # below the table: first entry
    assert scale_to_index(table[-1:] * 10).item() == 63


def test_gaussian_rows_are_integers_with_escape():
    freqs, lengths, offsets = gaussian_rows()
    assert freqs.dtype.is_floating_point is False
    for row in range(64):
        f = freqs[row, : lengths[row]]
        assert (f >= 1).all()
        assert offsets[row] == -(lengths[row] - 2) // 2  # symmetric support plus an escape bin
