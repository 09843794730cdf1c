"""TLS from UFORA_TLS_CERT, UFORA_TLS_KEY and UFORA_TLS_CA: the manager's client port
(https:// and wss://) and the channels between services (registry, control, data).

UFORA_TLS_CERT and UFORA_TLS_KEY are PEM files: the certificate (its chain after it) and its
private key; both or neither are set. A service with them serves TLS on its client port and on
every channel it listens on. UFORA_TLS_CA is a PEM bundle of the authorities (or the very
certificates) to trust for the services one dials; it means the same for a client
(``pyfora.connect``) as for a service, and a service with it dials every channel with TLS.
Each file is checked when the service starts (one that is missing, unreadable, or not what it
should be stops it with one line naming the variable).

Peers are dialled by IP address (the manager's address is resolved at start, workers register
theirs), and containers rarely know theirs when their certificates are made, so the name in a
certificate is not checked: a peer must present a certificate whose chain UFORA_TLS_CA
verifies, and, if that certificate lists IP addresses (subjectAltName IP), the address we
dialled must be one of them. UFORA_TLS_CA must therefore be an authority that signs this
cluster's certificates only, never the system's public ones.
"""
from __future__ import annotations

import ipaddress
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


def authority(env: Mapping[str, str]) -> Optional[str]:
    """The UFORA_TLS_CA file if set, checked by loading it; None if not."""
    ca = env.get("UFORA_TLS_CA", "").strip()
    if ca:
        peer_context(ca)
    return ca or None


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


def peer_context(ca: str) -> ssl.SSLContext:
    """A client-side context for dialling other services: TLS 1.2 at least, the peer's chain
    verified against ``ca`` alone (not the system's authorities), its name not checked (see the
    module's docstring; ``address_mismatch`` checks its addresses)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = False
    context.verify_mode = ssl.CERT_REQUIRED
    try:
        context.load_verify_locations(cafile=ca)
    except FileNotFoundError:
        raise TLSConfigError(f"UFORA_TLS_CA={ca!r}: no such file") from None
    except (ssl.SSLError, OSError) as exc:
        raise TLSConfigError(f"UFORA_TLS_CA={ca!r} is not a PEM file of certificates: {exc}") from None
    return context


def address_mismatch(certificate: dict, address: str) -> Optional[str]:
    """Why ``certificate`` (as ``SSLSocket.getpeercert()`` gives it) does not belong to the peer at
    ``address``, or None: a certificate that lists IP addresses must list this one."""
    listed = [value for kind, value in certificate.get("subjectAltName", ()) if kind == "IP Address"]
    if not listed or ipaddress.ip_address(address) in {ipaddress.ip_address(ip.strip()) for ip in listed}:
        return None
    return f"its certificate is for {', '.join(listed)}, not {address}"


def one_sided(serves: bool, dials: bool) -> Optional[str]:
    """What goes wrong when a service serves TLS but dials plain TCP, or the other way round
    (the warning it logs at start), or None."""
    if serves and not dials:
        return ("UFORA_TLS_CERT is set but UFORA_TLS_CA is not: this service serves TLS only but dials the "
                "others in plain TCP, which those serving TLS refuse; set UFORA_TLS_CA to the authority that "
                "signed the cluster's certificates")
    if dials and not serves:
        return ("UFORA_TLS_CA is set but UFORA_TLS_CERT is not: this service dials the others with TLS but "
                "serves plain TCP, which those dialling with TLS refuse; set UFORA_TLS_CERT and UFORA_TLS_KEY")
    return None
