"""The codec: image -> tensors -> latents -> symbols -> bytes -> .icisp, and back.

    codec = Codec.load()                      # shipped `lite` weights, CPU
    data, report = codec.encode(rgb_uint8, lam=2.5)
    rgb, report = codec.decode(data)
"""
import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from . import image_io
from .bitstream import Container, parse, serialize
from .bitstream.container import DEFAULT_MAX_PIXELS
from .coding import SubstreamTooShort, TiledSymbolReader, TiledSymbolWriter
from .device import native_bf16, resolve_device, torch_threads, use_bf16
from .errors import CorruptFile, DecoderDesync, ModelError, UsageError
from .geometry import PAD_MULTIPLE, hyper_regions, hyper_size, latent_size, tile_grid
from .model.config import DEFAULT_EFFORT, check_lambda
from .model.entropy.hyperprior import Y_TABLE_SET, Z_TABLE_SET, bits_per_sample
from .model.latent_search import search_latent, search_steps
from .model.transforms import SYNTHESIS_TAIL_HALO, local_tail_start
from .tiling import SYNTHESIS_BANDS, TILE_LATENTS, WINDOW_LATENTS, analysis_windows, banded, synthesis_windows
from .weights import load_weights

DEFAULT_PAD_MODE = "replicate"


@dataclass
class Report:
    """What coding one image did: the same for encode and decode, from the API and from the file tools."""
    width: int
    height: int
    file_bytes: int
    payload_bytes: int
    lam: float
    seconds: float
    estimated_bits: float = math.nan
    notices: list = field(default_factory=list)  # one line per conversion or choice made on the way
    warnings: list = field(default_factory=list)  # what went other than asked (a missed size target)
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


