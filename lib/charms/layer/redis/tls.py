"""TLS for Redis: this unit's private key and certificate request, and the certificate a CA sends back.

The `certificates` relation speaks the tls-certificates interface (versions 3
and 4 share these shapes): the requirer unit publishes
`certificate_signing_requests`, a JSON list of
{"certificate_signing_request": <PEM>, "ca": false}; the provider application
publishes `certificates`, a JSON list of {"certificate", "certificate_signing_request",
"ca", "chain"}, and the certificate meant for a request is the entry with the same
request PEM.

The private key never leaves the unit: it is made here, written 0600 for the
redis user, and only the request (public) is published. Certificates are
written under a name taken from their fingerprint, so a renewed certificate is
a new file name in redis.conf, which Redis loads live (CONFIG SET tls-cert-file)
while the file it runs with stays in place until the change took.

`cryptography` comes from the Ubuntu archive (python3-cryptography, layer.yaml):
the unit's wheelhouse carries pure-Python packages only. It is imported only by
the functions that make the key and the request.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import pwd
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from charms.layer.redis import service

REQUESTS_FIELD = "certificate_signing_requests"
CERTIFICATES_FIELD = "certificates"
KEY_NAME = "redis.key"
# How many certificate files to keep: the one in use and the one before it (until a change took).
KEEP = 2
# What the redis relation tells clients about TLS (see Offer).
CLIENT_KEYS = ("tls", "tls-port", "tls-ca", "ca")


class TlsError(Exception):
    """A certificate or key could not be made or used; the message says which (never key material)."""


@dataclass(frozen=True)
class Identity:
    """What this unit's certificate must name: its address and host name."""

    address: str
    hostname: str


@dataclass(frozen=True)
class Issued:
    """A certificate the provider issued for this unit's request, with its CA and chain (PEM)."""

    certificate: str
    ca: str
    chain: tuple[str, ...] = ()


@dataclass(frozen=True)
class Files:
    """Where Redis finds its TLS certificate, key and CA (paths in redis.conf).

    `bus`: the cluster bus and replication speak TLS too (tls-cluster, tls-replication;
    see `bus_wanted`), and the bus listens on tls-port + 10000.
    """

    cert: Path
    key: Path
    ca: Path
    bus: bool = False


@dataclass(frozen=True)
class Offer:
    """How clients reach the unit over TLS: the port, the CA to verify it with, and whether `port` is TLS."""

    port: int
    ca: str
    required: bool

    def data(self) -> dict[str, str]:
        """The redis relation's TLS keys: `tls` says whether the published `port` speaks TLS."""
        return {"tls": str(self.required).lower(), "tls-port": str(self.port), "tls-ca": self.ca, "ca": self.ca}


def make_key() -> str:
    """A new private key (RSA 2048, which every provider signs), PEM without a passphrase."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def make_request(key_pem: str, common_name: str, identity: Identity) -> str:
    """A certificate signing request for this unit: CN `common_name`, SANs its address (IP) and host name."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    key = serialization.load_pem_private_key(key_pem.encode(), password=None)
    names: list[x509.GeneralName] = [x509.IPAddress(ipaddress.ip_address(identity.address))]
    if identity.hostname:
        names.append(x509.DNSName(identity.hostname))
    builder = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
    )
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode()


def request_data(request: str) -> dict[str, str]:
    """The requirer's unit data for one request, as the tls-certificates interface reads it."""
    return {REQUESTS_FIELD: json.dumps([{"certificate_signing_request": request.strip(), "ca": False}])}


def common_name(unit_name: str) -> str:
    """The certificate's common name: the unit name, which is unique in the model (a '/' is allowed)."""
    return unit_name


def find_issued(provider_data: Mapping[str, str], request: str) -> Issued | None:
    """The certificate the provider published for `request`, or None (none yet, or data it cannot read)."""
    try:
        entries = json.loads(provider_data.get(CERTIFICATES_FIELD) or "[]")
    except ValueError:
        return None
    if not isinstance(entries, list):
        return None
    for entry in entries:
        if not isinstance(entry, dict) or entry.get("revoked"):
            continue
        if str(entry.get("certificate_signing_request", "")).strip() != request.strip():
            continue
        certificate, ca = str(entry.get("certificate", "")).strip(), str(entry.get("ca", "")).strip()
        chain = entry.get("chain") or []
        if certificate and ca and isinstance(chain, list):
            return Issued(certificate, ca, tuple(str(link).strip() for link in chain))
    return None


def fingerprint(pem: str) -> str:
    """A short name for a PEM text, to tell certificates apart in file names."""
    return hashlib.sha256(pem.strip().encode()).hexdigest()[:16]


