"""The backup file: a zip whose members are each checked by a SHA-256 the manifest keeps.

A zip, not a tar.gz: its directory lets a restore read the manifest, written last,
before anything else; each member streams in and out without a temporary copy; and it
opens on any desktop without tools. Zip64 lifts the 4 GB limits.
"""

from __future__ import annotations

import hashlib
import json
import time
import zipfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

from apploom.engine.errors import BackupError

MANIFEST = "manifest.json"
FORMAT = "apploom-backup"
FORMAT_VERSION = 1
CHUNK = 1024 * 1024


class ArchiveWriter:
    """Members written one at a time; :meth:`finish` adds the manifest with every
    member's size and checksum."""

    def __init__(self, path: Path):
        path.touch(mode=0o600)  # it holds password hashes and the secret key
        path.chmod(0o600)
        self.zip = zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, allowZip64=True)
        self.members: dict[str, dict[str, Any]] = {}

    @contextmanager
    def member(self, name: str) -> Iterator[Callable[[bytes], None]]:
        """A function that appends bytes to the member ``name``."""
        digest, size = hashlib.sha256(), 0
        info = zipfile.ZipInfo(name, time.localtime()[:6])
        info.compress_type = zipfile.ZIP_DEFLATED
        with self.zip.open(info, "w", force_zip64=True) as out:

            def write(data: bytes) -> None:
                nonlocal size
                out.write(data)
                digest.update(data)
                size += len(data)

            yield write
        self.members[name] = {"size": size, "sha256": digest.hexdigest()}

    def add_file(self, name: str, path: Path) -> None:
        with path.open("rb") as source, self.member(name) as write:
            while chunk := source.read(CHUNK):
                write(chunk)

    def add_bytes(self, name: str, data: bytes) -> None:
        with self.member(name) as write:
            write(data)

    def finish(self, manifest: dict[str, Any]) -> dict[str, Any]:
        """Write the manifest and close; returns the manifest as written."""
        manifest = {"format": FORMAT, "format_version": FORMAT_VERSION, **manifest}
        manifest["members"] = self.members
        self.zip.writestr(MANIFEST, json.dumps(manifest, indent=1, ensure_ascii=False))
        self.zip.close()
        return manifest

    def abandon(self) -> None:
        self.zip.close()


class ArchiveReader:
    """A backup opened for reading; every member read is checked against the manifest."""

    def __init__(self, path: Path):
        self.path = path
        try:
            self.zip = zipfile.ZipFile(path)
            manifest = json.loads(self.zip.read(MANIFEST))
        except (OSError, zipfile.BadZipFile, KeyError, ValueError) as exc:
            raise BackupError(f"{path} is not an AppLoom backup, or is damaged: {exc}") from None
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise BackupError(f"{path} is not an AppLoom backup (its manifest says otherwise)")
        if manifest.get("format_version") != FORMAT_VERSION:
            raise BackupError(
                f"{path} is a backup of format {manifest.get('format_version')}; this "
                f"release of AppLoom reads format {FORMAT_VERSION}"
            )
        self.manifest: dict[str, Any] = manifest

    def names(self, prefix: str) -> list[str]:
        return [name for name in self.manifest["members"] if name.startswith(prefix)]

    def chunks(self, name: str) -> Iterator[bytes]:
        """The member's bytes; a member missing, shortened or changed is refused."""
        expected = self.manifest["members"].get(name)
        if expected is None:
            raise BackupError(f"{self.path}: its manifest lists no {name}")
        digest, size = hashlib.sha256(), 0
        try:
            with self.zip.open(name) as stream:
                while chunk := stream.read(CHUNK):
                    digest.update(chunk)
                    size += len(chunk)
                    yield chunk
        except (KeyError, zipfile.BadZipFile, OSError) as exc:
            raise BackupError(f"{self.path}: {name} cannot be read: {exc}") from None
        if (size, digest.hexdigest()) != (expected["size"], expected["sha256"]):
            raise BackupError(f"{self.path}: {name} is damaged (its checksum does not match)")

    def lines(self, name: str) -> Iterator[bytes]:
        rest = b""
        for chunk in self.chunks(name):
            *whole, rest = (rest + chunk).split(b"\n")
            yield from whole
        if rest:
            yield rest

    def close(self) -> None:
        self.zip.close()
