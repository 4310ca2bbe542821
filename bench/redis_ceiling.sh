#!/usr/bin/env bash
# The ceiling for a limiter hit on one redis-server: redis-benchmark (C, pipelined) sending EVALSHA of
# a fixed-window script, loaded first. Prints one line: "<ops/s> ops/s". The server must be running.
# Usage: bench/redis_ceiling.sh [-h host] [-p port] [-c clients] [-P pipeline] [-n requests]
#                               [-r keyspace] [-s script.lua] [-- ARGV...]
# The script gets KEYS = {state, block marker} and ARGV (default: limit window_ms cost, as
# fixed_window_ceiling.lua expects; pass redkeeper's own script's ARGV after `--` to run that).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
host=127.0.0.1 port=6379 clients=1 pipeline=64 requests=1000000 keyspace=1000
script="$here/fixed_window_ceiling.lua"
while getopts "h:p:c:P:n:r:s:" opt; do
  case "$opt" in
    h) host=$OPTARG ;; p) port=$OPTARG ;; c) clients=$OPTARG ;; P) pipeline=$OPTARG ;;
    n) requests=$OPTARG ;; r) keyspace=$OPTARG ;; s) script=$OPTARG ;;
    *) echo "usage: $0 [-h host] [-p port] [-c clients] [-P pipeline] [-n requests] [-r keyspace] [-s script.lua] [-- ARGV...]" >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
if [[ $# -eq 0 ]]; then set -- 1000000000 3600000 1; fi

sha="$(redis-cli -h "$host" -p "$port" -x SCRIPT LOAD < "$script")"
if [[ ! "$sha" =~ ^[0-9a-f]{40}$ ]]; then
  echo "redis_ceiling.sh: SCRIPT LOAD failed: $sha" >&2
  exit 1
fi

# Keys of their own per script (another script's state in them would not parse).
tag="ceil_$(basename "$script" .lua)"
# Same key shape as redkeeper's layout (state and block marker in one hash-tag slot), same limit and
# window as the Node benchmark: every hit is admitted. __rand_int__ spreads hits over the keyspace.
out="$(redis-benchmark -h "$host" -p "$port" -c "$clients" -P "$pipeline" -n "$requests" -r "$keyspace" --csv \
  EVALSHA "$sha" 2 "$tag:limiter:bench:{__rand_int__}" "$tag:limiter:bench:{__rand_int__}:block" "$@")"
# --csv: a header line, then "<test>","<rps>",...
rps="$(printf '%s\n' "$out" | awk -F'","' 'NR == 2 { print $2 }')"
if [[ -z "$rps" ]]; then
  echo "redis_ceiling.sh: could not read redis-benchmark output:" >&2
  printf '%s\n' "$out" >&2
  exit 1
fi
printf '%s ops/s\n' "$rps"
