#!/usr/bin/env bash
# Static checks of the deployment files; no container engine or cluster runs:
# - docker/compose.yaml against the Compose Specification's JSON schema (as
#   written, and interpolated with docker/hypersweep.env.example's values),
#   plus what `docker compose config` would resolve beyond the schema and
#   what this deployment promises (scripts/check_deploy.py);
# - the env-file example sets exactly the variables the compose file uses;
# - deploy/kubernetes/ with kubernetes-validate --strict against Kubernetes
#   $KUBERNETES_VERSIONS, kustomization.yaml listing every manifest, and the
#   references between them (scripts/check_deploy.py), and the PostgreSQL
#   overlay deploy/kubernetes-postgres/ (its manifests, and that its patch
#   of the server hits HYPERSWEEP_DATABASE); the kustomize builds
#   too where kubectl is installed;
# - docker/entrypoint.sh with a stand-in for the binary: it refuses to start
#   the server or a worker without its token, and passes one on.
# The validators (pinned) go into .venv on the first run; later runs, and
# every check, need no network: the schemas ship inside the packages.
set -euo pipefail
cd "$(dirname "$0")/.."

CHECK_JSONSCHEMA_VERSION=0.39.0    # ships the Compose Specification's schema
KUBERNETES_VALIDATE_VERSION=1.37.0 # ships Kubernetes' schemas, 1.x to 1.37
# The oldest minor version the large providers still run, and the newest.
KUBERNETES_VERSIONS="1.29.0 1.37.0"

start=$SECONDS
py=.venv/bin/python
[ -x "$py" ] || python3 -m venv .venv
if ! "$py" -c "
import importlib.metadata as m, sys
sys.exit(m.version('check-jsonschema') != '$CHECK_JSONSCHEMA_VERSION'
         or m.version('kubernetes-validate') != '$KUBERNETES_VALIDATE_VERSION')
" 2>/dev/null; then
  echo "check-deploy: installing check-jsonschema $CHECK_JSONSCHEMA_VERSION and kubernetes-validate $KUBERNETES_VALIDATE_VERSION into .venv"
  # Its output only on failure: pip also warns about the dependencies that
  # setup.sh's `--no-deps` torch leaves out, which libtorch does not need.
  if ! .venv/bin/pip install --quiet --disable-pip-version-check \
    "check-jsonschema==$CHECK_JSONSCHEMA_VERSION" \
    "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" >.venv/check-deploy-pip.log 2>&1; then
    cat .venv/check-deploy-pip.log >&2
    exit 1
  fi
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failed=()
checks=0
check() { # NAME COMMAND...: runs it, shows its output only when it fails
  local name=$1
  shift
  checks=$((checks + 1))
  if "$@" >"$tmp/out" 2>&1; then
    echo "  ok   $name"
  else
    echo "  FAIL $name"
    sed 's/^/       /' "$tmp/out"
    failed+=("$name")
  fi
}

