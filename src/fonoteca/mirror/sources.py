"""What `fonoteca mirror SOURCE` can start from, and where each torrent's metainfo comes from.

SOURCE is any of:
- an archive or mirror folder, or one of its release folders: the list and the .torrent files beside it;
- a `torrents.json` alone (a file, or an http(s) URL): .torrent files where its `url`s reach them (http(s), or paths
  inside the folder the list lies in), else from peers and trackers through each entry's magnet link;
- a text file of magnet links, one a line (what the site's generator gives), or a single magnet link: when one
  of them is a metadata torrent, its torrents.json names the others' releases; otherwise the torrents are mirrored
  under the release folder `magnets`;
- the metadata torrent's `.torrent` file.

Every metainfo is checked before anything is written: its name and paths (fonoteca.mirror.torrents.load_torrent),
its info-hash against the list's `btih`, its size and file count against the list's `data_size` and `num_files`,
and the v1-only twin the list names (`v1_only`) against the one its hybrid gives (fonoteca.pack.hybrid.v1_only).
A bad entry is named with its reason and the rest goes on.

With `v1` (the swarm of v1-only clients such as Transmission 3), each torrent is downloaded through its v1-only
twin: derived from the hybrid where the hybrid's .torrent is at hand (and then checked against the list), else
fetched from the twin's url or, by its magnet link, from peers. The same files land in the same folder.
"""

from __future__ import annotations

import os
import shutil
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from fonoteca.errors import FonotecaError
from fonoteca.mirror import session as sess
from fonoteca.mirror.torrents import MAX_TORRENT_BYTES, files_of, load_torrent, safe_name
from fonoteca.pack import hybrid
from fonoteca.pack.listing import MAX_LIST_BYTES, check_list, v1_only_record

MAGNET_RELEASE = "magnets"  # where torrents known only by a magnet link (no metadata torrent) are mirrored


@dataclass
class Swarm:
    """How to reach peers for metainfo that no .torrent file gives: peers named by the user, the trackers of the
    magnet links, and the DHT when discovery is on."""

    peers: list[sess.Peer] = field(default_factory=list)
    listen: str = "127.0.0.1:0"
    discovery: bool = False
    timeout: float = 300.0


@dataclass
class Source:
    text: str
    records: list[dict[str, Any]]
    root: Path | None = None  # local folder the records' relative urls point into
    base_url: str | None = None  # the URL the list was downloaded from
    refused: list[str] = field(default_factory=list)  # entries of the list that could not be used, with why
    blobs: dict[str, bytes] = field(default_factory=dict)  # metainfo already in hand (from peers), by name

    def torrent_bytes(self, rec: dict[str, Any]) -> bytes:
        if rec["name"] in self.blobs:
            return self.blobs[rec["name"]]
        url = rec.get("url") or ""
        if not url:
            raise FonotecaError(f"{rec['name']}: the list gives no url for its .torrent")
        if url.startswith(("http://", "https://")) or self.base_url is not None:
            full = url if url.startswith(("http://", "https://")) else urllib.parse.urljoin(self.base_url or "", url)
            if not full.startswith(("http://", "https://")):  # a remote list never makes us read a local file
                raise FonotecaError(f"refused: torrent url {url!r} of {rec.get('name')!r} is not http(s)")
            return http_get(full, MAX_TORRENT_BYTES)
        if "://" in url or url.startswith(("file:", "/")):
            raise FonotecaError(
                f"refused: torrent url {url!r} of {rec.get('name')!r} is neither http(s) nor a path inside the source"
            )
        if self.root is None:
            raise FonotecaError(f"cannot find {url}: the source is not a local archive")
        path = (self.root / url).resolve()
        if not str(path).startswith(str(self.root.resolve()) + os.sep):
            raise FonotecaError(f"refused: torrent url {url!r} escapes the source folder")
        try:
            return path.read_bytes()
        except OSError as exc:
            raise FonotecaError(f"cannot read {path}: {exc.strerror}") from None

    def release_file(self, release: str, name: str) -> Path | None:
        if self.root is None:
            return None
        p = self.root / "releases" / release / name
        return p if p.is_file() else None


