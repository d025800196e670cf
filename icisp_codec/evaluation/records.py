"""The result schema shared by `icisp eval` and `icisp bench` (documented in docs/evaluation.md).

    {"schema": "icisp-results-1", "codec": str, "codec_info": {...}, "images": [str], "records": [record],
     "summary": [{"setting": s, "images": n, <metric>: mean, ...}]}
    record = {"image", "setting", "width", "height", "file_bytes", "file_bpp", "payload_bpp",
              "estimated_bpp" (null for peers), "psnr", "ms_ssim" (null below 161 px), "lpips_hed",
              "encode_s", "decode_s"}
"""
import math

SCHEMA = "icisp-results-1"
METRICS = ("file_bpp", "payload_bpp", "estimated_bpp", "psnr", "ms_ssim", "lpips_hed", "encode_s", "decode_s")
RECORD_KEYS = ("image", "setting", "width", "height", "file_bytes") + METRICS


def clean(value):
    """JSON has no NaN/inf: missing values are null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def summarize(records):
    by_setting = {}
    for r in records:
        by_setting.setdefault(r["setting"], []).append(r)
    summary = []
    for setting, rs in sorted(by_setting.items(), key=lambda kv: kv[0]):
        row = {"setting": setting, "images": len(rs)}
        for m in METRICS:
            values = [r[m] for r in rs if r.get(m) is not None]
            row[m] = sum(values) / len(values) if len(values) == len(rs) else None
        summary.append(row)
    return summary


def results(codec, codec_info, images, records):
    return {"schema": SCHEMA, "codec": codec, "codec_info": codec_info, "images": images,
            "records": records, "summary": summarize(records)}


def validate(doc):
    """Raise ValueError unless doc follows the schema (used by tests and by `icisp report`)."""
    if doc.get("schema") != SCHEMA:
        raise ValueError(f"not an {SCHEMA} document")
    for key in ("codec", "codec_info", "images", "records", "summary"):
        if key not in doc:
            raise ValueError(f"missing key {key!r}")
    for r in doc["records"]:
        missing = [k for k in RECORD_KEYS if k not in r]
        if missing:
            raise ValueError(f"record misses {missing}")
        for k in METRICS:
            if r[k] is not None and not isinstance(r[k], (int, float)):
                raise ValueError(f"{k} must be a number or null")
        if r["image"] not in doc["images"]:
            raise ValueError(f"record for unknown image {r['image']!r}")
    return doc
