#!/usr/bin/env bash
# make gpu-check: everything GPU-side measured in one call, on a bare CUDA machine with no network.
#
#   scripts/gpu_check.sh [--dry-run] [--out DIR] [--checkpoint FILE]
#
# Runs from the source tree with the machine's own Python and torch. The only other packages it installs are the
# wheels in $GPU_CHECK_WHEELS (default wheels/gpu_check), filled beforehand on a machine with network by
# `make gpu-wheels` (the list: scripts/gpu_check_wheels.txt; the folder stays under 64 MiB), into .gpu_check/site,
# without an index. The steps, their budgets and the report: rgbt_seg_core/benchmarks/gpu_check.py; how to read
# gpu_check.json and gpu_check.md: docs/benchmarks.md. --dry-run runs every step on the CPU, small and short.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=gpu_check_out
ARGS=()
DRY=0
while [ $# -gt 0 ]; do
    case "$1" in
        --dry-run) DRY=1; ARGS+=(--dry-run) ;;
        --out) OUT="$2"; shift ;;
        --checkpoint) ARGS+=(--checkpoint "$2"); shift ;;
        -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
        *) echo "gpu_check: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
PY="${PYTHON:-python3}"
WHEELS="${GPU_CHECK_WHEELS:-wheels/gpu_check}"
LIMIT_S="${GPU_CHECK_LIMIT_S:-480}"  # the whole call: 8 minutes

# ROS 2 must never multicast off the machine (Jazzy+ and Humble spellings), in a domain of its own
export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST ROS_LOCALHOST_ONLY=1
export ROS_DOMAIN_ID="${ROS_DOMAIN_ID:-$(( (RANDOM % 100) + 1 ))}"

"$PY" -c "import torch" 2>/dev/null || { echo "gpu_check: $PY has no torch (this script uses the machine's own)" >&2; exit 2; }
echo "=== gpu_check: plan (budget ${LIMIT_S} s in all) ==="
echo "wheel list (scripts/gpu_check_wheels.txt), folder $WHEELS:"
total=0
while read -r req _; do
    case "$req" in ''|'#'*) continue ;; esac
    name="$(echo "${req%%[=<>]*}" | tr '-' '_')"
    found="$(ls "$WHEELS"/ 2>/dev/null | grep -i "^${name}-" | head -n 1 || true)"
    if [ -n "$found" ]; then
        size=$(stat -c %s "$WHEELS/$found"); total=$(( total + size ))
        echo "  $req: $found ($(( size / 1024 )) KiB)"
    else
        echo "  $req: not in the folder"
    fi
done < scripts/gpu_check_wheels.txt
echo "  $(( total / 1048576 )) MiB in all (at most 64)"
if [ "$total" -gt 67108864 ]; then echo "gpu_check: the wheels exceed 64 MiB" >&2; exit 2; fi

SITE=.gpu_check/site
if ls "$WHEELS"/*.whl >/dev/null 2>&1; then
    if [ "$DRY" -eq 1 ]; then
        echo "dry run: would install $(ls "$WHEELS"/*.whl | wc -l) wheels into $SITE (--no-index --no-deps)"
    elif ! "$PY" -m pip install --quiet --no-index --no-deps --target "$SITE" --upgrade "$WHEELS"/*.whl; then
        # wheels for another Python (they are cp312) must not cost the GPU window: measure without them
        echo "gpu_check: the wheels did not install into $SITE for $("$PY" -V 2>&1); going on without them" >&2
        rm -rf "$SITE"
    fi
fi
export PYTHONPATH="$PWD:$PWD/$SITE${PYTHONPATH:+:$PYTHONPATH}"
export GPU_CHECK_SITE="$PWD/$SITE"  # scripts/gpu_check.py runs its .pth files (PYTHONPATH does not)
export PYTHONDONTWRITEBYTECODE=1
exec timeout --kill-after=10 "$LIMIT_S" "$PY" scripts/gpu_check.py ${ARGS[@]+"${ARGS[@]}"} --out "$OUT"
