"""Prometheus metrics: Debian's prometheus-redis-exporter beside Redis, and the scrape job pointing at it.

The exporter runs as the package's own systemd service (as the `prometheus`
user). The charm adds a drop-in that reads one more environment file, root's
alone (0600), with the Redis address, the listen address and where the password
file is. The exporter reads the password from that file (0640, group
`prometheus`), so the password never appears in its arguments or environment,
in the world-readable /etc/default file or in logs.

Prometheus learns where to scrape over two relations:
- `metrics-endpoint` (interface prometheus_scrape, as COS's Prometheus reads
  it): the application's `scrape_jobs` and `scrape_metadata` (JSON), and per
  unit `prometheus_scrape_unit_address` and `prometheus_scrape_unit_name`; a
  target `*:PORT` stands for every unit's address;
- `prometheus` (interface http, as reactive Prometheus charms read it): per
  unit `hostname` and `port`.
"""

from __future__ import annotations

import ipaddress
import json
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from charms.layer.redis import service

PACKAGE = "prometheus-redis-exporter"
SERVICE = "prometheus-redis-exporter"
BINARY = Path("/usr/bin/prometheus-redis-exporter")
ENV_FILE = Path("/etc/prometheus-redis-exporter/redis-charm.env")
# The password, as the exporter's -redis.password-file reads it ({address: password}):
# the exporter reads it itself, so it is its group's (0640), and the password is in
# no process's environment or arguments.
PASSWORD_FILE = Path("/etc/prometheus-redis-exporter/redis-charm-password.json")
EXPORTER_GROUP = "prometheus"
# The CA that signed Redis's TLS certificate, for an exporter scraping over TLS. A
# copy beside the env file: /etc/redis is not readable by the exporter's user,
# and a CA certificate is public.
CA_FILE = Path("/etc/prometheus-redis-exporter/redis-charm-ca.pem")
DROPIN = Path(f"/etc/systemd/system/{SERVICE}.service.d/redis-charm.conf")
METRICS_PATH = "/metrics"
JOB_NAME = "redis"
# How long a restarted exporter may take to serve its first scrape.
SERVE_TIMEOUT = 10.0


class NotServing(service.ServiceError):
    """The exporter runs but does not serve Redis's metrics where it should (its port may be taken)."""


@dataclass(frozen=True)
class Exporter:
    """Which Redis the exporter scrapes and where it serves the metrics: both on the unit's address."""

    address: str
    redis_port: int
    password: str
    port: int
    # PEM of the CA Redis's certificate is signed by when `redis_port` speaks TLS; empty: plain.
    ca: str = ""
    # The user the exporter logs in as (empty: the password alone, the default user).
    username: str = ""

    @property
    def listen_address(self) -> str:
        return f"{bracketed(self.address)}:{self.port}"

    @property
    def redis_url(self) -> str:
        scheme = "rediss" if self.ca else "redis"
        return f"{scheme}://{bracketed(self.address)}:{self.redis_port}"

    @property
    def metrics_url(self) -> str:
        return f"http://{self.listen_address}{METRICS_PATH}"


@dataclass(frozen=True)
class ScrapeMetadata:
    """Who the scrape job belongs to, as COS's Prometheus labels the series."""

    model: str
    model_uuid: str
    application: str
    unit: str
    charm_name: str


def bracketed(address: str) -> str:
    """An address as it stands before `:port`: an IPv6 address in brackets."""
    try:
        return f"[{address}]" if ipaddress.ip_address(address).version == 6 else address
    except ValueError:
        return address  # a host name


def dropin_text() -> str:
    """The drop-in that adds the charm's environment file to the package's unit."""
    return f"# Written by the redis charm: Redis's address and password.\n[Service]\nEnvironmentFile={ENV_FILE}\n"