compose=docker/compose.yaml
example=docker/hypersweep.env.example
k8s=deploy/kubernetes
manifests=()
for f in "$k8s"/*.yaml; do
  [ "$(basename "$f")" = kustomization.yaml ] || manifests+=("$f")
done

echo "check-deploy: $compose"
check "compose spec schema, as written" \
  .venv/bin/check-jsonschema --builtin-schema vendor.compose-spec "$compose"
check "references, env file, promises (check_deploy.py compose)" \
  "$py" scripts/check_deploy.py compose "$compose" "$example" config.toml "$tmp/compose.json"
check "compose spec schema, interpolated with $example" \
  .venv/bin/check-jsonschema --builtin-schema vendor.compose-spec "$tmp/compose.json"

echo "check-deploy: $k8s"
for version in $KUBERNETES_VERSIONS; do
  check "kubernetes-validate --strict, Kubernetes $version" \
    .venv/bin/kubernetes-validate --strict --quiet -k "$version" "${manifests[@]}"
done
check "kustomization, references, promises (check_deploy.py kubernetes)" \
  "$py" scripts/check_deploy.py kubernetes "$k8s" config.toml
overlay=()
for f in deploy/kubernetes-postgres/*.yaml; do
  [ "$(basename "$f")" = kustomization.yaml ] || overlay+=("$f")
done
for version in $KUBERNETES_VERSIONS; do
  check "postgres overlay: kubernetes-validate --strict, Kubernetes $version" \
    .venv/bin/kubernetes-validate --strict --quiet -k "$version" "${overlay[@]}"
done
check "postgres overlay: base, files, the server's patch (check_deploy.py overlay)" \
  "$py" scripts/check_deploy.py overlay deploy/kubernetes-postgres
if command -v kubectl >/dev/null && kubectl kustomize --help >/dev/null 2>&1; then
  kustomize_build() {
    kubectl kustomize "$k8s" >"$tmp/built.yaml" &&
      .venv/bin/kubernetes-validate --strict --quiet "$tmp/built.yaml"
  }
  check "kubectl kustomize, its output validated --strict" kustomize_build
  kustomize_overlay() {
    kubectl kustomize deploy/kubernetes-postgres >"$tmp/built-postgres.yaml" &&
      .venv/bin/kubernetes-validate --strict --quiet "$tmp/built-postgres.yaml"
  }
  check "kubectl kustomize of the postgres overlay, validated --strict" kustomize_overlay
else
  echo "  skip kubectl kustomize (no kubectl here)"
fi

echo "check-deploy: docker/entrypoint.sh"
check "bash -n" bash -n docker/entrypoint.sh
mkdir "$tmp/bin"
cat >"$tmp/bin/hypersweep" <<'EOF'
#!/usr/bin/env bash
echo "ran: hypersweep $*"
echo "listen=${HYPERSWEEP_LISTEN:-} api=${HYPERSWEEP_API_TOKEN:-} worker=${HYPERSWEEP_WORKER_TOKEN:-}"
EOF
chmod +x "$tmp/bin/hypersweep"
echo 'from-a-file-0123456789abcdef' >"$tmp/token"
token=0123456789abcdef0123456789abcdef
entry() { # EXPECTED_STATUS PATTERN [NAME=VALUE...] -- ARGS...: runs the entrypoint
  local want=$1 pattern=$2 env=() status=0
  shift 2
  while [ "$1" != -- ]; do
    env+=("$1")
    shift
  done
  shift
  env -i PATH="$tmp/bin:/usr/bin:/bin" HYPERSWEEP_CONFIG=/nonexistent "${env[@]}" \
    bash docker/entrypoint.sh "$@" >"$tmp/entry" 2>&1 || status=$?
  cat "$tmp/entry"
  [ "$status" = "$want" ] || { echo "exit status $status, expected $want"; return 1; }
  grep -Eq -- "$pattern" "$tmp/entry" || { echo "no line matches: $pattern"; return 1; }
}
check "serve without a token: refused, says HYPERSWEEP_API_TOKEN" \
  entry 78 'needs an API token.*' -- serve
check "serve with an empty token: refused" \
  entry 78 'needs an API token' HYPERSWEEP_API_TOKEN= -- serve
check "serve with the placeholder: refused" \
  entry 78 'placeholder' HYPERSWEEP_API_TOKEN=REPLACE-ME-with-the-output -- serve
check "serve with a token: runs on 0.0.0.0:8080" \
  entry 0 "^listen=0\.0\.0\.0:8080 api=$token" HYPERSWEEP_API_TOKEN=$token -- serve
check "no arguments, or options only: serve" \
  entry 0 '^ran: hypersweep serve --workers 0$' HYPERSWEEP_API_TOKEN=$token -- --workers 0
check "HYPERSWEEP_API_TOKEN_FILE: read from the file" \
  entry 0 'api=from-a-file-0123456789abcdef ' HYPERSWEEP_API_TOKEN_FILE="$tmp/token" -- hypersweep serve
check "serve --listen 127.0.0.1:8080 without a token: runs" \
  entry 0 '^ran: hypersweep serve --listen 127.0.0.1:8080$' -- serve --listen 127.0.0.1:8080
check "serve --api-token=...: runs" \
  entry 0 '^ran: hypersweep serve --api-token=' -- serve --api-token=$token
check "worker without a token: refused, says HYPERSWEEP_WORKER_TOKEN" \
  entry 78 'HYPERSWEEP_WORKER_TOKEN' -- worker --server http://server:8080
check "worker with a token: runs as given" \
  entry 0 '^ran: hypersweep worker --server http://server:8080$' HYPERSWEEP_WORKER_TOKEN=$token -- hypersweep worker --server http://server:8080

elapsed=$((SECONDS - start))
if [ ${#failed[@]} -gt 0 ]; then
  echo "check-deploy: FAILED ${#failed[@]} of $checks checks (${elapsed}s):"
  printf '  %s\n' "${failed[@]}"
  exit 1
fi
echo "check-deploy: all $checks checks ok (${elapsed}s; no container engine or cluster was run)"
