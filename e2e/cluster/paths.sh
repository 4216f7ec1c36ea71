# Where the control plane keeps its binaries and its running state.
# Sourced by build, up and down; both places live outside the repository.
E2E_CLUSTER_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions
. "$E2E_CLUSTER_DIR/versions"

E2E_CACHE="${KITARU_E2E_CACHE:-$HOME/.cache/kitaru-e2e}"
E2E_VERSION_DIR="$E2E_CACHE/$KUBERNETES_VERSION"
E2E_BIN="$E2E_VERSION_DIR/bin"
E2E_STATE="${KITARU_E2E_STATE:-$E2E_CACHE/state}"
