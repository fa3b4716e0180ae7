#!/usr/bin/env bash
# tests/test_layering.sh BUILD_DIR SOURCE_DIR [NM] - dependencies point down.
#
# The layers, lowest first (README, "Architecture"):
#   0 common/            atomics, queues, clock, topology, errors, ...
#   1 timers/ reactor/   know only wakers and common/; not each other
#   2 schedulers/        the runtime: task model, core, policies, TCP
#   3 workloads/ bench/  the harness
# From the object files of the build (nm), every undefined symbol of a
# common/, timers/ or reactor/ object must not be defined by an object of
# a higher layer, nor (for timers/ and reactor/) by the other one of the
# same rank. A call up the layers - a lower layer asking the runtime for
# its driver, say - fails here with the symbol and both objects named.
set -euo pipefail
build=${1:?usage: test_layering.sh BUILD_DIR SOURCE_DIR [NM]}
src=${2:?usage: test_layering.sh BUILD_DIR SOURCE_DIR [NM]}
nm=${3:-nm}

rank_of() { # by the path below the target's .dir/, so the checkout's own path
    # (a worktree named /work/wt/timers, say) cannot rank every object
    case "/${1#*.dir/}" in
    */common/*) echo 0 ;;
    */timers/*|*/reactor/*) echo 1 ;;
    */schedulers/*) echo 2 ;;
    */workloads/*|*/bench/*) echo 3 ;;
    *) echo -1 ;;
    esac
}
layer_of() { # the directory name after the target's .dir/
    local p=${1#*.dir/}
    echo "${p%%/*}"
}

# Objects whose source still exists (a moved or deleted file leaves a stale
# object behind in an incremental build).
objs=()
while read -r o; do
    rel=${o#*.dir/}
    [ -f "$src/${rel%.o}" ] && objs+=("$o")
done < <(find "$build/CMakeFiles" -path '*.dir/*' -name '*.c.o' | sort)
if [ "${#objs[@]}" -eq 0 ]; then
    echo "test_layering: no object files under $build/CMakeFiles" >&2
    exit 1
fi

# symbol -> defining object
declare -A def_of
for o in "${objs[@]}"; do
    [ "$(rank_of "$o")" -ge 0 ] || continue
    while read -r sym; do def_of[$sym]=$o; done < <("$nm" --defined-only -g "$o" | awk 'NF == 3 {print $3}')
done

bad=0 checked=0
for o in "${objs[@]}"; do
    r=$(rank_of "$o")
    [ "$r" -ge 0 ] && [ "$r" -le 1 ] || continue
    checked=$((checked + 1))
    while read -r sym; do
        d=${def_of[$sym]:-}
        [ -n "$d" ] || continue
        dr=$(rank_of "$d")
        if [ "$dr" -gt "$r" ] || { [ "$dr" -eq "$r" ] && [ "$(layer_of "$d")" != "$(layer_of "$o")" ]; }; then
            echo "test_layering: $(layer_of "$o")/$(basename "$o" .o) uses $sym, defined in $(layer_of "$d")/$(basename "$d" .o) (not below it)"
            bad=$((bad + 1))
        fi
    done < <("$nm" --undefined-only "$o" | awk '{print $NF}')
done
if [ "$checked" -eq 0 ]; then
    echo "test_layering: found no common/, timers/ or reactor/ objects" >&2
    exit 1
fi
if [ "$bad" -ne 0 ]; then
    echo "test_layering: $bad upward or sideways reference(s)"
    exit 1
fi
echo "test_layering: $checked objects of common/, timers/, reactor/ depend only downwards"