class Codec:
    # CPU convolution kernels sum in an order that depends on the thread count, so the float synthesis
    # transform runs with a fixed thread count: its state-space head on this many threads, its local tail on
    # fixed bands, one single-threaded band per core. The decoded image is then bit-identical whatever
    # --threads says (on the same kind of CPU). Two threads, not one: the `paper` model's head is most of its
    # decode (768x512: 2.7 s on two threads against 5.5 s on one, AMD EPYC with AVX2).
    # None: use all threads, equal only to within rounding.
    SYNTHESIS_THREADS = 2

    def __init__(self, model, weights_id: bytes, device="cpu", info=None, synthesis_threads=SYNTHESIS_THREADS,
                 tile_latents=TILE_LATENTS, window_latents=WINDOW_LATENTS, bf16=None):
        # Convolution weights channels-last: oneDNN then runs every convolution channels-last (about 1.3x
        # faster for the slice networks' 3x3 convolutions on an AVX2 EPYC), and the state-space blocks work
        # channels-last anyway.
        self.model = model.eval().to(memory_format=torch.channels_last)
        # bf16 autocast for the analysis and synthesis transforms only: the context path that decides the
        # symbols stays exact (or fp32), so any decoder reads the file; the pixels differ by rounding.
        # None: where the device computes bf16 natively (1.4-1.7x faster transforms on an AMD Zen 5 at no
        # measurable rate or quality cost, docs/portability.md).
        self.bf16 = use_bf16(bf16, device)
        self.tile_latents = tile_latents  # the encoder's choice, stored in each file
        self.window_latents = window_latents  # transform windows: smaller saves memory (tests use tiny ones)
        self.synthesis_threads = synthesis_threads if torch.device(device).type == "cpu" else None
        self.weights_id = weights_id
        self.device = torch.device(device)
        self.info = info or {}
        self.tables = model.tables()
        self._engines = {}

    @classmethod
    def load(cls, weights=None, device="auto", synthesis_threads=SYNTHESIS_THREADS, bf16=None, **tiling):
        """weights: a name or a path (weights.resolve); tiling: tile_latents, window_latents (tiling.py)."""
        device = resolve_device(device)
        model, wid, info = load_weights(weights, device)
        return cls(model, wid, device, info, synthesis_threads, bf16=bf16, **tiling)

    @property
    def lambda_range(self):
        return self.model.gains.lambda_range

    @property
    def emulated_bf16(self):
        """bf16 asked for on a device that would emulate it (far slower than fp32)."""
        return self.bf16 and not native_bf16(self.device)

    def check_lambda(self, lam) -> float:
        """The float32 value a file stores and the codec codes with; UsageError outside the model's range."""
        try:
            return float(np.float32(check_lambda(lam, self.lambda_range)))
        except ValueError as exc:
            raise UsageError(str(exc)) from None

    @staticmethod
    def search_steps(effort) -> int:
        """Latent search steps for an effort level (model/latent_search.py); UsageError for an unknown one."""
        try:
            return search_steps(effort)
        except ValueError as exc:
            raise UsageError(str(exc)) from None

    def engine(self, kind=None):
        """Context engine for coding: exact integer when the model has an integer context path."""
        kind = kind or self.model.default_context_path
        if kind not in self._engines:
            try:
                self._engines[kind] = self.model.context_engine(kind)
            except ValueError as exc:
                raise ModelError(str(exc)) from None
        return self._engines[kind]

    # ------------------------------------------------------------------------------------------------
    @torch.no_grad()
    def encode(self, rgb: np.ndarray, lam: float, pad_mode=DEFAULT_PAD_MODE, estimate=False, metadata=None,
               context_path=None, effort=DEFAULT_EFFORT, reconstruct=False):
        """-> (file bytes, Report). reconstruct: also keep the latent the decoder will rebuild in
        report.extra["y_bar"] (it costs the encoder the last slice's LRP network)."""
        start, lam, engine = time.perf_counter(), self.check_lambda(lam), self.engine(context_path)
        steps = self.search_steps(effort)
        height, width = rgb.shape[:2]
        x = image_io.pad(image_io.to_tensor(rgb, self.device), PAD_MULTIPLE, pad_mode)
        y = search_latent(self.model, x, self.model.analyse(x, lam, self._windows(analysis_windows)), lam, steps)
        del x  # the largest tensor left: a big photo's entropy coding needs the memory
        writer = TiledSymbolWriter(self.tables, self._regions(width, height, self.tile_latents))
        y_bar = self.model.latent_codec.compress(y, writer, engine, reconstruct)
        container = Container(model=self.model.cfg.name, weights_id=self.weights_id, lam=lam, width=width,
                              height=height, pad_mode=pad_mode, tile_latents=self.tile_latents,
                              context_path=engine.kind, tiles=writer.substreams(), metadata=dict(metadata or {}),
                              symbol_crc=writer.crc)
        data = serialize(container)
        report = self._report(container, len(data), start)
        if reconstruct:
            report.extra["y_bar"] = y_bar
        if estimate:  # (not in the coding time)
            report.estimated_bits = self.estimate_bits(y)
        return data, report

    @torch.no_grad()
    def decode(self, data: bytes, max_pixels=DEFAULT_MAX_PIXELS):
        start, container = time.perf_counter(), self.read_header(data, max_pixels)
        width, height = container.width, container.height
        try:
            reader = TiledSymbolReader(self.tables, self._regions(width, height, container.tile_latents),
                                       container.tiles)
            z_shape = (1, self.model.cfg.z_channels, *hyper_size(width, height))
            y_bar = self.model.latent_codec.decompress(z_shape, reader, self.engine(container.context_path))
        except SubstreamTooShort as exc:
            raise CorruptFile(str(exc)) from None
        except ValueError as exc:
            raise DecoderDesync(f"decoder out of sync with encoder: {exc}") from None
        if reader.crc != container.symbol_crc:
            raise DecoderDesync("decoder out of sync with encoder: decoded symbols fail their checksum (the "
                                "entropy model computed different probabilities here than where the file was made)")
        x_hat = self.synthesize(y_bar, container.lam)
        rgb = image_io.to_uint8(image_io.crop(x_hat, height, width))
        return rgb, self._report(container, len(data), start, container=container, x_hat=x_hat)

    def read_header(self, data: bytes, max_pixels=DEFAULT_MAX_PIXELS) -> Container:
        container = parse(data, max_pixels=max_pixels)
        if container.model != self.model.cfg.name or container.weights_id != self.weights_id:
            raise ModelError(
                f"file was made by model {container.model!r} with weights {container.weights_id.hex()}; "
                f"loaded: {self.model.cfg.name!r} {self.weights_id.hex()}"
            )
        try:
            check_lambda(container.lam, self.lambda_range)
        except ValueError as exc:
            raise CorruptFile(f"header: {exc}") from None
        return container

    def _regions(self, width, height, tile_latents):
        """Each table set's tile regions: z on the hyper-latent grid, y on the latent grid."""
        grid = tile_grid(*latent_size(width, height), tile_latents)
        return {Z_TABLE_SET: hyper_regions(grid), Y_TABLE_SET: grid}  # a tile's substreams, in this order

    @staticmethod
    def _report(header, file_bytes, start, **extra):
        return Report(header.width, header.height, file_bytes, header.payload_bytes, header.lam,
                      time.perf_counter() - start, extra=extra)

    # ------------------------------------------------------------------------------------------------
    @torch.no_grad()
    def estimate_bits(self, y) -> float:
        """The model's own entropy estimate of coding latent y: -sum log2 likelihoods of its symbols."""
        return float(bits_per_sample(self.model.latent_codec(y, rounded=True)[1]).sum())

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

        with torch_threads(self.synthesis_threads):
            return self.model.synthesize(y_bar, lam, banded_windows if self.synthesis_threads else windows)

    def _banded_synthesis(self, g_s, y, workers):
        start = local_tail_start(g_s)
        return banded(self._in_precision(g_s[start:]), g_s[:start](y), SYNTHESIS_BANDS, SYNTHESIS_TAIL_HALO,
                      workers)
