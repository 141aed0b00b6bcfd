#!/usr/bin/env bash
# Deploy redis (3 units) and a client app on a local model, relate them and show the status.
# Usage: tests/localjuju/demo.sh CHARM_DIR CLIENT_CHARM_DIR [MODEL]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
juju="$here/juju"
charm=${1:?usage: demo.sh CHARM_DIR CLIENT_CHARM_DIR [MODEL]}
client=${2:?usage: demo.sh CHARM_DIR CLIENT_CHARM_DIR [MODEL]}
model=${3:-demo}

if "$juju" models --format json 2>/dev/null | grep -q "\"$model\""; then
  echo "== removing the previous '$model' model"
  "$juju" destroy-model "$model" --no-prompt --force >/dev/null
fi
# Commands return once the change is recorded (as Juju's do); wait until every unit is active
# and every agent idle, i.e. the hooks that follow have run.
settle() {
  local check='import json,sys
units=[u for a in json.load(sys.stdin)["applications"].values() for u in a.get("units",{}).values()]
ok=units and all(u["workload-status"]["current"]=="active" and u["juju-status"]["current"]=="idle" for u in units)
sys.exit(0 if ok else 1)'
  for _ in $(seq 600); do
    "$juju" status --model "$model" --format json | python3 -c "$check" && return 0
    sleep 0.5
  done
  echo "the model did not settle within 5 minutes" >&2
  return 1
}

"$juju" add-model "$model"
echo "== deploying redis (3 units) from $charm"
time { "$juju" deploy "$charm" redis -n 3 --model "$model" && settle; }
echo "== deploying redis-client from $client"
"$juju" deploy "$client" redis-client --model "$model"
if ! "$juju" integrate redis redis-client --model "$model"; then
  echo "(redis-client could not be related: does the charm provide the redis interface?)"
fi
settle
echo
"$juju" status --model "$model"
address=$("$juju" status --model "$model" --format json |
  python3 -c 'import json,sys; u=json.load(sys.stdin)["applications"]["redis"]["units"]; print(next(iter(u.values()))["public-address"])')
echo
echo "== a round trip from this machine to redis/0 at $address, authenticated with the shared password"
REDISCLI_AUTH=$("$juju" exec --model "$model" --unit redis/leader -- leader-get password)
export REDISCLI_AUTH
redis-cli -h "$address" -p 6379 SET demo:greeting "hello from the local model"
redis-cli -h "$address" -p 6379 GET demo:greeting
unset REDISCLI_AUTH
cat <<EOT

Reach Redis from this machine (the password comes from the leader's settings):
  export REDISCLI_AUTH=\$("$juju" exec --model $model --unit redis/leader -- leader-get password)
  redis-cli -h $address -p 6379 PING
Look inside a unit:       $juju exec --model $model --unit redis/0 -- systemctl status redis-server
Read the units' logs:     $juju debug-log --model $model
Tear it all down:         $juju destroy-model $model --no-prompt
EOT
