"""TLS: the unit's key and request, the provider's answer, the files, and redis.conf with a certificate."""

from __future__ import annotations

import getpass
import json
import shutil
import stat
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
from ca_helpers import UnitCa
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from interface_helpers import endpoint, interface

from charms.layer.redis import admin, check_redis, conf, service, settings, tls, workload

from conftest import free_port
from fakejuju import config_defaults

IDENTITY = tls.Identity("127.0.0.7", "unit-host")
PASSWORD = "unit-test-password-1"
BASE = settings.parse({**config_defaults(), "password": PASSWORD})


@pytest.fixture(scope="module")
def key() -> str:
    return tls.make_key()


@pytest.fixture(scope="module")
def request_pem(key: str) -> str:
    return tls.make_request(key, "redis/0", IDENTITY)


def test_the_request_names_the_unit_its_address_and_host_name_and_is_signed_by_its_key(
    key: str, request_pem: str
) -> None:
    request = x509.load_pem_x509_csr(request_pem.encode())
    assert request.is_signature_valid
    assert request.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "redis/0"
    extension = request.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    # Not critical: the subject names the unit (RFC 5280 asks for a critical SAN only without one).
    assert not extension.critical
    sans = extension.value
    assert [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)] == ["127.0.0.7"]
    assert sans.get_values_for_type(x509.DNSName) == ["unit-host"]
    private = serialization.load_pem_private_key(key.encode(), password=None)
    assert request.public_key().public_numbers() == private.public_key().public_numbers()
    assert "PRIVATE" not in request_pem


def test_the_request_data_is_a_json_list_as_providers_read_it(request_pem: str) -> None:
    data = tls.request_data(request_pem + "\n")
    assert list(data) == ["certificate_signing_requests"]
    assert json.loads(data["certificate_signing_requests"]) == [
        {"certificate_signing_request": request_pem.strip(), "ca": False}
    ]


def test_the_certificate_for_this_request_is_found_among_the_providers(request_pem: str) -> None:
    other = tls.make_request(tls.make_key(), "redis/1", tls.Identity("127.0.0.8", "other"))
    entries = [
        {"certificate": "OTHER", "certificate_signing_request": other, "ca": "CA", "chain": ["OTHER", "CA"]},
        {"certificate": "MINE\n", "certificate_signing_request": request_pem + "\n", "ca": "CA", "chain": ["MINE"]},
    ]
    found = tls.find_issued({"certificates": json.dumps(entries)}, request_pem)
    assert found == tls.Issued("MINE", "CA", ("MINE",))
    assert tls.find_issued({"certificates": json.dumps(entries[:1])}, request_pem) is None


def test_a_revoked_or_unreadable_entry_does_not_hide_the_certificate_after_it(request_pem: str) -> None:
    revoked = {"certificate": "OLD", "certificate_signing_request": request_pem, "ca": "CA", "revoked": True}
    renewed = {"certificate": "NEW", "certificate_signing_request": request_pem, "ca": "CA", "chain": []}
    for entries in ([revoked, renewed], ["not an entry", renewed]):
        assert tls.find_issued({"certificates": json.dumps(entries)}, request_pem) == tls.Issued("NEW", "CA")


@pytest.mark.parametrize(
    "published",
    [
        None,
        "",
        "not json",
        '{"certificate": "x"}',
        '[{"certificate": "", "certificate_signing_request": "REQ", "ca": "CA"}]',
        '[{"certificate": "C", "certificate_signing_request": "REQ", "ca": ""}]',
        # Not signed yet: the provider lists the request without a certificate, or without its CA.
        '[{"certificate_signing_request": "REQ", "ca": "CA"}]',
        '[{"certificate": "C", "certificate_signing_request": "REQ"}]',
        '[{"certificate": "C", "certificate_signing_request": "REQ", "ca": "CA", "revoked": true}]',
        '["REQ"]',
    ],
)
def test_what_cannot_be_used_is_no_certificate(published: str | None) -> None:
    data = {} if published is None else {"certificates": published}
    assert tls.find_issued(data, "REQ") is None


