#!/usr/bin/env bash
# Build voicedock (or take the binary named as the first argument), serve
# it over streamable HTTP on a free loopback port with a throwaway data
# dir, and run the MCP conformance suite against it.
set -euo pipefail
cd "$(dirname "$0")/.."

work=$(mktemp -d)
server_pid=
cleanup() {
	if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
	rm -rf "$work"
}
trap cleanup EXIT

binary=${1:-}
if [ -z "$binary" ]; then
	binary="$work/voicedock"
	go build -o "$binary" ./cmd/voicedock
fi
VOICEDOCK_DATA_DIR="$work/data" VOICEDOCK_API_KEYS= VOICEDOCK_SIP_ADDR=127.0.0.1:0 "$binary" serve --transport http --http-addr 127.0.0.1:0 2>"$work/server.log" &
server_pid=$!

url=
for _ in $(seq 1 100); do
	url=$(grep -o 'url=http://[^ ]*' "$work/server.log" | head -1 | cut -d= -f2 || true)
	[ -n "$url" ] && break
	if ! kill -0 "$server_pid" 2>/dev/null; then cat "$work/server.log" >&2; echo "server exited" >&2; exit 1; fi
	sleep 0.1 # polling the log for the listen line; not test synchronisation
done
[ -n "$url" ] || { cat "$work/server.log" >&2; echo "server did not start" >&2; exit 1; }
echo "server at $url"
scripts/conformance.sh "$url"
# A race-built server reports a data race on its stderr and goes on.
if grep -q '^WARNING: DATA RACE' "$work/server.log"; then
	cat "$work/server.log" >&2
	echo "the server reported a data race during the conformance suite" >&2
	exit 1
fi
