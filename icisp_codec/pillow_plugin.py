"""Pillow reads and writes .icisp: registered when icisp_codec is imported.

    import icisp_codec
    from PIL import Image
    im = Image.open("photo.icisp")                 # decoded with the weights the file names
    im.save("copy.icisp", quality=60)              # or lam=2.5, weights="paper"

Opening reads only the header (size, mode, colour profile); the network runs when the pixels are first
needed. Any Pillow-based tool (torchvision's folder loaders included) then reads .icisp files.
"""
from PIL import Image, ImageFile

from . import metadata as chunks
from .bitstream import MAGIC, parse
from .errors import IcispError

FORMAT = "ICISP"
_CODECS = {}  # weights value -> selection.Codecs, so a process loads each weights file once


def _codecs(weights=None):
    from .selection import Codecs

    if weights not in _CODECS:
        _CODECS[weights] = Codecs(weights, device="auto")
    return _CODECS[weights]


def _accept(prefix):
    return prefix[:4] == MAGIC


class IcispImageFile(ImageFile.ImageFile):
    format = FORMAT
    format_description = "icisp learned image codec"

    def _open(self):
        self._icisp_data = self.fp.read()
        try:
            header = parse(self._icisp_data)
        except IcispError as exc:
            raise SyntaxError(str(exc)) from None
        self._icisp_header = header
        self._size = (header.width, header.height)
        self._mode = "RGBA" if chunks.ALPHA in header.metadata else "RGB"
        try:
            icc = chunks.icc_profile(header.metadata)
        except IcispError as exc:
            raise SyntaxError(str(exc)) from None
        if icc:
            self.info["icc_profile"] = icc
        self.info["lambda"] = header.lam
        self.tile = []  # decoded by load(), not by a Pillow decoder

    def load(self):
        if self._icisp_data is not None:
            rgb, _ = _codecs().for_file(self._icisp_header).decode(self._icisp_data)
            image = Image.fromarray(rgb, "RGB")
            alpha = chunks.alpha(self._icisp_header.metadata, image.size)
            if alpha is not None:
                image.putalpha(alpha)
            self.im = image.im
            self._icisp_data = None
        return Image.Image.load(self)


def _save(im, fp, filename):
    """im.save(..., format="ICISP" or a .icisp name; quality=0-100 or lam=λ; weights=name or path; effort=1-4)."""
    import numpy as np

    from .model.config import DEFAULT_EFFORT, DEFAULT_LAMBDA

    options = im.encoderinfo
    codecs = _codecs(options.get("weights"))
    lam = options.get("lam")
    if lam is None:
        lam = codecs.lambda_for_quality(options["quality"]) if "quality" in options else DEFAULT_LAMBDA
    alpha_png = None
    if im.mode in ("RGBA", "LA") and im.getchannel("A").getextrema() != (255, 255):
        import io

        buffer = io.BytesIO()
        im.getchannel("A").save(buffer, "PNG", optimize=True)
        alpha_png = buffer.getvalue()
    metadata = chunks.pack(options.get("icc_profile", im.info.get("icc_profile")), None, alpha_png)
    rgb = np.array(im.convert("RGB"), dtype=np.uint8)
    data, _ = codecs.for_rate(lam).encode(rgb, lam, metadata=metadata, effort=options.get("effort", DEFAULT_EFFORT))
    fp.write(data)


Image.register_open(FORMAT, IcispImageFile, _accept)
Image.register_save(FORMAT, _save)
Image.register_extension(FORMAT, ".icisp")
Image.register_mime(FORMAT, "image/x-icisp")
