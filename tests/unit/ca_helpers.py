"""A certificate authority for unit tests: signs requests as a tls-certificates provider would."""

from __future__ import annotations

import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from charms.layer.redis import tls


class UnitCa:
    """A CA that signs requests as a provider would (the SANs of the request kept)."""

    def __init__(self, name: str = "unit test CA") -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        self.cert = self.builder(subject, self.key.public_key()).add_extension(
            x509.BasicConstraints(ca=True, path_length=None), critical=True
        )
        self.cert = self.cert.sign(self.key, hashes.SHA256())
        self.pem = self.cert.public_bytes(serialization.Encoding.PEM).decode().strip()

    def builder(self, subject: x509.Name, public_key: object) -> x509.CertificateBuilder:
        now = datetime.datetime.now(datetime.timezone.utc)
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "unit test CA")]))
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(now + datetime.timedelta(hours=1))
        )

    def sign(self, request_pem: str) -> str:
        request = x509.load_pem_x509_csr(request_pem.encode())
        sans = request.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        cert = self.builder(request.subject, request.public_key()).add_extension(sans, critical=False)
        return cert.sign(self.key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode().strip()

    def issue(self, request_pem: str) -> tls.Issued:
        return tls.Issued(self.sign(request_pem), self.pem)
