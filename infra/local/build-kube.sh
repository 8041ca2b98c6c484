#!/usr/bin/env bash
# Builds kube-apiserver and kube-controller-manager v1.20.2 from Debian bookworm's `kubernetes`
# source package into a cache outside the repository, for the tests under tests/k8s.
#
#   bash infra/local/build-kube.sh        # ~6 minutes the first time on 2 cores, ~0 s after
#
# Binaries land in ${KILN_CACHE:-$HOME/.cache/kiln}/k8s/bin. Reruns reuse them. The system's apt
# configuration is left alone: the deb-src list, its package lists and apt's cache are private
# to the cache directory. KILN_KUBE_SOURCE_VERSION overrides the pinned source version.
# Facts behind each step: K8S-TESTING.md in the project's shared notes.
set -euo pipefail

readonly KUBE_SOURCE_VERSION="${KILN_KUBE_SOURCE_VERSION:-1.20.5+really1.20.2-1.1+deb12u1}"
readonly KUBE_GIT_VERSION="v1.20.2"
readonly KUBE_GIT_COMMIT="faecb196815e248d3ecfb03c680a4507229c2a56"  # the v1.20.2 tag
readonly REFLECT2_DEBIAN="/usr/share/gocode/src/github.com/modern-go/reflect2"
readonly BINARIES=(kube-apiserver kube-controller-manager)

CACHE="${KILN_CACHE:-$HOME/.cache/kiln}/k8s"
BIN="$CACHE/bin"
WORK="$CACHE/build"

say() { echo "build-kube: $*"; }
die() {
  echo "build-kube: ERROR: $*" >&2
  exit 1
}

have_all_binaries() {
  local b
  for b in "${BINARIES[@]}"; do
    [ -x "$BIN/$b" ] || return 1
  done
}

if have_all_binaries; then
  say "cached: ${BINARIES[*]} in $BIN ($("$BIN/kube-apiserver" --version 2>/dev/null || echo '?'))"
  exit 0
fi

# Check every prerequisite up front so that a missing one fails in a second, not after minutes.
[ -r /etc/debian_version ] || die "needs Debian (bookworm) for its kubernetes source package"
for tool in apt-get dpkg-source go make rsync; do
  command -v "$tool" >/dev/null 2>&1 ||
    die "'$tool' not found; run 'bash infra/local/system-deps.sh' as root (or 'make controlplane')"
done
[ -d "$REFLECT2_DEBIAN" ] ||
  die "$REFLECT2_DEBIAN missing; install golang-github-modern-go-reflect2-dev (infra/local/system-deps.sh)"

mkdir -p "$BIN" "$WORK"
# Two builds at once (two engineers, two `make test`s) would trample each other's tree.
exec 9>"$CACHE/.build.lock"
if ! flock -n 9; then
  say "another build holds $CACHE/.build.lock; waiting for it"
  flock 9
  if have_all_binaries; then
    say "the other build produced the binaries; done"
    exit 0
  fi
fi

# 1. Fetch the source with a private deb-src list: -o Dir::... keeps /etc/apt and
#    /var/lib/apt untouched, so this needs no root.
APT="$WORK/apt"
SRC="$WORK/src"
mkdir -p "$APT/lists/partial" "$APT/parts" "$APT/cache/archives/partial" "$SRC"
cat >"$APT/sources.list" <<'EOF'
deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm main
deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian-security bookworm-security main
EOF
apt_opts=(
  -o "Dir::Etc::SourceList=$APT/sources.list"
  -o "Dir::Etc::SourceParts=$APT/parts"
  -o "Dir::State::Lists=$APT/lists"
  -o "Dir::Cache=$APT/cache"
  -o "Debug::NoLocking=1"
  -o "APT::Sandbox::User=root"  # the private lists dir is not readable by _apt; no warning
)