def files_for(directory: Path, issued: Issued) -> Files:
    """Where `issued` is kept: names taken from the certificate and CA, so a renewal gets new names."""
    return Files(
        cert=directory / f"cert-{fingerprint(issued.certificate)}.pem",
        key=directory / KEY_NAME,
        ca=directory / f"ca-{fingerprint(issued.ca)}.pem",
    )


def server_chain(issued: Issued) -> str:
    """The certificate Redis presents, followed by the intermediates of its chain (not the CA itself)."""
    links = [issued.certificate] + [link for link in issued.chain if link not in (issued.certificate, issued.ca)]
    return "\n".join(links) + "\n"


def write_file(path: Path, text: str, mode: int, owner: str = "root") -> None:
    """Replace `path` atomically with `text`, created with `mode` and owned by `owner` and its group."""
    user = pwd.getpwnam(owner)
    service.write_file(path, text, mode, user.pw_uid, user.pw_gid)


def ensure_key(directory: Path, owner: str) -> str:
    """This unit's private key: made once, kept 0600 for `owner` (the redis user) in `directory`."""
    path = directory / KEY_NAME
    if path.exists():
        return path.read_text()
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o755)
    key = make_key()
    write_file(path, key, 0o600, owner)
    return key


def install(directory: Path, issued: Issued) -> Files:
    """Write `issued` beside the key (certificates are public: 0644); older files beyond KEEP are removed."""
    files = files_for(directory, issued)
    write_file(files.cert, server_chain(issued), 0o644)
    write_file(files.ca, issued.ca + "\n", 0o644)
    for pattern, current in (("cert-*.pem", files.cert), ("ca-*.pem", files.ca)):
        older = sorted(
            (path for path in directory.glob(pattern) if path != current), key=lambda p: p.stat().st_mtime, reverse=True
        )
        for stale in older[KEEP - 1 :]:
            stale.unlink(missing_ok=True)
    return files


def encode_files(files: Files | None) -> str | None:
    """`files` as the unit's key-value store keeps them (None: no certificate yet)."""
    return None if files is None else json.dumps([str(files.cert), str(files.key), str(files.ca)])


def decode_files(stored: str | None, bus: bool = False) -> Files | None:
    """The files kept by `encode_files` (`bus`: see Files), or None when there are none or they are not all there."""
    if not stored:
        return None
    cert, key, ca = (Path(name) for name in json.loads(stored))
    if not (cert.exists() and key.exists() and ca.exists()):
        return None
    return Files(cert, key, ca, bus)


# Cluster mode. Measured on Redis 7.0 (research/redis-cluster.md, "TLS"): `tls-cluster`
# cannot be switched on a formed cluster (the bus listener keeps the kind it was started
# with, and a node restarted with a TLS bus is cut off from plain peers), and without it
# every redirection names a plain port. So a cluster's bus speaks TLS only if it formed
# with TLS: its units had their certificates before the leader formed it. The leader
# records which it was (leader setting `cluster-tls`) when it first shares the topology.
CLUSTER_TLS = "cluster-tls"
BUS_KEPT = (
    "certificates: the relation is gone, but this cluster formed with TLS and its nodes reach each other only "
    "over TLS: Redis keeps its last certificate (relate a CA again before it expires)"
)
FORMED_PLAIN = (
    "certificates: this cluster formed without TLS, so its bus, replication and redirections stay plain "
    "(TLS only on tls-port); for TLS throughout, deploy a new application, relate it to the CA before "
    "it forms, and move the data"
)


def bus_wanted(certified: bool, shared: str | None, formed: bool) -> bool:
    """Whether this unit's cluster bus speaks TLS.

    `certified`: the unit has its certificate; `shared`: the leader's `cluster-tls`
    setting (None until the cluster formed); `formed`: a topology is shared (a
    cluster formed by a revision that did not record `cluster-tls` formed plain).
    """
    if shared is not None:
        return shared == "true" and certified
    return certified and not formed


def waits_for_certificate(related: bool, certified: bool, shared: str | None, formed: bool) -> bool:
    """Whether a unit's node must wait for its certificate before it is offered to the cluster.

    With a CA related, a cluster not formed yet forms with TLS, and a cluster formed
    with TLS takes only nodes that speak it; a cluster formed plain takes plain nodes.
    """
    if not related or certified:
        return False
    return shared == "true" if shared is not None else not formed


def shared_value(bus: bool) -> str:
    """The leader's `cluster-tls` setting for a cluster formed with (or without) a TLS bus."""
    return "true" if bus else "false"


def cluster_problem(files: Files | None) -> str | None:
    """What the status says of a unit in a cluster with a certificate but a plain bus (None: nothing)."""
    return FORMED_PLAIN if files is not None and not files.bus else None
