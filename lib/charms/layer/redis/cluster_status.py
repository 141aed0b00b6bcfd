"""The cluster-status action: the Redis Cluster as this unit's node sees it, each node named by its unit."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from charms.layer.redis import admin
from charms.layer.redis.cluster.nodes import SLOTS, ClusterNode, health, parse_cluster_nodes, parse_info
from charms.layer.redis.cluster.topology import Topology, decode
from charms.layer.redis.run_action import ActionRefused

TOPOLOGY = "cluster-topology"


def node_key(node: ClusterNode, unit_of: Mapping[str, str]) -> str:
    """The node's key in the results: its unit (redis-0), or its id's start for a node of no unit."""
    unit = unit_of.get(node.node_id)
    return unit.replace("/", "-") if unit else f"node-{node.node_id[:8]}"


def role(node: ClusterNode) -> str:
    if node.is_master:
        return "master"
    return "replica" if node.is_replica else "unknown"


def describe_node(node: ClusterNode, unit_of: Mapping[str, str], key_of: Mapping[str, str]) -> dict[str, str]:
    described = {
        "unit": unit_of.get(node.node_id, "unknown"),
        "node-id": node.node_id,
        "address": f"{node.host}:{node.port}",
        "role": role(node),
        "health": "ok" if node.is_healthy else ",".join(sorted(node.flags - {"myself", "master", "slave"})),
    }
    if node.is_master:
        ranges = (f"{r.start}-{r.end}" if r.start != r.end else str(r.start) for r in node.slots)
        described.update({"slots": ",".join(ranges) or "none", "slot-count": str(node.slot_count)})
    elif node.master_id:
        described["replica-of"] = key_of.get(node.master_id, node.master_id)
    return described


def report(info: Mapping[str, str], nodes: Iterable[ClusterNode], topology: Topology | None) -> dict[str, Any]:
    """The action's results from CLUSTER INFO, CLUSTER NODES and the topology the leader shares."""
    listed = sorted(nodes, key=lambda node: (not node.is_master, node.host, node.port))
    unit_of = {node.node_id: node.unit for node in topology.nodes} if topology else {}
    key_of = {node.node_id: node_key(node, unit_of) for node in listed}
    summary = health(info, listed)
    return {
        "cluster-state": summary.state,
        "masters": summary.masters,
        "replicas": summary.replicas,
        "slots-covered": f"{info.get('cluster_slots_assigned', '0')} of {SLOTS}",
        "slots-ok": info.get("cluster_slots_ok", "0"),
        "nodes": {key_of[node.node_id]: describe_node(node, unit_of, key_of) for node in listed},
    }


def cluster_status_action(_params: Mapping[str, Any]) -> dict[str, Any]:
    from charmhelpers.core import hookenv

    from charms.layer.redis import backup

    unit = backup.this_unit()
    with backup.reported_errors(), admin.session(unit.layout.unixsocket, unit.password) as client:
        if not backup.in_cluster_mode(client):
            raise ActionRefused("cluster-status: this unit's Redis is not in cluster mode (cluster-enabled is false)")
        info = parse_info(str(client.execute_command("CLUSTER", "INFO")))
        nodes = parse_cluster_nodes(str(client.execute_command("CLUSTER", "NODES")))
    shared = hookenv.leader_get(TOPOLOGY)
    return report(info, nodes, decode(shared) if shared else None)
