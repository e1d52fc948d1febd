# The operator half of `make demo` (sourced by hack/demo.sh, which defines say, log,
# wait_until and stop_pid): a local Kubernetes control plane named ua-demo, the CRD, the
# operator as a background process, and examples/minimal.yaml with the Secrets it refers
# to in a namespace that enforces the restricted pod security profile, until Ready.
# Entry points: operator_demo, operator_stop, cluster_stop.

DEMO_CLUSTER=ua-demo
DEMO_NAMESPACE=${DEMO_NAMESPACE:-books}
OPERATOR_METRICS_PORT=${OPERATOR_METRICS_PORT:-9090}
OPERATOR_HEALTH_PORT=${OPERATOR_HEALTH_PORT:-8080}
PLATFORM_FILE=examples/minimal.yaml
SECRETS_FILE=examples/secrets.example.yaml
PLATFORM=$(.venv/bin/python -c \
  'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["metadata"]["name"])' "$PLATFORM_FILE")
CHILDREN=deploy,svc,hpa,pdb,networkpolicy,job
OPERATOR_PID=""
CLUSTER_STARTED=""
K8S_BIN=""
DEMO_KUBECONFIG=""

operator_demo() {
  cluster_start
  crd_install
  namespace_create
  operator_start
  platform_apply
  platform_show
  failover_demo
  operator_usage
}

k() { "$K8S_BIN/kubectl" --kubeconfig "$DEMO_KUBECONFIG" "$@"; }
# Print a kubectl command as a user would type it, then run it.
show() { printf '$ kubectl %s\n' "$*"; k "$@"; }

cluster_start() {
  say "A local Kubernetes control plane '$DEMO_CLUSTER' (etcd, kube-apiserver, ...; kwok nodes)"
  K8S_BIN=$(hack/k8s/build.sh 2>.run/demo-cluster.log | tail -n 1)
  CLUSTER_STARTED=1
  if ! DEMO_KUBECONFIG=$(UA_K8S_CLUSTER=$DEMO_CLUSTER UA_K8S_BIN_DIR=$K8S_BIN \
      hack/k8s/cluster-up.sh 2>>.run/demo-cluster.log | tail -n 1); then
    tail -n 20 .run/demo-cluster.log >&2; log "the cluster did not start"; return 1
  fi
  grep -o "cluster $DEMO_CLUSTER up in .*" .run/demo-cluster.log | tail -n 1
  show get nodes
}

cluster_stop() {
  [ -n "$CLUSTER_STARTED" ] || return 0
  if UA_K8S_CLUSTER=$DEMO_CLUSTER hack/k8s/cluster-down.sh 2>>.run/demo-cluster.log; then
    log "$(tail -n 1 .run/demo-cluster.log | sed 's/^cluster-down.sh: //')"
  else
    tail -n 5 .run/demo-cluster.log >&2; return 1
  fi
}

crd_install() {
  say "The AccountingPlatform CRD"
  show apply --server-side -f crds/accountingplatforms.yaml
  k wait --for=condition=Established --timeout=60s \
    crd/accountingplatforms.accounting.universalaccounting.com >/dev/null
}

namespace_create() {
  say "Namespace $DEMO_NAMESPACE, enforcing the restricted pod security profile"
  k create namespace "$DEMO_NAMESPACE" --dry-run=client -o yaml | k apply -f - >/dev/null
  show label namespace "$DEMO_NAMESPACE" --overwrite \
    pod-security.kubernetes.io/enforce=restricted pod-security.kubernetes.io/enforce-version=latest
}

operator_healthy() { curl -sf "http://127.0.0.1:$OPERATOR_HEALTH_PORT/healthz" >/dev/null; }

operator_start() {
  say "The operator: accounting-operator run --namespace $DEMO_NAMESPACE"
  KUBECONFIG=$DEMO_KUBECONFIG \
    ACCOUNTING_OPERATOR_METRICS_ADDRESS=127.0.0.1 \
    ACCOUNTING_OPERATOR_METRICS_PORT=$OPERATOR_METRICS_PORT \
    ACCOUNTING_OPERATOR_LIVENESS_ENDPOINT=http://127.0.0.1:$OPERATOR_HEALTH_PORT/healthz \
    .venv/bin/accounting-operator run --namespace "$DEMO_NAMESPACE" >.run/demo-operator.log 2>&1 &
  OPERATOR_PID=$!
  if ! wait_until 30 operator_healthy; then
    tail -n 20 .run/demo-operator.log >&2; log "the operator is not healthy"; return 1
  fi
  echo "pid $OPERATOR_PID, healthy (log: .run/demo-operator.log)"
}

operator_stop() { stop_pid "$OPERATOR_PID" "the operator"; }