def test_the_key_is_made_once_and_only_its_owner_reads_it(tmp_path: Path) -> None:
    # A snap's etc/ exists only once redis.conf was first written: the directory is made with its parents.
    directory = tmp_path / "common" / "etc" / "tls"
    first = tls.ensure_key(directory, getpass.getuser())
    assert tls.ensure_key(directory, getpass.getuser()) == first
    assert stat.S_IMODE((directory / "redis.key").stat().st_mode) == 0o600
    # Anyone may list the certificates, only root may put files there.
    assert stat.S_IMODE(directory.stat().st_mode) == 0o755
    private = serialization.load_pem_private_key(first.encode(), password=None)
    assert isinstance(private, rsa.RSAPrivateKey) and private.key_size == 2048


def test_a_renewed_certificate_gets_new_file_names_and_old_ones_go(tmp_path: Path, key: str, request_pem: str) -> None:
    ca = UnitCa()
    tls.ensure_key(tmp_path, getpass.getuser())
    installed = [tls.install(tmp_path, ca.issue(request_pem)) for _ in range(3)]
    assert len({files.cert for files in installed}) == 3
    assert len({files.ca for files in installed}) == 1 and len({files.key for files in installed}) == 1
    # The one in use and the one before it stay (Redis may still run with it until the change took).
    assert sorted(tmp_path.glob("cert-*.pem")) == sorted([installed[1].cert, installed[2].cert])
    assert stat.S_IMODE(installed[2].cert.stat().st_mode) == 0o644
    assert tls.decode_files(tls.encode_files(installed[2])) == installed[2]
    installed[2].cert.unlink()
    assert tls.decode_files(tls.encode_files(installed[2])) is None
    assert tls.decode_files(None) is None


def test_a_new_ca_gets_a_new_file_name_and_older_ones_go(tmp_path: Path, request_pem: str) -> None:
    authorities = [UnitCa(f"CA {number}") for number in range(3)]
    installed = [tls.install(tmp_path, ca.issue(request_pem)) for ca in authorities]
    assert installed[2].ca.read_text() == authorities[2].pem + "\n"
    # The one in use and the one before it stay (Redis may still run with it until the change took).
    assert sorted(tmp_path.glob("ca-*.pem")) == sorted([installed[1].ca, installed[2].ca])
    assert stat.S_IMODE(installed[2].ca.stat().st_mode) == 0o644


def test_file_names_are_those_earlier_revisions_gave_the_same_certificate() -> None:
    """Units keep these names in their state and redis.conf, and the key's fingerprint with their request.

    Names made another way would make every unit rewrite its files and ask for a new certificate on upgrade.
    """
    files = tls.files_for(Path("/etc/redis/tls"), tls.Issued("CERT", "CA"))
    assert files.cert == Path("/etc/redis/tls/cert-fc3c8e63b513125a.pem")
    assert files.ca == Path("/etc/redis/tls/ca-4b650e5c4785025d.pem")
    assert files.key == Path("/etc/redis/tls/redis.key")


def test_the_server_presents_its_intermediates_but_not_the_ca() -> None:
    issued = tls.Issued("LEAF", "ROOT", ("LEAF", "MIDDLE", "ROOT"))
    assert tls.server_chain(issued) == "LEAF\nMIDDLE\n"


def test_clients_are_told_whether_port_speaks_tls_and_the_ca() -> None:
    assert tls.Offer(6380, "PEM", required=True).data() == {
        "tls": "true",
        "tls-port": "6380",
        "tls-ca": "PEM",
        "ca": "PEM",
    }
    assert tls.Offer(6380, "PEM", required=False).data()["tls"] == "false"
    assert set(tls.Offer(1, "", True).data()) == set(tls.CLIENT_KEYS)


FILES = tls.Files(Path("/etc/redis/tls/cert-a.pem"), Path("/etc/redis/tls/redis.key"), Path("/etc/redis/tls/ca-b.pem"))


