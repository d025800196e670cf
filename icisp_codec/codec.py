"""The codec: image -> tensors -> latents -> symbols -> bytes -> .icisp, and back.

    codec = Codec.load()                      # shipped `lite` weights, CPU
    data, report = codec.encode(rgb_uint8, lam=2.5)
    rgb, report = codec.decode(data)
"""
import contextlib
import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from . import image_io
from .bitstream import Container, parse, serialize
from .bitstream.container import DEFAULT_MAX_PIXELS, PAD_MULTIPLE, latent_size
from .coding import SymbolDecoder, SymbolEncoder, symbol_checksum
from .errors import CorruptFile, DecoderDesync, ModelError, UsageError
from .model.entropy.hyperprior import Z_TABLE_SET
from .model.transforms import SYNTHESIS_TAIL_HALO, local_tail_start
from .tiling import (SYNTHESIS_BANDS, TILE_LATENTS, WINDOW_LATENTS, analysis_windows, banded, synthesis_windows,
                     tile_grid)
from .weights import load_weights

DEFAULT_PAD_MODE = "replicate"
Z_PER_Y = 4  # hyper-latent positions are 4x4 latents


@dataclass
class Report:
    width: int
    height: int
    file_bytes: int
    payload_bytes: int
    lam: float
    seconds: float
    estimated_bits: float = math.nan
    extra: dict = field(default_factory=dict)

    @property
    def pixels(self):
        return self.width * self.height

    @property
    def file_bpp(self):
        return self.file_bytes * 8 / self.pixels

    @property
    def payload_bpp(self):
        return self.payload_bytes * 8 / self.pixels

    @property
    def estimated_bpp(self):
        return self.estimated_bits / self.pixels


def resolve_device(device="auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: no CUDA device is available")
    return torch.device(device)


