"""Secret tokens in the outbox, sealed with a key kept outside the database.

A queued mail whose template needs a secret token (an invite link; a reset link later) stores
the token sealed (Fernet: AES-128-CBC with HMAC-SHA256, from `cryptography`), and the mail is
rendered only at delivery. A copy of the database files, their WAL or a `pg_dump` then holds no
usable link, pending or sent: the key is not in it.

The keys come from `AUTHSVC_OUTBOX_SEALING_KEYS` (comma-separated; the first seals, every one
opens, so a retired key stays listed until the mail it sealed has gone out), the same list for
every instance and worker. On the embedded default a key file is generated beside the dev signing
key in the data directory (mode 0600); production refuses to start without the setting.
"""

from __future__ import annotations

import base64
import logging
import os
import tempfile
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from authsvc.config import Settings, is_fernet_key, split_keys
from authsvc.errors import ConfigError

log = logging.getLogger(__name__)
SEALING_KEY_FILENAME = "outbox-sealing.key"
SETTING = "AUTHSVC_OUTBOX_SEALING_KEYS"


class UnsealError(Exception):
    """A sealed token none of the configured keys opens; the text is safe to store and log."""


@dataclass(frozen=True, slots=True)
class OutboxSealer:
    """Seals with the first key, opens with any: `seal` at enqueue, `open` at delivery."""

    _keys: MultiFernet = field(repr=False)

    @classmethod
    def from_keys(cls, keys: list[str]) -> OutboxSealer:
        """The sealer for Fernet `keys`, the first one sealing."""
        return cls(MultiFernet([Fernet(key.encode("ascii")) for key in keys]))

    def seal(self, token: str) -> str:
        """`token` encrypted and authenticated, as URL-safe text for a database column."""
        return self._keys.encrypt(token.encode()).decode("ascii")

    def open(self, sealed: str) -> str:
        """The token `seal` returned `sealed` for; `UnsealError` if no key opens it."""
        try:
            return self._keys.decrypt(sealed.encode("ascii")).decode()
        except (InvalidToken, UnicodeError):
            raise UnsealError(
                f"the sealed token opens with none of the keys in {SETTING}: add the key that "
                "sealed it back to the list"
            ) from None


def load_outbox_sealer(settings: Settings) -> OutboxSealer:
    """The configured keys, else (development and test) the key file in the data directory."""
    if settings.outbox_sealing_keys is not None:
        return OutboxSealer.from_keys(split_keys(settings.outbox_sealing_keys.get_secret_value()))
    if settings.environment == "production":  # the settings refuse this already; belt and braces
        raise ConfigError(f"production needs {SETTING}")
    return OutboxSealer.from_keys([load_or_create_key_file(settings.data_dir)])


def load_or_create_key_file(data_dir: Path) -> str:
    """The sealing key in `data_dir`: generated (mode 0600) on first use, then reused."""
    path = data_dir / SEALING_KEY_FILENAME
    try:
        key = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        key = _create_key_file(path)
    except (OSError, UnicodeError) as exc:
        raise ConfigError(f"{path} cannot be read ({exc}); it seals queued mail") from None
    else:
        if os.name == "posix" and path.stat().st_mode & 0o077:
            log.warning("outbox sealing key %s is readable by other users; chmod 600 it", path)
    if not is_fernet_key(key):
        # Never replace it: queued mail was sealed with whatever is there.
        raise ConfigError(
            f"{path} is not a Fernet key; restore it, or set {SETTING} (mail queued under the "
            "old key cannot be delivered without it)"
        )
    return key


def _create_key_file(path: Path) -> str:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = base64.urlsafe_b64encode(os.urandom(32)).decode("ascii")
    # mkstemp creates the file 0600; it is complete and synced before it gets its final name, and
    # a hard link never replaces: when two processes race on first start, the first key wins.
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".outbox-sealing.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(key + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            return path.read_text(encoding="ascii").strip()
        except OSError:  # no hard links here: rename is atomic too, but replaces
            os.replace(temporary, path)
    finally:
        with suppress(FileNotFoundError):
            os.unlink(temporary)
    return key