def test_with_a_certificate_redis_serves_tls_only() -> None:
    found = conf.directives(conf.render(BASE, PASSWORD, "127.1.2.3", service.APT_LAYOUT, FILES))
    assert found["port"] == "0"
    assert found["tls-port"] == "6380"
    assert (found["tls-cert-file"], found["tls-key-file"], found["tls-ca-cert-file"]) == tuple(
        str(path) for path in (FILES.cert, FILES.key, FILES.ca)
    )
    assert found["tls-auth-clients"] == "no"
    assert conf.served_ports(BASE, FILES) == [6380]


def test_the_plain_port_is_kept_when_asked_and_without_a_certificate() -> None:
    kept = replace(BASE, tls_keep_plain_port=True)
    assert conf.directives(conf.render(kept, PASSWORD, "127.1.2.3", service.APT_LAYOUT, FILES))["port"] == "6379"
    assert conf.served_ports(kept, FILES) == [6379, 6380]
    plain = conf.directives(conf.render(BASE, PASSWORD, "127.1.2.3", service.APT_LAYOUT))
    assert plain["port"] == "6379" and not any(name.startswith("tls") for name in plain)
    assert conf.served_ports(BASE, None) == [6379]


def test_a_cluster_node_keeps_its_plain_port_for_its_peers() -> None:
    node = replace(BASE, cluster_enabled=True)
    found = conf.directives(conf.render(node, PASSWORD, "127.1.2.3", service.APT_LAYOUT, FILES))
    assert (found["port"], found["tls-port"]) == ("6379", "6380")
    assert conf.served_ports(node, FILES) == [6379, 6380]


def test_turning_tls_on_and_renewing_are_live_changes() -> None:
    plain = conf.render(BASE, PASSWORD, "127.1.2.3", service.APT_LAYOUT)
    first = conf.render(BASE, PASSWORD, "127.1.2.3", service.APT_LAYOUT, FILES)
    renewed = conf.render(BASE, PASSWORD, "127.1.2.3", service.APT_LAYOUT, replace(FILES, cert=Path("/x/cert-c.pem")))
    on = conf.plan(plain, first, (7, 0, 15))
    assert not on.restart and on.live["port"] == "0" and on.live["tls-port"] == "6380"
    assert conf.plan(first, renewed, (7, 0, 15)) == conf.Plan(live={"tls-cert-file": "/x/cert-c.pem"})


def test_tls_port_must_differ_from_port_only_with_a_certificate() -> None:
    config = {**config_defaults(), "password": PASSWORD, "port": 6380}
    assert isinstance(workload.resolve(workload.Facts(config, None, "127.1.2.3")), workload.Desired)
    refused = workload.resolve(workload.Facts(config, None, "127.1.2.3", tls=FILES))
    assert isinstance(refused, workload.Outcome) and refused.status == "blocked"
    assert refused.message == "invalid tls-port: must differ from port (6380) while a certificate provider is related"


def test_the_relation_reads_the_certificate_for_this_units_request(request_pem: str) -> None:
    requires = interface("tls-certificates", "requires")
    entries = [{"certificate": "C", "certificate_signing_request": request_pem, "ca": "CA", "chain": []}]
    received = {"certificates": json.dumps(entries)}
    published = type("Relation", (), {"units": ["ca/0"], "received_app_raw": received, "to_publish_raw": {}})
    certificates = endpoint(requires.TlsCertificatesRequires, published)
    assert certificates.issued(request_pem) == tls.Issued("C", "CA")
    certificates.request(request_pem)
    assert published.to_publish_raw == tls.request_data(request_pem)


