"""Redis Cluster across the units: the typed topology, pure planning, and an executor.

- `topology`: who is which node (unit → node id, address, role, master) and its
  compact encoding for leader settings.
- `nodes`: CLUSTER NODES output parsed into typed records.
- `plan`: pure decisions (slot allocation, replica placement, rebalance, drain,
  repair of open slots), testable with no server.
- `executor`: carries a plan out on real servers through a connection factory
  (`Connections`), so handlers and tests can pass a fake; one mover at a time
  across the cluster (`ClusterExecutor.exclusive`, a lock kept in the cluster).
- `redis_client`: the factory backed by redis-py, imported only when used.

Nothing here imports redis-py at import time: a hook that never talks to Redis
does not pay for it.
"""
