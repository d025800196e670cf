"""Run a codec over a folder and measure every image: `icisp eval` (icisp) and `icisp bench` (peers).

Every record comes from a real file: icisp really encodes to bytes and decodes them; peers really go
through their encoders and decoders. Peer results are cached per (codec, setting, image content hash,
library versions), one JSON file per codec, so reruns are cheap and only what is missing is measured; the
development images' results are kept in the repository (benchmarks/peer-results), so a new machine starts
with them.
"""
import hashlib
import json
import sys
import time
from pathlib import Path

from ..image_io import list_images, load_rgb
from ..model.config import DEFAULT_EFFORT
from .metrics import ms_ssim, psnr
from .records import clean, results


def default_cache_dir():
    import platformdirs

    return platformdirs.user_cache_path("icisp") / "bench"


def _progress(items, label):
    """A progress bar with an ETA on a terminal, nothing when stderr is not one."""
    from tqdm import tqdm

    return tqdm(items, desc=label, unit="image", file=sys.stderr, disable=not sys.stderr.isatty())


class Judge:
    """All metrics of decoded images against one original (reference features computed once)."""

    def __init__(self, original, with_lpips=True):
        from .lpips_hed import LpipsHed

        self.original = original
        self.lpips = LpipsHed(original) if with_lpips else None

    def __call__(self, decoded):
        return {"psnr": psnr(self.original, decoded), "ms_ssim": ms_ssim(self.original, decoded),
                "lpips_hed": self.lpips(decoded) if self.lpips else None}


def _record(name, setting, rgb, file_bytes, payload_bytes, estimated_bits, enc_s, dec_s, quality):
    pixels = rgb.shape[0] * rgb.shape[1]
    rec = {"image": name, "setting": setting, "width": rgb.shape[1], "height": rgb.shape[0],
           "file_bytes": file_bytes, "file_bpp": file_bytes * 8 / pixels, "payload_bpp": payload_bytes * 8 / pixels,
           "estimated_bpp": None if estimated_bits is None else estimated_bits / pixels,
           "encode_s": enc_s, "decode_s": dec_s, **quality}
    return {k: clean(v) for k, v in rec.items()}


def _images(folder):
    folder = Path(folder)
    paths = list_images(folder)
    if not paths:
        from ..errors import InputError

        raise InputError(f"no images found in {folder}")
    return [(str(p.relative_to(folder)), p) for p in paths]


def eval_icisp(codec_for, folder, lambdas, save_recon=None, with_lpips=True, effort=DEFAULT_EFFORT):
    """codec_for: a Codec, or a function λ -> the Codec for λ (fixed-rate models, one per λ)."""
    if not callable(codec_for):
        codec_for = (lambda lam, codec=codec_for: codec)
    images = _images(folder)
    records = []
    for name, path in _progress(images, "eval"):
        rgb = load_rgb(path)
        judge = Judge(rgb, with_lpips)
        for lam in lambdas:
            records.append(_eval_one(codec_for(lam), name, rgb, lam, judge, save_recon, effort))
    codecs = {id(c): c for c in (codec_for(lam) for lam in lambdas)}.values()
    first = next(iter(codecs))
    info = {"model": first.model.cfg.name, "weights_id": ",".join(c.weights_id.hex() for c in codecs),
            "device": str(first.device), "bf16": first.bf16, "effort": effort, "metadata": "not coded (pixels only)"}
    name = "icisp-" + first.model.cfg.name + ("" if effort == DEFAULT_EFFORT else f"-e{effort}")
    return results(name, info, [n for n, _ in images], records)


def _eval_one(codec, name, rgb, lam, judge, save_recon, effort):
    from ..image_io import save_rgb

    data, enc = codec.encode(rgb, lam, estimate=True, effort=effort)  # enc.seconds excludes the estimate
    decoded, dec = codec.decode(data)
    if save_recon:
        out = Path(save_recon) / f"{Path(name).with_suffix('')}_lambda{lam:g}.png"
        out.parent.mkdir(parents=True, exist_ok=True)
        save_rgb(decoded, out)
    return _record(name, lam, rgb, len(data), enc.payload_bytes, enc.estimated_bits, enc.seconds, dec.seconds,
                   judge(decoded))


def _cache_key(codec, quality, rgb_hash, versions):
    return hashlib.sha256(json.dumps([codec, quality, rgb_hash, versions]).encode()).hexdigest()[:24]


class PeerCache:
    """{key: record} of one codec, in <cache_dir>/<codec>.json (keys sorted: stable diffs in git)."""

    def __init__(self, cache_dir, codec_name):
        self.path = Path(cache_dir) / f"{codec_name}.json"
        self.records = json.loads(self.path.read_text()) if self.path.exists() else {}
        self.changed = False

    def get(self, key):
        return self.records.get(key)

    def put(self, key, record):
        self.records[key] = record
        self.changed = True

    def save(self):
        if self.changed:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(self.records, indent=0, sort_keys=True) + "\n")
            tmp.replace(self.path)
            self.changed = False


def bench_peer(codec_name, folder, qualities=None, with_lpips=True, cache_dir=None):
    from .peers import CODECS, QUALITIES, versions

    encode, decode = CODECS[codec_name]
    qualities = qualities or QUALITIES[codec_name]
    images = _images(folder)
    lib_versions = versions()
    cache = PeerCache(cache_dir or default_cache_dir(), codec_name)
    records = []
    for name, path in _progress(images, codec_name):
        rgb = load_rgb(path)
        rgb_hash = hashlib.sha256(rgb.tobytes()).hexdigest()
        judge = None
        for q in qualities:
            key = _cache_key(codec_name, q, rgb_hash, lib_versions)
            rec = cache.get(key)
            if rec is None or (with_lpips and rec.get("lpips_hed") is None):
                judge = judge or Judge(rgb, with_lpips)
                rec = _measure_peer(encode, decode, rgb, q, judge)
                cache.put(key, rec)
                cache.save()  # each record as it comes: an interrupted run keeps what it measured
            records.append({**rec, "image": name})
    return results(codec_name, {"library_versions": lib_versions}, [n for n, _ in images], records)


def _measure_peer(encode, decode, rgb, q, judge):
    t0 = time.perf_counter()
    data = encode(rgb, q)
    enc_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    decoded = decode(data)
    dec_s = time.perf_counter() - t0
    return _record(None, q, rgb, len(data), len(data), None, enc_s, dec_s, judge(decoded))