def http_get(url: str, limit: int) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=60) as r:
            data = r.read(limit + 1)
    except OSError as exc:
        raise FonotecaError(f"cannot download {url}: {exc}") from None
    if len(data) > limit:
        raise FonotecaError(f"refused: {url} is larger than {limit} bytes")
    return data


def parse_list(data: bytes, where: str, refused: list[str]) -> list[dict[str, Any]]:
    try:
        items = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise FonotecaError(f"refused: {where} is not JSON ({exc})") from None
    return check_list(items, where, refused)


def open_source(text: str, into: Path | None = None, swarm: Swarm | None = None) -> Source:
    """The Source for a SOURCE argument (see the module docstring)."""
    if text.startswith("magnet:"):
        return magnet_source([text], text, _needs(into), swarm or Swarm())
    if text.startswith(("http://", "https://")):
        refused: list[str] = []
        return Source(text, parse_list(http_get(text, MAX_LIST_BYTES), text, refused), base_url=text, refused=refused)
    p = Path(text).expanduser()
    if p.is_file() and _is_magnet_list(p):
        lines = [line.strip() for line in p.read_text(encoding="utf-8", errors="replace").splitlines()]
        return magnet_source(
            [line for line in lines if line and not line.startswith("#")], text, _needs(into), swarm or Swarm()
        )
    if p.is_file() and p.suffix == ".torrent":
        return metadata_source(text, _needs(into), swarm or Swarm())
    return _folder_or_list(text, p)


def _needs(into: Path | None) -> Path:
    if into is None:
        raise FonotecaError("this SOURCE needs peers and a mirror folder: use `fonoteca mirror SOURCE --into DIR`")
    return into


