"""Encrypted Parquet exports: Parquet modular encryption through pyarrow, with a local key-file KMS client.

The method is the Parquet standard's, not ours: `pyarrow.parquet.encryption` (Arrow's C++ implementation)
encrypts every column and the footer with AES-GCM under fresh data keys; the data keys are wrapped by key
encryption keys, which are wrapped by a **master key** through a KMS client, and the wrapped material is stored
in the file (`internal_key_material`). Without the master key nothing of the file is readable: not the data,
not the schema, not the row count (the footer is encrypted: `plaintext_footer=False`), so pyarrow, polars and
DuckDB all refuse it.

The KMS client here is **local**: the master key is a file on disk (`LocalKeyFileKms`). It is documented as such:
it protects an export in transit or at rest elsewhere, as long as the key file stays with its owner. A real KMS
(Vault, AWS KMS, ...) plugs in as another `pyarrow.parquet.encryption.KmsClient` with the same two methods.
The client wraps a key with AES-256-GCM from `cryptography` (a random 96-bit nonce per wrap, the master key
identifier as associated data); pyarrow has no key wrapping of its own to offer a client.

The key file holds one line: the base64 of 16, 24 or 32 random bytes, e.g.
`head -c 32 /dev/urandom | base64 > export.key && chmod 600 export.key`. It must be a regular file of the
current user, readable by nobody else (mode 0600 or 0400); otherwise encryption refuses, before writing
anything. The key itself never appears in an error message or a log line: errors name the file and, where it
helps, the key's **fingerprint** (the first 16 hex digits of its SHA-256), which is also the master key
identifier stored in the file, so a wrong key is reported as such.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Any

from smythtop.errors import SmythtopError

if TYPE_CHECKING:
    import pyarrow as pa

KEY_SIZES = (16, 24, 32)  # AES-128/192/256 master keys
NONCE_BYTES = 12  # the GCM standard nonce; random per wrap, so a key is never wrapped twice under one nonce
MAX_KEY_FILE_BYTES = 4096  # a key file is one short line; anything larger is not a key file
ALGORITHM = "AES_GCM_V1"  # Parquet's AES-GCM for data and metadata (AES_GCM_CTR_V1 leaves pages unauthenticated)


class KeyFileError(SmythtopError):
    """A key file that cannot be used; the message names the file, never the key."""


def fingerprint(key: bytes) -> str:
    """The key's public name: 16 hex digits of its SHA-256 (reveals nothing usable about the key)."""
    return hashlib.sha256(key).hexdigest()[:16]


def read_key_file(path: Path) -> bytes:
    """The master key in `path`, after checking the file is the user's own, private, regular file."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise KeyFileError(f"key file {path} does not exist") from None
    except OSError as err:
        raise KeyFileError(f"cannot open key file {path}: {err.strerror or err}") from None
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fh.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise KeyFileError(f"key file {path} is not a regular file")
        if st.st_uid != os.geteuid():
            raise KeyFileError(f"key file {path} belongs to another user; refusing it")
        if st.st_mode & 0o077:
            raise KeyFileError(
                f"key file {path} has mode {stat.S_IMODE(st.st_mode):04o}; it must be readable by its owner only"
                f" (chmod 600 {path})"
            )
        raw = fh.read(MAX_KEY_FILE_BYTES + 1)
    if len(raw) > MAX_KEY_FILE_BYTES:
        raise KeyFileError(f"key file {path} is too large to be a key file")
    try:
        key = base64.b64decode(raw.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise KeyFileError(f"key file {path} does not hold a base64 key") from None
    if len(key) not in KEY_SIZES:
        raise KeyFileError(f"key file {path} holds {len(key)} bytes; a key is 16, 24 or 32 bytes (base64)")
    return key


def _kms_client_class() -> type:
    """`LocalKeyFileKms`, defined on first use so that pyarrow and cryptography load only when encrypting."""
    import pyarrow.parquet.encryption as pe
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    class LocalKeyFileKms(pe.KmsClient):
        """A KMS client whose one master key comes from a local key file (`custom_kms_conf["key_file"]`)."""

        def __init__(self, config: pe.KmsConnectionConfig) -> None:
            super().__init__()
            self._path = Path(config.custom_kms_conf["key_file"])
            key = read_key_file(self._path)
            self._id = fingerprint(key)
            self._aead = AESGCM(key)

        def _check(self, master_key_identifier: str) -> None:
            if master_key_identifier != self._id:
                raise KeyFileError(
                    f"the file was encrypted with key {master_key_identifier}; key file {self._path} holds key"
                    f" {self._id}"
                )

        def wrap_key(self, key_bytes: bytes, master_key_identifier: str) -> bytes:
            self._check(master_key_identifier)
            nonce = os.urandom(NONCE_BYTES)
            sealed = self._aead.encrypt(nonce, key_bytes, master_key_identifier.encode())
            return base64.b64encode(nonce + sealed)

        def unwrap_key(self, wrapped_key: bytes, master_key_identifier: str) -> bytes:
            self._check(master_key_identifier)
            blob = base64.b64decode(wrapped_key)
            try:
                return self._aead.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], master_key_identifier.encode())
            except InvalidTag:
                raise KeyFileError(f"key file {self._path} does not open this file's keys") from None

    return LocalKeyFileKms


def _factory_and_config(key_file: Path) -> tuple[Any, Any, str]:
    import pyarrow.parquet.encryption as pe

    key_id = fingerprint(read_key_file(key_file))  # checks the file first: a refusal before anything is written
    cls = _kms_client_class()
    factory = pe.CryptoFactory(lambda config: cls(config))
    kms = pe.KmsConnectionConfig(custom_kms_conf={"key_file": str(key_file)})
    return factory, kms, key_id


def encryption_properties(key_file: Path) -> Any:
    """pyarrow FileEncryptionProperties: every column and the footer encrypted (AES-GCM) under `key_file`'s key."""
    import pyarrow.parquet.encryption as pe

    factory, kms, key_id = _factory_and_config(key_file)
    config = pe.EncryptionConfiguration(
        footer_key=key_id,
        uniform_encryption=True,
        encryption_algorithm=ALGORITHM,
        plaintext_footer=False,
        internal_key_material=True,
    )
    return factory.file_encryption_properties(kms, config)


def read_encrypted(path: Path, key_file: Path) -> pa.Table:
    """An encrypted export read back with its key (what `docs/EXPORT.md` shows users)."""
    import pyarrow.parquet as pq

    factory, kms, _ = _factory_and_config(key_file)
    try:
        return pq.read_table(path, decryption_properties=factory.file_decryption_properties(kms))
    except OSError as err:  # pyarrow reports a KMS client's exception as an OSError carrying its text
        raise KeyFileError(f"cannot decrypt {path}: {err}") from None