def native_bf16(device):
    """Whether bf16 autocast speeds the networks up on this device. On CPUs it only pays with native bf16
    (AVX-512 BF16 / AMX: a 1.45x faster training step on Zen 5); on an AVX2-only EPYC emulated bf16 was
    40x slower than fp32 (forward of 8x128² through `lite`: 22 s vs 0.5 s; a 512² encode 23x)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return device.type == "cpu" and torch.ops.mkldnn._is_mkldnn_bf16_supported()


def use_bf16(requested, device):
    """The bf16 setting to use: the caller's choice, or (None) whether this device computes bf16 natively.
    One rule for training and coding."""
    return native_bf16(torch.device(device)) if requested is None else requested


@contextlib.contextmanager
def _torch_threads(count):
    """Run a block with a fixed number of intra-op threads (None: leave as is)."""
    previous = torch.get_num_threads()
    if count:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


class Codec:
    # CPU convolution kernels sum in an order that depends on the thread count, so the float synthesis
    # transform runs with a fixed thread count (its local tail on fixed bands, one single-threaded band per
    # core): the decoded image is then bit-identical whatever --threads says (on the same kind of CPU).
    # None: use all threads, equal only to within rounding.
    SYNTHESIS_THREADS = 1

    def __init__(self, model, weights_id: bytes, device="cpu", info=None, synthesis_threads=SYNTHESIS_THREADS,
                 tile_latents=TILE_LATENTS, window_latents=WINDOW_LATENTS, bf16=None):
        self.model = model.eval()
        # bf16 autocast for the analysis and synthesis transforms only: the context path that decides the
        # symbols stays exact (or fp32), so any decoder reads the file; the pixels differ by rounding.
        # None: where the device computes bf16 natively (1.4-1.7x faster transforms on Zen 5 at no
        # measurable rate or quality cost, docs/portability.md).
        self.bf16 = use_bf16(bf16, device)
        self.tile_latents = tile_latents  # the encoder's choice, stored in each file
        self.window_latents = window_latents  # transform windows: smaller saves memory (tests use tiny ones)
        self.synthesis_threads = synthesis_threads if torch.device(device).type == "cpu" else None
        self.weights_id = weights_id
        self.device = torch.device(device)
        self.info = info or {}
        self.tables = {name: model.tables(name) for name in ("gaussian", "factorized")}
        self._engines = {}

    def engine(self, kind=None):
        """Context engine for coding: exact integer when the model has an integer context path."""
        kind = kind or self.model.context_engine().kind
        if kind not in self._engines:
            try:
                self._engines[kind] = self.model.context_engine(kind)
            except ValueError as exc:
                raise ModelError(str(exc)) from None
        return self._engines[kind]

    @classmethod
    def load(cls, weights=None, device="auto", synthesis_threads=SYNTHESIS_THREADS, bf16=None, **tiling):
        """tiling: tile_latents, window_latents (defaults in tiling.py)."""
        device = resolve_device(device)
        model, wid, info = load_weights(weights, device)
        return cls(model, wid, device, info, synthesis_threads, bf16=bf16, **tiling)

    @property
    def lambda_range(self):
        return self.model.gains.lambda_range

    def check_lambda(self, lam):
        lo, hi = self.lambda_range
        if not (lo <= lam <= hi):
            raise UsageError(f"lambda {lam} is outside the model's range [{lo:g}, {hi:g}]")

    # ------------------------------------------------------------------------------------------------
    @torch.no_grad()
    def encode(self, rgb: np.ndarray, lam: float, pad_mode=DEFAULT_PAD_MODE, estimate=False, metadata=None,
               context_path=None):
        start = time.perf_counter()
        lam = float(np.float32(lam))  # the file stores float32; code with exactly that value
        self.check_lambda(lam)
        height, width = rgb.shape[:2]
        x = image_io.pad(image_io.to_tensor(rgb, self.device), PAD_MULTIPLE, pad_mode)
        engine = self.engine(context_path)
        estimated_bits = self.estimate_bits(x, lam) if estimate else math.nan
        y = self.model.analyse(x, lam, self._windows(analysis_windows))
        del x  # the largest tensor left: a big photo's entropy coding needs the memory
        y_bar, groups = self.model.latent_codec.compress(y, engine)
        grid = tile_grid(*y.shape[-2:], self.tile_latents)
        encoders = [(SymbolEncoder(self.tables), SymbolEncoder(self.tables)) for _ in grid]
        crc = 0
        for table_set, symbols, ids in groups:  # each group is cut into its tiles, in the decoder's order
            is_z = table_set == Z_TABLE_SET
            for (rows, cols), (z_stream, y_stream) in zip(_regions(grid, is_z), encoders):
                block = symbols[..., rows, cols].cpu().numpy()
                (z_stream if is_z else y_stream).encode(table_set, block, ids[..., rows, cols].cpu().numpy())
                crc = symbol_checksum([block], crc)
        tiles = [(z_stream.to_bytes(), y_stream.to_bytes()) for z_stream, y_stream in encoders]
        container = Container(
            model=self.model.cfg.name,
            weights_id=self.weights_id,
            lam=lam,
            width=width,
            height=height,
            pad_mode=pad_mode,
            tile_latents=self.tile_latents,
            context_path=engine.kind,
            tiles=tiles,
            metadata=dict(metadata or {}),
            symbol_crc=crc,
        )
        data = serialize(container)
        report = Report(width, height, len(data), container.payload_bytes, lam, time.perf_counter() - start,
                        estimated_bits)
        report.extra.update(y_bar=y_bar)
        return data, report

    @torch.no_grad()
    def estimate_bits(self, x, lam) -> float:
        """The model's own entropy estimate: -sum log2 likelihoods of the quantised latents."""
        out = self.model(x, lam)
        return float(sum(-torch.log2(lik).sum() for lik in out["likelihoods"].values()))

    def _windows(self, runner):
        return lambda transform, t: runner(self._in_precision(transform), t, self.window_latents)

    def _in_precision(self, transform):
        """transform, run under bf16 autocast when asked (autocast is per thread: each caller enters it)."""
        if not self.bf16:
            return transform

        def run(t):
            with torch.autocast(t.device.type, dtype=torch.bfloat16):
                return transform(t).float()

        return run

    @torch.no_grad()
    def synthesize(self, y_bar, lam):
        """The decoder's image from quantised latents. With a pinned synthesis thread count, the local tail
        of the synthesis runs in fixed bands, one per available core (tiling.banded)."""
        windows = self._windows(synthesis_windows)
        workers = torch.get_num_threads()

        def banded_windows(g_s, y):
            return windows(lambda t: self._banded_synthesis(g_s, t, workers), y)

        with _torch_threads(self.synthesis_threads):
            return self.model.synthesize(y_bar, lam, banded_windows if self.synthesis_threads else windows)

    def _banded_synthesis(self, g_s, y, workers):
        start = local_tail_start(g_s)
        return banded(self._in_precision(g_s[start:]), g_s[:start](y), SYNTHESIS_BANDS, SYNTHESIS_TAIL_HALO,
                      workers)

    # ------------------------------------------------------------------------------------------------
    def read_header(self, data: bytes, max_pixels=DEFAULT_MAX_PIXELS) -> Container:
        container = parse(data, max_pixels=max_pixels)
        if container.model != self.model.cfg.name or container.weights_id != self.weights_id:
            raise ModelError(
                f"file was made by model {container.model!r} with weights {container.weights_id.hex()}; "
                f"loaded: {self.model.cfg.name!r} {self.weights_id.hex()}"
            )
        return container

    @torch.no_grad()
    def decode(self, data: bytes, max_pixels=DEFAULT_MAX_PIXELS):
        start = time.perf_counter()
        container = self.read_header(data, max_pixels)
        latent_rows, latent_cols = latent_size(container.width, container.height)
        grid = tile_grid(latent_rows, latent_cols, container.tile_latents)
        try:
            decoders = [(SymbolDecoder(self.tables, z), SymbolDecoder(self.tables, y)) for z, y in container.tiles]
        except ValueError as exc:
            raise CorruptFile(str(exc)) from None
        crc = 0

        def read_symbols(table_set, ids):
            nonlocal crc
            is_z = table_set == Z_TABLE_SET
            symbols = torch.empty_like(ids)
            for (rows, cols), (z_stream, y_stream) in zip(_regions(grid, is_z), decoders):
                block_ids = ids[..., rows, cols]
                try:
                    block = (z_stream if is_z else y_stream).decode(table_set, block_ids.cpu().numpy())
                except (ValueError, RuntimeError) as exc:
                    raise DecoderDesync(f"decoder out of sync with encoder: {exc}") from None
                crc = symbol_checksum([block], crc)
                symbols[..., rows, cols] = torch.from_numpy(block).view(block_ids.shape)
            return symbols

        z_shape = (1, self.model.cfg.z_channels, latent_rows // Z_PER_Y, latent_cols // Z_PER_Y)
        y_bar = self.model.latent_codec.decompress(read_symbols, z_shape, self.engine(container.context_path))
        if crc != container.symbol_crc:
            raise DecoderDesync(
                "decoder out of sync with encoder: decoded symbols fail their checksum "
                "(the entropy model computed different probabilities here than where the file was made)"
            )
        x_hat = self.synthesize(y_bar, container.lam)
        rgb = image_io.to_uint8(image_io.crop(x_hat, container.height, container.width))
        report = Report(container.width, container.height, len(data), container.payload_bytes, container.lam,
                        time.perf_counter() - start)
        report.extra.update(container=container, x_hat=x_hat)
        return rgb, report


def _regions(grid, hyper):
    """A tile grid's regions on the latent grid, or on the hyper-latent grid (4x coarser)."""
    if not hyper:
        return grid
    return [(slice(r.start // Z_PER_Y, -(-r.stop // Z_PER_Y)), slice(c.start // Z_PER_Y, -(-c.stop // Z_PER_Y)))
            for r, c in grid]