platform_apply() {
  say "An AccountingPlatform: $PLATFORM_FILE, with the Secrets from $SECRETS_FILE"
  show apply -n "$DEMO_NAMESPACE" -f "$SECRETS_FILE" -f "$PLATFORM_FILE"
  if ! show wait -n "$DEMO_NAMESPACE" --for=condition=Ready "acp/$PLATFORM" --timeout=180s; then
    tail -n 20 .run/demo-operator.log >&2; log "the platform did not become Ready"; return 1
  fi
}

platform_show() {
  say "The platform and the children the operator made for it"
  show get acp -n "$DEMO_NAMESPACE"
  echo
  show get "$CHILDREN" -n "$DEMO_NAMESPACE" -l "app.kubernetes.io/instance=$PLATFORM"
}

# A second platform on the local replica set (hack/replset.sh: a primary and two synchronous
# streaming replicas), with failover checked every second: kill -9 of the primary, and the
# operator promotes a replica, repoints the platform and records it.
failover_demo() {
  say "Failover: platform ledger on a primary with two streaming replicas (hack/replset.sh)"
  hack/services.sh replset-reset
  eval "$(hack/services.sh replset-env)"
  MIGRATION_DATABASE_URL=$REPLSET_MIGRATION_URL .venv/bin/accounting-api migrate >/dev/null
  local user pass p0 p1 p2
  user=${REPLSET_FAILOVER_URL#postgresql://}; pass=${user#*:}; pass=${pass%%@*}; user=${user%%:*}
  p0=${REPLSET_PRIMARY##*:}; p1=${REPLSET_REPLICAS%%,*}; p1=${p1##*:}; p2=${REPLSET_REPLICAS##*:}
  k create secret generic ledger-db-failover -n "$DEMO_NAMESPACE" --type=kubernetes.io/basic-auth \
    --from-literal=username="$user" --from-literal=password="$pass" \
    --dry-run=client -o yaml | k apply -f - >/dev/null
  .venv/bin/python - "$PLATFORM_FILE" "$p0" "$p1" "$p2" >.run/demo-ledger.yaml <<'PY'
import sys, yaml
platform = yaml.safe_load(open(sys.argv[1]))
platform["metadata"]["name"] = "ledger"
platform["spec"]["database"].update(
    primary={"host": "127.0.0.1", "port": int(sys.argv[2])},
    replicas=[{"host": "127.0.0.1", "port": int(p)} for p in sys.argv[3:]],
    sslMode="disable",
)
platform["spec"]["failover"] = {
    "enabled": True, "checkIntervalSeconds": 1, "failureThreshold": 3,
    "credentialsSecretRef": {"name": "ledger-db-failover"},
}
print(yaml.safe_dump(platform, sort_keys=False))
PY
  show apply -n "$DEMO_NAMESPACE" -f .run/demo-ledger.yaml
  show wait -n "$DEMO_NAMESPACE" --for=condition=DatabaseAvailable acp/ledger --timeout=60s
  show get acp ledger -n "$DEMO_NAMESPACE" -o jsonpath='{.status.database}{"\n"}'
  local pid; pid=$(head -n 1 "$REPLSET_DIR/pg0/postmaster.pid")
  echo "\$ kill -9 $pid   # the primary's postmaster, 127.0.0.1:$p0"
  kill -9 "$pid"
  show wait -n "$DEMO_NAMESPACE" --for=jsonpath='{.status.database.timeline}'=2 acp/ledger \
    --timeout=60s
  show get acp ledger -n "$DEMO_NAMESPACE" -o jsonpath='{.status.failoverHistory}{"\n"}{.status.database}{"\n"}'
  show get events -n "$DEMO_NAMESPACE" --field-selector involvedObject.name=ledger \
    -o custom-columns=TYPE:.type,REASON:.reason,MESSAGE:.message | grep -E 'REASON|Failover|FailedOver'
}

operator_usage() {
  cat <<TXT

The operator manages namespace $DEMO_NAMESPACE of the local control plane '$DEMO_CLUSTER'
(log: .run/demo-operator.log; kwok simulates the nodes, so pods are Running without
running their images). Use kubectl against it:
  export KUBECONFIG=$DEMO_KUBECONFIG
  export PATH=$K8S_BIN:\$PATH
  kubectl get acp $PLATFORM -n $DEMO_NAMESPACE -o yaml      # spec defaults, status, conditions
  kubectl get events -n $DEMO_NAMESPACE --field-selector involvedObject.kind=AccountingPlatform
  kubectl delete deploy $PLATFORM-api -n $DEMO_NAMESPACE; kubectl get deploy -n $DEMO_NAMESPACE   # it comes back
  kubectl patch acp $PLATFORM -n $DEMO_NAMESPACE --type merge -p '{"spec":{"api":{"autoscaling":{"minReplicas":4}}}}'
  curl -s 127.0.0.1:$OPERATOR_METRICS_PORT/metrics | grep accounting_operator_reconciles_total
TXT
}