tree=""
find_tree() { tree="$(find "$SRC" -maxdepth 1 -mindepth 1 -type d -name 'kubernetes-*' | head -n 1)"; }
find_tree
if [ -z "$tree" ] || [ ! -f "$SRC/.unpacked" ]; then
  rm -rf "${SRC:?}"/*
  say "fetching source package kubernetes=$KUBE_SOURCE_VERSION (about 30 MB)"
  apt-get "${apt_opts[@]}" -qq update || die "apt-get update of the private deb-src list failed"
  # Say which versions bookworm offers when the pinned one is gone, instead of apt's terse error.
  available="$(apt-cache "${apt_opts[@]}" showsrc kubernetes 2>/dev/null | sed -n 's/^Version: //p')"
  grep -qxF "$KUBE_SOURCE_VERSION" <<<"$available" ||
    die "bookworm's deb-src offers kubernetes ${available:-(none)}, not $KUBE_SOURCE_VERSION"
  (cd "$SRC" && apt-get "${apt_opts[@]}" -qq source "kubernetes=$KUBE_SOURCE_VERSION") ||
    die "apt-get source kubernetes=$KUBE_SOURCE_VERSION failed (no network, or the version left bookworm?)"
  find_tree
  [ -n "$tree" ] || die "apt-get source left no kubernetes-* directory in $SRC"
  touch "$SRC/.unpacked"
else
  say "reusing unpacked source in $tree"
fi
[ -d "$tree/vendor" ] || die "$tree has no vendor/ directory; cannot build offline"

# 2. The vendored reflect2 v1.0.1 segfaults under Go >= 1.18 on the first custom-object create;
#    Debian's packaged copy (1.0.2) is API-compatible and works.
say "replacing vendor/github.com/modern-go/reflect2 with Debian's copy"
rsync -a --delete --exclude go.mod --exclude go.sum "$REFLECT2_DEBIAN/" \
  "$tree/vendor/github.com/modern-go/reflect2/"

# 3. Build offline, statically. The version file stamps `--version` as v1.20.2 (there is no .git
#    in a source package), which Helm's and kubectl's server-version checks read.
cat >"$WORK/version.env" <<EOF
KUBE_GIT_COMMIT='$KUBE_GIT_COMMIT'
KUBE_GIT_TREE_STATE='clean'
KUBE_GIT_VERSION='$KUBE_GIT_VERSION'
KUBE_GIT_MAJOR='1'
KUBE_GIT_MINOR='20'
EOF
export GOPROXY=off GOFLAGS=-mod=vendor CGO_ENABLED=0
export GOCACHE="$WORK/go-build" KUBE_GIT_VERSION_FILE="$WORK/version.env"
for b in "${BINARIES[@]}"; do
  if [ -x "$BIN/$b" ]; then
    say "$b already built"
    continue
  fi
  say "building $b with $(go version | cut -d' ' -f3) (a few minutes on 2 cores)"
  start=$SECONDS
  (cd "$tree" && make WHAT="cmd/$b") >"$WORK/$b.log" 2>&1 ||
    die "make WHAT=cmd/$b failed; last lines of $WORK/$b.log:
$(tail -n 30 "$WORK/$b.log")"
  out="$(find "$tree/_output" -type f -name "$b" -perm -u+x | head -n 1)"
  [ -n "$out" ] || die "make WHAT=cmd/$b produced no $b under $tree/_output"
  # Copy then rename, so an interrupted copy never leaves a half binary that looks cached.
  cp "$out" "$BIN/.$b.tmp" && mv "$BIN/.$b.tmp" "$BIN/$b"
  say "built $b in $((SECONDS - start)) s: $("$BIN/$b" --version 2>&1 | head -n 1)"
done

have_all_binaries || die "binaries missing after the build"
# The source tree and Go's caches take about 2 GB; the binaries are all later runs need.
rm -rf "$SRC" "$WORK/go-build" "$APT"
say "done: ${BINARIES[*]} in $BIN (build logs in $WORK)"
