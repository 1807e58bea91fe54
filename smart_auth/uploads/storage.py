"""Where uploaded bytes are kept: the ``UploadStore`` interface and its default, a directory.

Bytes arrive through a ``Receiver`` (a partial file, never visible as an upload) and become
an object only by ``commit``, an atomic rename after the data reached the disk (``fsync``), so
a crash leaves either a whole object or a partial file, never a torn object. Objects are keyed
by the upload's id; which keys are uploads is the state database's to say (``service``), so
the store holds no metadata of its own. Every worker and host of a deployment must see the same
store: a directory on a shared volume, or another implementation of the interface (an object
store) passed to the service.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Protocol

_KEY = re.compile(r"[0-9a-f]{32}")
#: Bytes read from a stored object at a time when it is served.
CHUNK = 256 * 1024


class Receiver(Protocol):
    """The bytes of one upload while they arrive."""

    def write(self, data: bytes) -> None: ...

    @property
    def path(self) -> Path | None:
        """A local file holding what arrived so far, if the store has one (type detection
        reads it); None for stores without local files."""
        ...

    def commit(self) -> None:
        """Make the received bytes the object of the key, atomically and durably."""
        ...

    def abort(self) -> None:
        """Forget the received bytes; safe to call more than once and after ``commit`` fails."""
        ...


class UploadStore(Protocol):
    def receive(self, key: str) -> Receiver: ...

    def open(self, key: str) -> BinaryIO:
        """The stored object; FileNotFoundError when there is none."""
        ...

    def delete(self, key: str) -> None:
        """Remove the object and any partial file of the key (nothing there is no error)."""
        ...

    def exists(self, key: str) -> bool: ...

    def delete_partial(self, key: str) -> None:
        """Remove only the partial file of the key (a receiver that died)."""
        ...

    def stale_partials(self, older_than_s: float) -> list[str]:
        """Keys of partial files nothing has written to for ``older_than_s`` seconds."""
        ...


def _checked(key: str) -> str:
    if not _KEY.fullmatch(key):
        raise ValueError("an upload key is 32 lowercase hex digits")
    return key


class _FileReceiver:
    def __init__(self, partial: Path, final: Path) -> None:
        self._partial = partial
        self._final = final
        partial.parent.mkdir(parents=True, exist_ok=True)
        # O_EXCL: a key is received once; mode 0600: the bytes are the patient's
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self._file: BinaryIO | None = os.fdopen(fd, "wb", buffering=0)

    @property
    def path(self) -> Path | None:
        return self._partial

    def write(self, data: bytes) -> None:
        assert self._file is not None, "written after commit or abort"
        self._file.write(data)

    def commit(self) -> None:
        assert self._file is not None, "committed twice"
        os.fsync(self._file.fileno())
        self._file.close()
        self._file = None
        self._final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(self._partial, self._final)
        _fsync_dir(self._final.parent)

    def abort(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        self._partial.unlink(missing_ok=True)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class DirectoryStore:
    """Objects in ``<root>/objects/<2 hex>/<key>``, partial files in ``<root>/partial``."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        (self.root / "partial").mkdir(parents=True, exist_ok=True)
        (self.root / "objects").mkdir(parents=True, exist_ok=True)

    def _object(self, key: str) -> Path:
        return self.root / "objects" / key[:2] / _checked(key)

    def _partial(self, key: str) -> Path:
        return self.root / "partial" / f"{_checked(key)}.part"

    def receive(self, key: str) -> Receiver:
        return _FileReceiver(self._partial(key), self._object(key))

    def open(self, key: str) -> BinaryIO:
        return self._object(key).open("rb")

    def delete(self, key: str) -> None:
        self._object(key).unlink(missing_ok=True)
        self._partial(key).unlink(missing_ok=True)

    def exists(self, key: str) -> bool:
        return self._object(key).is_file()

    def delete_partial(self, key: str) -> None:
        self._partial(key).unlink(missing_ok=True)

    def stale_partials(self, older_than_s: float) -> list[str]:
        limit = time.time() - older_than_s
        found = []
        for entry in os.scandir(self.root / "partial"):
            key = entry.name.removesuffix(".part")
            try:
                if _KEY.fullmatch(key) and entry.stat().st_mtime < limit:
                    found.append(key)
            except FileNotFoundError:
                continue
        return found


def chunks(stream: BinaryIO) -> Iterator[bytes]:
    """A stored object's bytes, a chunk at a time; the file is closed at the end."""
    with stream:
        while True:
            data = stream.read(CHUNK)
            if not data:
                return
            yield data
