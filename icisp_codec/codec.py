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
from .bitstream.container import DEFAULT_MAX_PIXELS
from .coding import SymbolDecoder, SymbolEncoder, symbol_checksum
from .errors import CorruptFile, DecoderDesync, ModelError, UsageError
from .model import PAD_MULTIPLE
from .model.entropy.hyperprior import Z_TABLE_SET
from .weights import load_weights

DEFAULT_PAD_MODE = "replicate"
# Substream tags: the hyper-latent z and the latent y.
Z_STREAM, Y_STREAM = "z", "y"


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
    # transform runs with a fixed thread count: the decoded image is then bit-identical whatever --threads
    # says (on the same kind of CPU). None: use all threads, faster, equal only to within rounding.
    SYNTHESIS_THREADS = 1

    def __init__(self, model, weights_id: bytes, device="cpu", info=None, synthesis_threads=SYNTHESIS_THREADS):
        self.model = model.eval()
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
    def load(cls, weights=None, device="auto", synthesis_threads=SYNTHESIS_THREADS):
        device = resolve_device(device)
        model, wid, info = load_weights(weights, device)
        return cls(model, wid, device, info, synthesis_threads)

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
        y_bar, groups = self.model.compress(x, lam, engine)
        streams = {Z_STREAM: SymbolEncoder(self.tables), Y_STREAM: SymbolEncoder(self.tables)}
        for table_set, symbols, rows in groups:
            stream = Z_STREAM if table_set == Z_TABLE_SET else Y_STREAM
            streams[stream].encode(table_set, symbols.cpu().numpy(), rows.cpu().numpy())
        z_symbols = groups[0][1]
        container = Container(
            model=self.model.cfg.name,
            weights_id=self.weights_id,
            lam=lam,
            width=width,
            height=height,
            pad_mode=pad_mode,
            context_path=engine.kind,
            z_height=z_symbols.shape[2],
            z_width=z_symbols.shape[3],
            substreams={tag: enc.to_bytes() for tag, enc in streams.items()},
            metadata=dict(metadata or {}),
            symbol_crc=symbol_checksum(g[1].cpu().numpy() for g in groups),
        )
        data = serialize(container)
        report = Report(width, height, len(data), container.payload_bytes, lam, time.perf_counter() - start)
        if estimate:
            report.estimated_bits = self.estimate_bits(x, lam)
        report.extra.update(y_bar=y_bar, symbols=[g[1].cpu().numpy().ravel() for g in groups])
        return data, report

    @torch.no_grad()
    def estimate_bits(self, x, lam) -> float:
        """The model's own entropy estimate: -sum log2 likelihoods of the quantised latents."""
        out = self.model(x, lam)
        return float(sum(-torch.log2(lik).sum() for lik in out["likelihoods"].values()))

    @torch.no_grad()
    def synthesize(self, y_bar, lam):
        """The decoder's image from quantised latents (with the pinned synthesis thread count)."""
        with _torch_threads(self.synthesis_threads):
            return self.model.synthesize(y_bar, lam)

    # ------------------------------------------------------------------------------------------------
    def read_header(self, data: bytes, max_pixels=DEFAULT_MAX_PIXELS) -> Container:
        container = parse(data, max_pixels=max_pixels)
        if container.model != self.model.cfg.name or container.weights_id != self.weights_id:
            raise ModelError(
                f"file was made by model {container.model!r} with weights {container.weights_id.hex()}; "
                f"loaded: {self.model.cfg.name!r} {self.weights_id.hex()}"
            )
        padded = image_io.padded_size(container.height, container.width, PAD_MULTIPLE)
        if (container.z_height, container.z_width) != (padded[0] // PAD_MULTIPLE, padded[1] // PAD_MULTIPLE):
            raise CorruptFile("hyper-latent size does not match the image size")
        if set(container.substreams) != {Z_STREAM, Y_STREAM}:
            raise CorruptFile("missing or unknown substreams")
        return container

    @torch.no_grad()
    def decode(self, data: bytes, max_pixels=DEFAULT_MAX_PIXELS):
        start = time.perf_counter()
        container = self.read_header(data, max_pixels)
        try:
            decoders = {tag: SymbolDecoder(self.tables, container.substreams[tag]) for tag in (Z_STREAM, Y_STREAM)}
        except ValueError as exc:
            raise CorruptFile(str(exc)) from None
        decoded = []

        def read_symbols(table_set, rows):
            stream = Z_STREAM if table_set == Z_TABLE_SET else Y_STREAM
            try:
                symbols = decoders[stream].decode(table_set, rows.cpu().numpy())
            except (ValueError, RuntimeError) as exc:
                raise DecoderDesync(f"decoder out of sync with encoder: {exc}") from None
            decoded.append(symbols)
            return torch.from_numpy(symbols).view(rows.shape).to(self.device)

        z_shape = (1, self.model.cfg.z_channels, container.z_height, container.z_width)
        y_bar = self.model.latent_codec.decompress(read_symbols, z_shape, self.engine(container.context_path))
        x_hat = self.synthesize(y_bar, container.lam)
        if symbol_checksum(decoded) != container.symbol_crc:
            raise DecoderDesync(
                "decoder out of sync with encoder: decoded symbols fail their checksum "
                "(the entropy model computed different probabilities here than where the file was made)"
            )
        rgb = image_io.to_uint8(image_io.crop(x_hat, container.height, container.width))
        report = Report(container.width, container.height, len(data), container.payload_bytes, container.lam,
                        time.perf_counter() - start)
        report.extra.update(container=container, x_hat=x_hat, symbols=decoded)
        return rgb, report
