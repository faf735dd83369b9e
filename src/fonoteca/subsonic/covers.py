"""Cover art: the picture embedded in a stored file (FLAC pictures, Vorbis/Opus METADATA_BLOCK_PICTURE, ID3 APIC,
MP4 covr; ingest embeds the archive's covers), resized with Pillow and cached by size under
ARCHIVE/cache/covers/, or a placeholder drawn from the id when there is none. Nothing but these JPEGs is
served: the cache file's name comes from a hash, never from the request."""

from __future__ import annotations

import base64
import hashlib
import io
import os
from pathlib import Path

MAX_SIZE = 2048
PLACEHOLDER_SIZE = 600
QUALITY = 88


def cache_dir(root: Path) -> Path:
    return root / "cache" / "covers"


def embedded_picture(path: Path) -> bytes | None:
    """The front cover (or the first picture) embedded in an audio file."""
    import mutagen
    from mutagen.flac import Picture

    try:
        found = mutagen.File(str(path))
    except Exception:  # noqa: BLE001 (an unreadable file has no cover)
        return None
    if found is None:
        return None
    pictures = list(getattr(found, "pictures", []) or [])
    tags = getattr(found, "tags", None)
    if tags is not None:
        try:
            for value in (
                tags.get("metadata_block_picture") or tags.get("METADATA_BLOCK_PICTURE") or []
                if hasattr(tags, "get")
                else []
            ):
                pictures.append(Picture(base64.b64decode(value)))
        except Exception:  # noqa: BLE001
            pass
        if hasattr(tags, "getall"):
            for frame in tags.getall("APIC"):
                if frame.type == 3:
                    return bytes(frame.data)
                pictures.append(frame)
        if hasattr(tags, "get") and not pictures:
            covr = tags.get("covr")
            if covr:
                return bytes(covr[0])
    for picture in pictures:
        if getattr(picture, "type", None) == 3:
            return bytes(picture.data)
    return bytes(pictures[0].data) if pictures else None


def _resized(data: bytes, size: int | None) -> bytes:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        image.load()
        picture = image.convert("RGB")
    if size and max(picture.size) > size:
        picture.thumbnail((size, size), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    picture.save(out, "JPEG", quality=QUALITY, optimize=True)
    return out.getvalue()


def placeholder(key: str, size: int | None) -> bytes:
    """A square of two colours taken from the id, with a record drawn on it."""
    from PIL import Image, ImageDraw

    side = min(size or PLACEHOLDER_SIZE, PLACEHOLDER_SIZE * 2)
    seed = hashlib.sha256(key.encode()).digest()
    top, bottom = tuple(seed[:3]), tuple(seed[3:6])
    image = Image.new("RGB", (side, side), top)
    draw = ImageDraw.Draw(image)
    for y in range(side):
        t = y / max(1, side - 1)
        draw.line([(0, y), (side, y)], fill=tuple(int(a + (b - a) * t) for a, b in zip(top, bottom, strict=True)))
    r = side * 0.36
    c = side / 2
    draw.ellipse([c - r, c - r, c + r, c + r], fill=(20, 20, 20))
    draw.ellipse([c - r * 0.3, c - r * 0.3, c + r * 0.3, c + r * 0.3], fill=bottom)
    draw.ellipse([c - r * 0.05, c - r * 0.05, c + r * 0.05, c + r * 0.05], fill=(240, 240, 240))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=QUALITY)
    return out.getvalue()


def _write_atomic(path: Path, data: bytes) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only archive still answers, without caching


def cover(root: Path, audio_path: Path | None, fallback_key: str, size: int | None) -> bytes:
    """The JPEG for a cover request: cached by (file, its mtime and size, requested size)."""
    if audio_path is not None:
        try:
            st = audio_path.stat()
            stamp = f"{audio_path}:{st.st_mtime_ns}:{st.st_size}"
        except OSError:
            stamp = None
        if stamp is not None:
            name = hashlib.sha256(stamp.encode("utf-8", "surrogateescape")).hexdigest()[:32]
            cached = cache_dir(root) / name[:2] / f"{name}-{size or 0}.jpg"
            if cached.is_file():
                return cached.read_bytes()
            data = embedded_picture(audio_path)
            if data is not None:
                try:
                    out = _resized(data, size)
                except Exception:  # noqa: BLE001 (a damaged picture: the placeholder instead)
                    out = None
                if out is not None:
                    _write_atomic(cached, out)
                    return out
    name = hashlib.sha256(("placeholder:" + fallback_key).encode()).hexdigest()[:32]
    cached = cache_dir(root) / "placeholders" / f"{name}-{size or 0}.jpg"
    if cached.is_file():
        return cached.read_bytes()
    out = placeholder(fallback_key, size)
    _write_atomic(cached, out)
    return out
