#!/usr/bin/python3
"""tls-provider: a test certificate authority that signs what its tls-certificates requirers ask for.

The CA's key stays in the charm directory (0600). Requirer units publish
`certificate_signing_requests` (a JSON list of {certificate_signing_request, ca});
the leader answers in the application data with `certificates`, a JSON list of
{certificate, certificate_signing_request, ca, chain}. What was issued is kept in
issued.json so that a hook signs only new requests; raising `generation`
re-issues every certificate (a renewal).
"""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

CHARM_DIR = Path(os.environ.get("JUJU_CHARM_DIR", Path(__file__).resolve().parents[1]))
CA_KEY = CHARM_DIR / "ca.key"
CA_CERT = CHARM_DIR / "ca.crt"
ISSUED = CHARM_DIR / "issued.json"
ENDPOINT = "certificates"


def tool(*argv: str) -> str:
    return subprocess.run(argv, capture_output=True, text=True, check=True).stdout


def status(state: str, message: str) -> None:
    tool("status-set", state, message)


def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def ensure_ca() -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """The CA's key and self-signed certificate, made on first use."""
    if not CA_KEY.exists():
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name(
            [x509.NameAttribute(NameOID.COMMON_NAME, f"tls-provider test CA {os.environ['JUJU_UNIT_NAME']}")]
        )
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now() - datetime.timedelta(minutes=5))
            .not_valid_after(now() + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
            .sign(key, hashes.SHA256())
        )
        descriptor = os.open(CA_KEY, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(
                key.private_bytes(
                    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
                )
            )
        CA_CERT.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key = serialization.load_pem_private_key(CA_KEY.read_bytes(), password=None)
    return key, x509.load_pem_x509_certificate(CA_CERT.read_bytes())


def sign(request_pem: str, ca_key: ec.EllipticCurvePrivateKey, ca_cert: x509.Certificate, hours: int) -> str:
    """A server certificate for the request, with the SANs it asked for."""
    request = x509.load_pem_x509_csr(request_pem.encode())
    if not request.is_signature_valid:
        raise ValueError("the request's signature does not verify")
    builder = (
        x509.CertificateBuilder()
        .subject_name(request.subject)
        .issuer_name(ca_cert.subject)
        .public_key(request.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now() - datetime.timedelta(minutes=5))
        .not_valid_after(now() + datetime.timedelta(hours=hours))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    )
    try:
        sans = request.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        builder = builder.add_extension(sans, critical=False)
    except x509.ExtensionNotFound:
        pass
    return builder.sign(ca_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode()


def requests_of(relation_id: str) -> list[str]:
    """Every request the related units published (unit data `certificate_signing_requests`)."""
    found = []
    for unit in json.loads(tool("relation-list", "-r", relation_id, "--format=json")):
        data = json.loads(tool("relation-get", "-r", relation_id, "--format=json", "-", unit)) or {}
        for entry in json.loads(data.get("certificate_signing_requests") or "[]"):
            found.append(entry["certificate_signing_request"].strip())
    return found


def main() -> int:
    hook = os.environ.get("JUJU_HOOK_NAME") or os.path.basename(sys.argv[0])
    ca_key, ca_cert = ensure_ca()
    ca_pem = ca_cert.public_bytes(serialization.Encoding.PEM).decode().strip()
    if json.loads(tool("is-leader", "--format=json")) is not True:
        status("active", "CA ready (not the leader: the leader signs)")
        return 0
    config = json.loads(tool("config-get", "--format=json"))
    generation, hours = int(config["generation"]), int(config["validity-hours"])
    issued = json.loads(ISSUED.read_text()) if ISSUED.exists() else {}
    count = 0
    for relation_id in json.loads(tool("relation-ids", ENDPOINT, "--format=json")):
        if hook == "certificates-relation-broken" and relation_id == os.environ.get("JUJU_RELATION_ID"):
            continue
        answers = []
        for request in requests_of(relation_id):
            known = issued.get(request)
            if known is None or known["generation"] != generation:
                known = {"generation": generation, "certificate": sign(request, ca_key, ca_cert, hours).strip()}
                issued[request] = known
            answers.append(
                {
                    "certificate": known["certificate"],
                    "certificate_signing_request": request,
                    "ca": ca_pem,
                    "chain": [known["certificate"], ca_pem],
                }
            )
        tool("relation-set", "-r", relation_id, "--app", f"certificates={json.dumps(answers, sort_keys=True)}")
        count += len(answers)
    ISSUED.write_text(json.dumps(issued))
    status("active", f"CA ready; {count} certificate(s) issued, generation {generation}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
