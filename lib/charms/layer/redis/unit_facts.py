"""The facts `workload.converge` needs, from the unit's store: the same for a hook and for an action.

The store keys are those the handlers write as they converge (what is
installed, whether the unit was deployed in cluster mode, its cluster port,
the certificate files) and the ingress address they remember.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from charms.layer.redis import credentials, ingress, rotation, service, tls, workload

KV_CLUSTER_ENABLED = "redis.deployed-cluster-enabled"
KV_INSTALLED = "redis.installed"
# The port this unit's cluster node joined with (tls-port with a TLS bus): it cannot change afterwards.
KV_CLUSTER_PORT = "redis.cluster-port"
KV_TLS_FILES = "redis.tls-files"
# Whether this unit's cluster bus and replication speak TLS (tls.bus_wanted, decided by the handlers).
KV_TLS_BUS = "redis.tls-bus"


def gather(
    config: Mapping[str, Any],
    kv: ingress.Store,
    address: str,
    content: Mapping[str, str] | None,
    legacy_password: str | None,
) -> workload.Facts:
    """The facts for `config`, the passwords' secret `content` (None: unreadable) and this unit's `address`.

    `legacy_password` is the generated password as leaders of earlier revisions shared it, used
    while there is no secret.
    """
    content = content or {}
    generated = content.get(credentials.DEFAULT_PASSWORD) if content else legacy_password
    return workload.Facts(
        config=dict(config),
        leader_password=generated,
        ingress=address,
        deployed_cluster_enabled=kv.get(KV_CLUSTER_ENABLED),
        installed=kv.get(KV_INSTALLED),
        machine_memory=service.machine_memory(),
        cluster_port=kv.get(KV_CLUSTER_PORT),
        tls=tls.decode_files(kv.get(KV_TLS_FILES), bool(kv.get(KV_TLS_BUS))),
        client_passwords=credentials.client_passwords(content),
        old_client_passwords=credentials.old_client_passwords(content),
        old_default_passwords=rotation.old_default_passwords(content),
        charm_passwords=tuple(credentials.charm_passwords(content).items()),
    )