def test_the_redis_relation_publishes_tls_and_removes_it_again() -> None:
    provides = interface("redis", "provides")
    relation = type("Relation", (), {"to_publish_raw": {}})
    clients = endpoint(provides.RedisProvides, relation)
    clients.publish("10.0.0.1", 6380, "pw", tls=tls.Offer(6380, "PEM", required=True))
    assert relation.to_publish_raw["tls"] == "true" and relation.to_publish_raw["tls-ca"] == "PEM"
    clients.publish("10.0.0.1", 6379, "pw")
    assert {key: relation.to_publish_raw[key] for key in tls.CLIENT_KEYS} == dict.fromkeys(tls.CLIENT_KEYS, "")


@pytest.fixture
def tls_server(tmp_path: Path, key: str, request_pem: str):
    """A real redis-server started from the charm's rendered redis.conf with a certificate of UnitCa."""
    if not shutil.which("redis-server"):
        pytest.skip("redis-server not installed")
    ca = UnitCa()
    (tmp_path / "tls").mkdir()
    (tmp_path / "tls" / "redis.key").write_text(key)
    request = tls.make_request(key, "redis/0", tls.Identity("127.0.0.1", "localhost"))
    files = tls.install(tmp_path / "tls", tls.Issued(ca.sign(request), ca.pem))
    data = tmp_path / "data"
    data.mkdir()
    layout = conf.Layout("redis-server", "redis-server", tmp_path / "redis.conf", data, tmp_path / "redis.log",
                         tmp_path / "r.sock", tmp_path / "redis.pid")  # fmt: skip
    parsed = replace(BASE, port=free_port(), tls_port=free_port())
    layout.conf.write_text(conf.render(parsed, PASSWORD, "127.0.0.1", layout, files))
    process = subprocess.Popen(["redis-server", str(layout.conf), "--supervised", "no"])
    try:
        assert service.wait_until(lambda: admin.health(layout.unixsocket, PASSWORD, 1.0).ok, timeout=10)
        yield ca, parsed, layout, files
    finally:
        process.kill()
        process.wait()


def test_the_nagios_check_speaks_tls_and_verifies_the_ca(tls_server) -> None:
    ca, parsed, _, _ = tls_server
    verdict = check_redis.check("127.0.0.1", parsed.tls_port, PASSWORD, 0.8, 0.9, 5.0, ca.pem)
    assert verdict.code == check_redis.OK, verdict.message
    untrusted = check_redis.check("127.0.0.1", parsed.tls_port, PASSWORD, 0.8, 0.9, 5.0, UnitCa("other").pem)
    assert untrusted.code == check_redis.CRITICAL and "CERTIFICATE_VERIFY_FAILED" in untrusted.message
    plain = check_redis.check("127.0.0.1", parsed.port, PASSWORD, 0.8, 0.9, 2.0)
    assert plain.code == check_redis.CRITICAL


def test_a_renewed_certificate_is_served_after_the_live_change(tls_server, key: str) -> None:
    ca, parsed, layout, files = tls_server
    request = tls.make_request(key, "redis/0", tls.Identity("127.0.0.1", "localhost"))
    renewed = tls.install(layout.conf.parent / "tls", tls.Issued(ca.sign(request), ca.pem))
    before = admin.health(layout.unixsocket, PASSWORD).run_id
    running = layout.conf.read_text()
    plan = conf.plan(running, conf.render(parsed, PASSWORD, "127.0.0.1", layout, renewed), (7, 0, 15))
    assert plan == conf.Plan(live={"tls-cert-file": str(renewed.cert)})
    admin.config_set(layout.unixsocket, PASSWORD, plan.live)
    served = subprocess.run(
        ["openssl", "s_client", "-connect", f"127.0.0.1:{parsed.tls_port}", "-CAfile", str(files.ca)],
        input="", capture_output=True, text=True, timeout=10, check=False,
    ).stdout  # fmt: skip
    expected = x509.load_pem_x509_certificate(renewed.cert.read_bytes())
    shown = x509.load_pem_x509_certificate(served[served.index("-----BEGIN CERTIFICATE") :].encode())
    assert shown.serial_number == expected.serial_number
    assert admin.health(layout.unixsocket, PASSWORD).run_id == before
