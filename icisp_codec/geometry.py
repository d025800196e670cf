"""The model's geometry, which the file format depends on. Standard library only.

One latent per 16x16 pixels; one hyper-latent per 4x4 latents. Images are padded to multiples of 64 px,
because every state-space block halves its input down to the hyper-analysis at 1/64 and needs even sides
there. Coding tiles are whole numbers of hyper-latents, so their sides are multiples of 4 latents.
"""
LATENT_STRIDE = 16  # pixels per latent, each way
Z_PER_Y = 4  # latents per hyper-latent, each way
PAD_MULTIPLE = LATENT_STRIDE * Z_PER_Y  # 64


def ceil_div(a, b):
    return -(-a // b)


def padded_size(height, width, multiple=PAD_MULTIPLE):
    """(rows, columns) after padding bottom/right to multiples of `multiple`."""
    return ceil_div(height, multiple) * multiple, ceil_div(width, multiple) * multiple


def latent_size(width, height):
    """(rows, columns) of the latent grid of a width x height image."""
    rows, cols = padded_size(height, width)
    return rows // LATENT_STRIDE, cols // LATENT_STRIDE


def hyper_size(width, height):
    """(rows, columns) of the hyper-latent grid."""
    rows, cols = latent_size(width, height)
    return rows // Z_PER_Y, cols // Z_PER_Y


def valid_tile_size(tile_latents):
    """A coding tile must cover whole hyper-latents."""
    return tile_latents > 0 and tile_latents % Z_PER_Y == 0


def spans(length, size):
    """[(start, stop), ...] cutting 0..length into pieces of `size` (the last may be shorter)."""
    return [(start, min(start + size, length)) for start in range(0, length, size)]


def tile_grid(rows, cols, size):
    """Coding tiles of a latent grid in raster order, as (row slice, column slice) pairs."""
    return [(slice(r0, r1), slice(c0, c1)) for r0, r1 in spans(rows, size) for c0, c1 in spans(cols, size)]


def hyper_regions(grid):
    """The hyper-latent regions of a latent tile grid (each tile's z block)."""
    return [(slice(r.start // Z_PER_Y, ceil_div(r.stop, Z_PER_Y)), slice(c.start // Z_PER_Y, ceil_div(c.stop, Z_PER_Y)))
            for r, c in grid]


def tile_count(width, height, tile_latents):
    rows, cols = latent_size(width, height)
    return ceil_div(rows, tile_latents) * ceil_div(cols, tile_latents)