def env_file_text(exporter: Exporter) -> str:
    """The exporter's settings as systemd reads an EnvironmentFile.

    Single quotes make systemd take every character literally; settings refuse
    quotes, backslashes and blanks in passwords, so none can end the value.
    """
    values = {
        "REDIS_ADDR": exporter.redis_url,
        "REDIS_PASSWORD_FILE": str(PASSWORD_FILE),
        **({"REDIS_USER": exporter.username} if exporter.username else {}),
        "REDIS_EXPORTER_WEB_LISTEN_ADDRESS": exporter.listen_address,
        **({"REDIS_EXPORTER_TLS_CA_CERT_FILE": str(CA_FILE)} if exporter.ca else {}),
    }
    return "# Written by the redis charm.\n" + "".join(f"{key}='{value}'\n" for key, value in values.items())


def scrape_jobs(port: int) -> list[dict[str, object]]:
    """The application's scrape job: `*` is replaced by each unit's published address."""
    return [{"job_name": JOB_NAME, "metrics_path": METRICS_PATH, "static_configs": [{"targets": [f"*:{port}"]}]}]


def scrape_app_data(port: int, metadata: ScrapeMetadata) -> dict[str, str]:
    """The leader's application data on `metrics-endpoint`."""
    return {
        "scrape_jobs": json.dumps(scrape_jobs(port), sort_keys=True),
        "scrape_metadata": json.dumps(vars(metadata), sort_keys=True),
    }


def scrape_unit_data(address: str, unit: str) -> dict[str, str]:
    """Each unit's data on `metrics-endpoint`."""
    return {"prometheus_scrape_unit_address": address, "prometheus_scrape_unit_name": unit}


def password_file_text(exporter: Exporter) -> str:
    """The exporter's password file: the address it scrapes, mapped to the password."""
    return json.dumps({exporter.redis_url: exporter.password}) + "\n"


def replace_if_changed(path: Path, text: str, mode: int, group: str = "root") -> bool:
    """Write `text` to a file owned by root and `group` unless it already holds it; whether it was written."""
    try:
        if path.read_text() == text:
            return False
    except FileNotFoundError:
        pass
    service.write_restricted(path, text, group, mode)
    return True


def configure(exporter: Exporter) -> bool:
    """Have the exporter running with these settings; whether it was (re)started.

    The package comes first: it makes the `prometheus` group the password file
    belongs to. Its own first start serves nothing of this Redis until the
    restart below.
    """
    if not BINARY.exists():
        service.install_apt((PACKAGE,))  # makes the exporter's user and group, which own its password file
    new_dropin = replace_if_changed(DROPIN, dropin_text(), 0o644)
    new_ca = bool(exporter.ca) and replace_if_changed(CA_FILE, exporter.ca + "\n", 0o644)
    new_password = replace_if_changed(PASSWORD_FILE, password_file_text(exporter), 0o640, EXPORTER_GROUP)
    changed = replace_if_changed(ENV_FILE, env_file_text(exporter), 0o600) or new_dropin or new_ca or new_password
    if new_dropin:
        service.run(["systemctl", "daemon-reload"], timeout=service.SYSTEMCTL_TIMEOUT)
        service.systemctl("enable", SERVICE)
    if changed or not service.is_active(SERVICE):
        service.systemctl("restart", SERVICE)
        if not service.wait_until(lambda: serving(exporter), timeout=SERVE_TIMEOUT):
            raise NotServing(f"prometheus-redis-exporter does not serve {exporter.metrics_url}: is the port taken?")
        return True
    return False


def serving(exporter: Exporter) -> bool:
    """Whether the exporter answers a scrape at its address (not some other program on its port)."""
    try:
        with urllib.request.urlopen(exporter.metrics_url, timeout=2) as response:
            return b"\nredis_up " in response.read()
    except OSError:
        return False


def stop() -> None:
    """Stop the exporter (the unit is going away)."""
    if BINARY.exists() and service.is_active(SERVICE):
        service.systemctl("stop", SERVICE)
