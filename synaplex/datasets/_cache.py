"""The local dataset cache, filled by verified downloads (like ``keras.utils.get_file``).

Files live in ``<root>/<dataset>/<file>``, where ``<root>`` is, in order: the ``cache_dir``
argument, the environment variable ``SYNAPLEX_DATASETS_DIR``, or ``~/.cache/synaplex/datasets``.
A file already in the cache is used as is (no network, no checksum). A missing file is
downloaded into a temporary file in the same folder, checked against its SHA-256 checksum, then
moved into place atomically, so a failed or concurrent download never leaves a partial file.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from synaplex.datasets.loaders import DatasetChecksumError, DatasetUnavailableError

ENV_VAR = "SYNAPLEX_DATASETS_DIR"
DOWNLOAD_TIMEOUT = 60.0  # seconds, per network operation (connect, each read)

_log = logging.getLogger("synaplex.datasets")


def get_datasets_dir(cache_dir: str | os.PathLike | None = None) -> Path:
    """The root of the dataset cache: ``cache_dir``, else ``$SYNAPLEX_DATASETS_DIR``, else
    ``~/.cache/synaplex/datasets``."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    value = os.environ.get(ENV_VAR)
    if value:
        return Path(value).expanduser()
    return Path.home() / ".cache" / "synaplex" / "datasets"


_transport = None  # an httpx2 transport for tests (httpx2.MockTransport); None: the network


def fetch(url: str) -> bytes:
    """Download ``url``'s bytes (redirects followed, HTTP errors raised)."""
    import httpx2  # noqa: PLC0415 - heavy: loads only to download a dataset

    with httpx2.Client(transport=_transport, follow_redirects=True, timeout=DOWNLOAD_TIMEOUT) as client:
        response = client.get(url)
        response.raise_for_status()
        return response.content


def sha256_of(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def get_file(
    dataset: str,
    filename: str,
    url: str,
    sha256: str,
    *,
    cache_dir: str | os.PathLike | None = None,
    download: bool = True,
    title: str | None = None,
    all_files: Sequence[str] | None = None,
) -> Path:
    """The path of ``<root>/<dataset>/<filename>``, downloading and verifying it when missing.

    Args:
        dataset: the dataset's folder name in the cache (``"gsm8k"``).
        filename: the file's name in that folder (``"train.jsonl"``).
        url: where to download it from.
        sha256: the expected SHA-256 checksum of the downloaded bytes (hex).
        cache_dir: the cache root (see :func:`get_datasets_dir`).
        download: when False, a missing file raises at once, with no network access.
        title: the dataset's name in messages (default: ``dataset``).
        all_files: every file of the dataset, named in messages (default: ``[filename]``).

    Raises:
        DatasetUnavailableError: the file is missing and downloads are disabled, the download
            failed (no network, HTTP error) or the cache folder cannot be written.
        DatasetChecksumError: the downloaded bytes do not match ``sha256``; nothing is cached.
    """
    folder = get_datasets_dir(cache_dir) / dataset
    path = folder / filename
    if path.is_file():
        return path

    def unavailable(reason: str, error_class=DatasetUnavailableError):
        files = list(all_files or [filename])
        names = ", ".join(files[:-1]) + " and " + files[-1] if len(files) > 1 else files[0]
        message = (
            f"{title or dataset}: the file {filename!r} is missing from the folder {folder} and {reason}. "
            f"To fix it, download {url} (and the dataset's other files from the same place) and put "
            f"{names} in {folder}{os.sep}, or set the environment variable {ENV_VAR} to a folder "
            f"whose {dataset}{os.sep} subfolder holds {names} (the cache_dir argument does the same "
            f"for one call)."
        )
        return error_class(message, path=str(path))

    if not download:
        raise unavailable("downloads are disabled (download=False)")
    _log.info("Downloading %s to %s", url, path)
    try:
        data = fetch(url)
    except Exception as error:  # any failure to download: no network, DNS, TLS, HTTP status
        raise unavailable(f"could not be downloaded ({type(error).__name__}: {error})") from error
    if not isinstance(data, (bytes, bytearray)):
        raise TypeError(f"fetch({url!r}) must return bytes, got {type(data).__name__}.")

    temporary = None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(prefix=f".{filename}.", suffix=".part", dir=folder)
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        actual = sha256_of(temporary)
        if actual != sha256.lower():
            raise unavailable(
                f"its download does not match the expected SHA-256 checksum (expected {sha256}, got "
                f"{actual}, {len(data)} bytes): the file changed upstream or was corrupted in transit, "
                f"so nothing was written to the cache",
                DatasetChecksumError,
            )
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
        temporary = None
    except OSError as error:
        if isinstance(error, DatasetUnavailableError):
            raise
        raise unavailable(f"could not be written there ({type(error).__name__}: {error})") from error
    finally:
        if temporary is not None:
            try:
                os.unlink(temporary)
            except OSError:
                pass
    return path
