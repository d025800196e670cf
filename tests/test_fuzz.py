"""Mutated files never crash the decoder: each is decoded or refused with an IcispError."""
from icisp_codec.fuzzing import fuzz

from .conftest import dev_image


def test_mutated_files_are_refused_cleanly(tiny_codec):
    seeds = [tiny_codec.encode(dev_image("coffee.png")[:48, :72], lam)[0] for lam in (1.0, 5.0)]
    counts, bugs, slowest = fuzz(tiny_codec, seeds, cases=300, seed=1)
    print(f"outcomes of 300 mutants: {counts}; slowest {slowest:.2f} s")
    assert not bugs, [repr(e) for _, e in bugs[:5]]
    assert counts.get("CorruptFile", 0) > 0 and sum(counts.values()) == 300
    assert slowest < 30
