#!/bin/sh
# Fails if the simulator's core modules import each other in a cycle (issue 14: they form a tree).
# Reads each module's `crate::<module>` paths and runs tsort, which reports any cycle.
set -eu
cd "$(dirname "$0")/src"
modules="world client events params producer stream observe"
pairs=""
for m in $modules; do
    # A module is its file, or its folder with every child module in it.
    files=$m.rs
    [ -f "$files" ] || files=$(ls $m/*.rs)
    for dep in $(grep -ho 'crate::[a-z_]*' $files | sed 's/crate:://' | sort -u); do
        case " $modules " in *" $dep "*) [ "$dep" != "$m" ] && pairs="$pairs $m $dep" ;; esac
    done
    pairs="$pairs $m $m"
done
if ! echo "$pairs" | tsort >/dev/null; then
    echo "import cycle among: $modules (tsort names the loop above)" >&2
    exit 1
fi
echo "sim modules form a tree (no import cycle among $modules)"