def _is_magnet_list(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            head = f.read(4096).lstrip()
    except OSError:
        return False
    return head.startswith(b"magnet:") or head.startswith(b"#")


def _folder_or_list(text: str, p: Path) -> Source:
    if p.is_dir():
        if (p / "releases" / "torrents.json").is_file():
            lst, root = p / "releases" / "torrents.json", p
        elif (p / "torrents.json").is_file() and (p / "torrents").is_dir():
            lst, root = p / "torrents.json", p.parent.parent
        else:
            raise FonotecaError(f"{p} is neither an archive with releases nor a release folder")
    elif p.is_file():
        lst, root = p, None
    else:
        raise FonotecaError(f"no such source: {text}")
    if lst.stat().st_size > MAX_LIST_BYTES:
        raise FonotecaError(f"refused: {lst} is larger than {MAX_LIST_BYTES} bytes")
    refused: list[str] = []
    records = parse_list(lst.read_bytes(), str(lst), refused)
    if root is None:  # a bare torrents.json: find the archive root its urls are relative to (if it is one)
        for base in (lst.parent, lst.parent.parent, lst.parent.parent.parent):
            local = [r for r in records if r.get("url") and not r["url"].startswith(("http://", "https://"))]
            if local and all((base / r["url"]).is_file() for r in local):
                root = base
                break
        root = root or lst.parent
    return Source(text, records, root=root.resolve(), refused=refused)


# ------------------------------------------------------------------------------------------------ metainfo


def check_metainfo(rec: dict[str, Any], data: bytes) -> Any:
    """The torrent_info of a record's metainfo, refused when it is hostile or is not the torrent the list names
    (name, v1 info-hash, payload size and file count)."""
    ti = load_torrent(data, f"{rec['name']}.torrent")
    if ti.name() != rec["name"]:
        raise FonotecaError(f"refused: {rec['name']}.torrent names its folder {ti.name()!r}")
    if str(ti.info_hashes().v1) != rec["btih"]:
        raise FonotecaError(
            f"refused: {rec['name']}: its metainfo has the info-hash {ti.info_hashes().v1}, the list says {rec['btih']}"
        )
    files = [f for f in files_of(ti) if not f.pad]
    size = sum(f.size for f in files)
    if int(rec["data_size"]) != size or ("num_files" in rec and int(rec["num_files"]) != len(files)):
        raise FonotecaError(
            f"refused: {rec['name']}: the list says {int(rec['data_size']):,} bytes in "
            f"{rec.get('num_files', '?')} files, its metainfo holds {size:,} bytes in {len(files):,}"
        )
    return ti


@dataclass
class Metainfo:
    """A torrent's checked metainfo: `data` is what is downloaded (the hybrid, or with v1 its v1-only twin);
    `hybrid` and `twin` are installed in the mirror when known (torrents/ and torrents-v1/)."""

    data: bytes
    hybrid: bytes | None = None  # the torrent's own .torrent (a hybrid, or whatever a magnet link gave)
    twin: bytes | None = None


def twin_of(rec: dict[str, Any], data: bytes) -> bytes | None:
    """The v1-only twin of a checked hybrid, when the list names one; refused when the list's twin is not the
    one the hybrid gives (the list and its metainfo disagree)."""
    listed = rec.get("v1_only")
    if not isinstance(listed, dict):
        return None
    try:
        twin = hybrid.v1_only(data)
    except ValueError:
        raise FonotecaError(
            f"refused: {rec['name']}: the list names a v1-only twin, but its metainfo is not a hybrid torrent"
        ) from None
    btih = hybrid.info_hash_v1(twin)
    if btih != listed.get("btih"):
        raise FonotecaError(
            f"refused: {rec['name']}: the list names the v1-only twin {listed.get('btih')}, its hybrid gives {btih}"
        )
    return twin


def _checked(rec: dict[str, Any], data: bytes, v1: bool) -> Metainfo:
    """The Metainfo of a record whose .torrent bytes are in hand (the hybrid's; a twin's for a twin record)."""
    if rec.get("via") == "v1":  # a twin record: its metainfo is the twin itself
        check_metainfo(rec, data)
        return Metainfo(data, twin=data)
    check_metainfo(rec, data)
    twin = twin_of(rec, data)
    if not v1:
        return Metainfo(data, hybrid=data, twin=twin)
    if twin is None:
        raise FonotecaError(
            f"refused: {rec['name']}: the list names no v1-only twin (a torrent packed before "
            "twins existed): mirror it without --v1"
        )
    return Metainfo(twin, hybrid=data, twin=twin)


def collect_metainfo(
    src: Source, records: list[dict[str, Any]], swarm: Swarm | None, scratch: Path, *, v1: bool = False
) -> tuple[dict[str, Metainfo], list[str]]:
    """The checked metainfo of every usable record: from the source's files or URLs, else from peers and
    trackers through the magnet link (with `v1`: of its v1-only twin, see the module docstring); and what could
    not be had, with why."""
    found: dict[str, Metainfo] = {}
    refused: list[str] = []
    by_magnet: list[tuple[dict[str, Any], str]] = []
    for rec in records:
        if rec.get("obsolete") or rec.get("embargo"):
            continue
        try:
            data = src.torrent_bytes(rec)
        except FonotecaError as exc:
            twin = v1_only_record(rec) if v1 and rec.get("via") != "v1" else None
            if twin is not None:  # no hybrid at hand: the twin's own .torrent, else its magnet link
                try:
                    found[rec["name"]] = _checked(twin, src.torrent_bytes(twin), v1)
                except FonotecaError as twin_exc:
                    by_magnet.append((twin, f"{exc}; its v1-only twin: {twin_exc}"))
                continue
            magnet = rec.get("magnet_link")
            if isinstance(magnet, str) and magnet.startswith("magnet:?"):
                by_magnet.append((rec, str(exc)))
            else:
                refused.append(str(exc))
            continue
        try:
            found[rec["name"]] = _checked(rec, data, v1)
        except FonotecaError as exc:
            refused.append(str(exc))
    if swarm is None or not (swarm.peers or swarm.discovery):  # only the magnets' own trackers can answer
        hopeless = [(rec, why) for rec, why in by_magnet if "&tr=" not in rec["magnet_link"]]
        refused += [
            f"{why}; by its magnet link: no peer to ask (give --peer HOST:PORT, or --discovery for the DHT)"
            for _, why in hopeless
        ]
        by_magnet = [] if swarm is None else [item for item in by_magnet if item not in hopeless]
    if by_magnet:
        assert swarm is not None
        scratch.mkdir(parents=True, exist_ok=True)
        got = sess.fetch_metainfo(
            [rec["magnet_link"] for rec, _ in by_magnet],
            swarm.peers,
            listen=swarm.listen,
            discovery=swarm.discovery,
            timeout=swarm.timeout,
            scratch=scratch,
        )
        for (rec, why), answer in zip(by_magnet, got, strict=True):
            if isinstance(answer, str):
                refused.append(f"{why}; by its magnet link: {answer}")
                continue
            try:
                found[rec["name"]] = _checked(rec, answer, v1)
            except FonotecaError as exc:
                refused.append(str(exc))
        shutil.rmtree(scratch, ignore_errors=True)
    return found, refused


# ------------------------------------------------------------------------------------------------ magnets


def _magnet_fields(link: str) -> tuple[str, str] | None:
    """(v1 info-hash, display name) of a magnet link; None when it is not one."""
    if not link.startswith("magnet:?"):
        return None
    params = urllib.parse.parse_qs(link[len("magnet:?") :])
    for xt in params.get("xt", []):
        if xt.lower().startswith("urn:btih:"):
            value = xt[len("urn:btih:") :]
            if len(value) == 40:
                return value.lower(), (params.get("dn") or [""])[0]
            if len(value) == 32:  # base32, as some clients write it
                import base64

                try:
                    return base64.b32decode(value.upper()).hex(), (params.get("dn") or [""])[0]
                except ValueError:
                    return None
    return None


def magnet_source(magnets: list[str], text: str, into: Path, swarm: Swarm) -> Source:
    """Mirror torrents given only by magnet links: a metadata torrent among them tells the others' releases and
    sizes; without one, every torrent's metainfo comes from the peers and it lands in releases/magnets/."""
    parsed: list[tuple[str, str, str]] = []
    refused: list[str] = []
    for n, link in enumerate(magnets, 1):
        fields = _magnet_fields(link)
        if fields is None:
            refused.append(f"refused: line {n} is not a BitTorrent magnet link: {link[:80]!r}")
        else:
            parsed.append((link, *fields))
    if not parsed:
        raise FonotecaError("no magnet link to mirror" + (f" ({refused[0]})" if refused else ""))
    meta = [p for p in parsed if "__metadata__" in p[2]]
    if meta:
        data_given = [p for p in parsed if p not in meta]
        # the metadata torrent's magnet alone: mirror all it lists; with data magnets: those, as listed there
        only = {btih for _, btih, _ in parsed} if data_given else None
        src = metadata_source(meta[0][0], into, swarm, only=only)
        known = {r["btih"] for r in src.records}
        refused += [
            f"refused: {name or btih}: the metadata torrent does not list it"
            for _, btih, name in parsed
            if btih not in known
        ]
        src.refused[:0] = refused
        return src
    scratch = into / ".mirror" / "scratch"
    scratch.mkdir(parents=True, exist_ok=True)
    got = sess.fetch_metainfo(
        [p[0] for p in parsed],
        swarm.peers,
        listen=swarm.listen,
        discovery=swarm.discovery,
        timeout=swarm.timeout,
        scratch=scratch,
    )
    shutil.rmtree(scratch, ignore_errors=True)
    records: list[dict[str, Any]] = []
    blobs: dict[str, bytes] = {}
    for (link, btih, name), data in zip(parsed, got, strict=True):
        if isinstance(data, str):
            refused.append(f"{name or btih}: {data}")
            continue
        try:
            ti = load_torrent(data, f"{name or btih}.torrent")
        except FonotecaError as exc:
            refused.append(str(exc))
            continue
        if str(ti.info_hashes().v1) != btih:
            refused.append(f"refused: {name or btih}: the metainfo peers sent has another info-hash")
            continue
        payload = [f for f in files_of(ti) if not f.pad]
        rec: dict[str, Any] = {
            "name": ti.name(),
            "release": MAGNET_RELEASE,
            "btih": btih,
            "url": "",
            "magnet_link": link,
            "data_size": sum(f.size for f in payload),
            "num_files": len(payload),
            "is_metadata": False,
            "obsolete": False,
            "embargo": False,
            "band": None,
        }
        records.append(rec)
        blobs[rec["name"]] = data
    return Source(text, records, refused=refused, blobs=blobs)


def metadata_source(text: str, into: Path, swarm: Swarm, *, only: set[str] | None = None) -> Source:
    """SOURCE given as the metadata torrent (magnet link or .torrent file): download it from the peers and read
    its torrents.json: the releases, names and sizes of every torrent (`only`: of these info-hashes), whose
    metainfo then comes from the peers too (their magnet links)."""
    from fonoteca.mirror.ops import _data_dir, _install_torrent, _resume_file

    scratch = into / ".mirror" / "scratch"
    scratch.mkdir(parents=True, exist_ok=True)
    if text.startswith("magnet:"):
        got = sess.fetch_metainfo(
            [text], swarm.peers, listen=swarm.listen, discovery=swarm.discovery, timeout=swarm.timeout, scratch=scratch
        )[0]
        if isinstance(got, str):
            raise FonotecaError(f"could not get the metadata torrent: {got}")
        data = got
    else:
        p = Path(text).expanduser()
        if not p.is_file() or p.stat().st_size > MAX_TORRENT_BYTES:
            raise FonotecaError(f"no such torrent file (or too large): {text}")
        data = p.read_bytes()
    ti = load_torrent(data, "metadata torrent")
    name = ti.name()
    if "__metadata__" not in name:
        raise FonotecaError(f"{name} is not a Fonoteca metadata torrent (COLLECTION__metadata__RELEASE)")
    release = safe_name(name.split("__metadata__", 1)[1], "release")
    btih = str(ti.info_hashes().v1)
    payload = [f for f in files_of(ti) if not f.pad]
    rec = {
        "name": name,
        "release": release,
        "btih": btih,
        "url": "",
        "data_size": sum(f.size for f in payload),
        "num_files": len(payload),
        "is_metadata": True,
    }
    _install_torrent(into, rec, data)
    job = sess.Job(name, ti, _data_dir(into, release), resume_file=_resume_file(into, ti))
    out = sess.download(
        [job], swarm.peers, listen=swarm.listen, discovery=swarm.discovery, timeout=swarm.timeout, stall=swarm.timeout
    )
    if not out.complete:
        raise FonotecaError(f"could not download the metadata torrent: {'; '.join(out.errors) or 'no peer'}")
    lst = into / "releases" / release / "data" / name / "torrents.json"
    refused: list[str] = []
    records = parse_list(lst.read_bytes(), str(lst), refused)
    if not any(r["btih"] == btih for r in records):  # the metadata torrent's own list holds all but itself
        records.append(dict(rec, added_to_torrents_list_at="9999", obsolete=False, embargo=False))
    if only is not None:  # the torrents the magnet links name, by their own info-hash or their twin's
        named = []
        for r in records:
            twin = v1_only_record(r)
            if r["btih"] in only or r["btih"] == btih:
                named.append(r)
            elif twin is not None and twin["btih"] in only:
                named.append(twin)
        records = named
    shutil.rmtree(scratch, ignore_errors=True)
    return Source(text, records, refused=refused, blobs={name: data})
