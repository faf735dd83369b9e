"""The per-file work, as a pure function: an input path and parameters in, a result record and (for kind
"store") a finished, fsynced file in a temporary folder under the archive out. It never touches the catalog and
never raises for a bad file: a rejected input comes back as ok=False with a reason."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import time
import traceback
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fonoteca import durable
from fonoteca.audio import decode
from fonoteca.audio import fingerprint as fpmod
from fonoteca.audio import patch as patchmod
from fonoteca.audio import tags as tagmod
from fonoteca.tiers import Tier

READ_CHUNK = 1 << 20


@dataclass
class Task:
    index: int
    path: str
    kind: str  # store | analyse (validate and fingerprint only)
    tier: int = 0  # 1 compact, 2 original (kind store)
    tmp_dir: str = ""  # where the finished file goes (same file system as files/)
    ext: str = ""  # suffix of the stored file
    tags: dict[str, list[str]] = field(default_factory=dict)
    cover: tuple[bytes, str] | None = None
    expected_duration: float | None = None  # catalog duration, seconds
    tolerance: float = 3.0
    compact_bitrate: int = 75000
    fingerprint_seconds: float = 120.0
    threads: int = 1  # threads the task may use (cores the pool leaves spare)


RESOURCE = "resource"  # Result.reason when the machine ran out of disk, descriptors or I/O (not the file's fault)


@dataclass
class Result:
    index: int
    ok: bool
    reason: str = ""  # rejection keyword when not ok
    message: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    source_sha256: str = ""
    source_size: int = 0
    source_container: str = ""
    source_codec: str = ""
    duration: float = 0.0  # decoded seconds of the input
    sample_rate: int = 0
    channels: int = 0
    fingerprint: str | None = None
    fingerprint_raw: bytes = b""
    fingerprint_seconds: float = 0.0
    fingerprint_usable: bool = False
    loudness: float | None = None
    replaygain_gain: float | None = None
    replaygain_peak: float | None = None
    out_tmp: str | None = None  # finished file (kind store)
    stored_sha256: str = ""
    stored_size: int = 0
    stored_container: str = ""
    stored_codec: str = ""
    stored_sample_rate: int = 0
    stored_channels: int = 0
    patch: bytes | None = None
    tag_family: str | None = None
    cpu_seconds: float = 0.0
    out_data: bytes | None = None  # the finished file's bytes, when the worker does not share the archive


def _sha256_file(path: str) -> tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(READ_CHUNK):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


def _fsync_file(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _gain_tags(result: Result, family_opus: bool) -> dict[str, list[str]]:
    if result.replaygain_gain is None:
        return {}
    if family_opus:  # RFC 7845: R128 gains in Q7.8 dB relative to -23 LUFS
        return {"R128_TRACK_GAIN": [str(int(round((-23.0 - (result.loudness or 0.0)) * 256)))]}
    return {
        "REPLAYGAIN_TRACK_GAIN": [f"{result.replaygain_gain:.2f} dB"],
        "REPLAYGAIN_TRACK_PEAK": [f"{result.replaygain_peak:.6f}"],
    }


def process(task: Task) -> Result:
    """Validate (full decode), fingerprint, measure loudness and, for kind store, produce the tier's file."""
    started = time.process_time()
    result = Result(index=task.index, ok=False)
    out_tmp: str | None = None
    try:
        try:
            result.source_sha256, result.source_size = _sha256_file(task.path)
        except OSError as exc:
            if durable.resource_error(exc):
                raise
            result.reason, result.message = "unreadable", str(exc)
            return result
        compact = task.kind == "store" and task.tier == Tier.COMPACT
        if compact:
            out_tmp = os.path.join(task.tmp_dir, f"{uuid.uuid4().hex}.part.{task.ext or 'opus'}")
        analysis = decode.analyse(
            Path(task.path),
            fingerprint_seconds=task.fingerprint_seconds,
            opus=decode.OpusSpec(bitrate=task.compact_bitrate) if compact else None,
            out_path=Path(out_tmp) if out_tmp else None,
            threads=task.threads,
        )
        info = analysis.info
        result.source_container, result.source_codec = info.container, info.codec
        result.duration, result.sample_rate, result.channels = analysis.duration, info.sample_rate, info.channels
        fp = analysis.fingerprint
        if fp is not None:
            result.fingerprint, result.fingerprint_raw, result.fingerprint_seconds = (
                fp.encoded,
                fp.raw_bytes(),
                fp.seconds,
            )
        result.fingerprint_usable = fpmod.usable(fp, analysis.loudness.peak)
        result.loudness = analysis.loudness.integrated_lufs
        result.replaygain_gain = analysis.loudness.track_gain
        result.replaygain_peak = round(analysis.loudness.peak, 6)
        if task.expected_duration is not None and abs(analysis.duration - task.expected_duration) > task.tolerance:
            result.reason = "duration_mismatch"
            result.message = (
                f"decoded {analysis.duration:.2f} s, the catalog says {task.expected_duration:.2f} s "
                f"(tolerance {task.tolerance:.1f} s)"
            )
            result.details = {"decoded_seconds": analysis.duration, "catalog_seconds": task.expected_duration}
            return result
        if task.kind != "store":
            result.ok = True
            return result
        if compact:
            assert out_tmp is not None
            tags = dict(task.tags) | _gain_tags(result, True)
            cover = tagmod.Cover(*task.cover) if task.cover else None
            result.tag_family = tagmod.write_tags(Path(out_tmp), tags, cover)
            result.stored_container, result.stored_codec = "ogg", "opus"
            result.stored_sample_rate = analysis.encoded.get("sample_rate", 48000)
            result.stored_channels = analysis.encoded.get("channels", 2)
            result.patch = None
        else:
            out_tmp = os.path.join(task.tmp_dir, f"{uuid.uuid4().hex}.part.{task.ext or 'bin'}")
            with open(task.path, "rb") as f:
                original = f.read()
            if hashlib.sha256(original).hexdigest() != result.source_sha256:
                result.reason, result.message = "unstable", "the input changed while it was being read"
                return result
            with open(out_tmp, "wb") as f:
                f.write(original)
            tags = dict(task.tags) | _gain_tags(result, info.codec == "opus")
            try:
                cover = tagmod.Cover(*task.cover) if task.cover else None
                result.tag_family = tagmod.write_tags(Path(out_tmp), tags, cover)
            except Exception as exc:  # noqa: BLE001 - tags mutagen cannot rewrite: keep the input untouched
                with open(out_tmp, "wb") as f:
                    f.write(original)
                result.tag_family = None
                result.details["tag_error"] = f"{type(exc).__name__}: {exc}"[:300]
            with open(out_tmp, "rb") as f:
                stored = f.read()
            result.patch = patchmod.make_patch(original, stored) or None
            if result.patch is not None and patchmod.apply_patch(stored, result.patch) != original:
                raise RuntimeError("patch does not rebuild the input")  # never expected; refuses to store
            result.stored_container, result.stored_codec = info.container, info.codec
            result.stored_sample_rate, result.stored_channels = info.sample_rate, info.channels
        _fsync_file(out_tmp)
        result.stored_sha256, result.stored_size = _sha256_file(out_tmp)
        result.out_tmp, out_tmp = out_tmp, None
        result.ok = True
        return result
    except decode.DecodeError as exc:
        result.reason, result.message, result.details = exc.reason, exc.message, dict(exc.details)
        return result
    except Exception as exc:  # noqa: BLE001 - never crash on a file
        resource = durable.resource_error(exc)
        if resource is not None:  # the machine, not the file: never a quarantine, the next run retries
            result.reason, result.message = RESOURCE, resource
            return result
        result.reason = "error"
        result.message = f"{type(exc).__name__}: {exc}"[:500]
        result.details = {"traceback": traceback.format_exc()[-2000:]}
        return result
    finally:
        if out_tmp is not None:
            try:
                os.unlink(out_tmp)
            except OSError:
                pass
        result.cpu_seconds = time.process_time() - started


def process_staged(task: Task, data: bytes | str | None = None, *, scratch: str = "") -> Result:
    """`process` on a worker that does not share the archive: the finished file is built in a scratch folder on
    the worker's own disk and comes back as Result.out_data (the coordinator writes it into the archive). With
    `data` (storage none) the input itself came from the coordinator: bytes, or the error text of reading it."""
    from fonoteca.cluster import worker_scratch

    if isinstance(data, str):
        return Result(index=task.index, ok=False, reason="unreadable", message=data)
    work = worker_scratch(scratch)
    try:
        local = dataclasses.replace(task, tmp_dir=work)
        if data is not None:
            local.path = os.path.join(work, "input" + os.path.splitext(task.path)[1].lower())
            with open(local.path, "wb") as f:
                f.write(data)
        result = process(local)
        if local.path != task.path and result.message:  # decoder messages name the file: name the real one
            result.message = result.message.replace(local.path, task.path)
            result.details = {
                k: v.replace(local.path, task.path) if isinstance(v, str) else v for k, v in result.details.items()
            }
        if result.out_tmp:
            with open(result.out_tmp, "rb") as f:
                result.out_data = f.read()
            result.out_tmp = None
        return result
    finally:
        shutil.rmtree(work, ignore_errors=True)
