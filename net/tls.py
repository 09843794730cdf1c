"""TLS for the manager's client port (https:// and wss://), from UFORA_TLS_CERT and UFORA_TLS_KEY.

Both are PEM files: the certificate (its chain after it) and its private key. Both or neither
are set; each is checked when the service starts (a file that is missing, unreadable, or not a
certificate and its key stops it with one line naming the variable). The registry, control and
data channels between services do not use TLS yet.
"""
from __future__ import annotations

import ssl
from typing import Mapping, Optional, Tuple


class TLSConfigError(ValueError):
    """One line naming the variable at fault."""


def paths(env: Mapping[str, str]) -> Optional[Tuple[str, str]]:
    """(certificate, key) if TLS is asked for, checked by loading them; None if not."""
    cert = env.get("UFORA_TLS_CERT", "").strip()
    key = env.get("UFORA_TLS_KEY", "").strip()
    if not cert and not key:
        return None
    if not cert or not key:
        missing = "UFORA_TLS_KEY" if cert else "UFORA_TLS_CERT"
        raise TLSConfigError(f"{missing} is unset while {'UFORA_TLS_CERT' if cert else 'UFORA_TLS_KEY'} "
                             "is set: TLS needs both the certificate and its key")
    server_context(cert, key)
    return cert, key


def server_context(cert: str, key: str) -> ssl.SSLContext:
    """A server-side context serving ``cert`` with ``key``, TLS 1.2 at least."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert, key)
    except FileNotFoundError as exc:
        raise TLSConfigError(f"UFORA_TLS_CERT={cert!r} or UFORA_TLS_KEY={key!r}: no such file ({exc.filename})") \
            from None
    except (ssl.SSLError, OSError) as exc:
        raise TLSConfigError(f"UFORA_TLS_CERT={cert!r} and UFORA_TLS_KEY={key!r} are not a PEM certificate "
                             f"and its private key: {exc}") from None
    return context
