#!/usr/bin/env bash
# tests/test_policy_env.sh SOURCE_DIR - E8 of schedulers/sched.h: a policy
# knows the core only through the environment declared in sched.h.
#
# The policies' sources (schedulers/fifo.c, global.c, ws.c, numa.c and
# ws_common.h) must not include runtime_internal.h, reach into the runtime
# or a worker (rt->..., w->...), read the core's counters (STAT_POLLS, the
# stats array) or its idle state (num_idle, num_searching), or call the
# core's wake directly (rt_notify_parked): sched_env_* and sched_worker_*
# are the way. A fifth policy added to the list below is held to the same.
set -euo pipefail
src=${1:?usage: test_policy_env.sh SOURCE_DIR}
policies=(schedulers/fifo.c schedulers/global.c schedulers/ws.c schedulers/numa.c schedulers/ws_common.h)
pattern='runtime_internal\.h|\brt->|->cfg\b|STAT_POLLS|->stats\b|\bnum_idle\b|\bnum_searching\b|\brt_notify_parked\b|\bw->|->policy_local\b|->interval_tick\b|\bworker_rand\('
bad=0
for f in "${policies[@]}"; do
    if hits=$(grep -nE "$pattern" "$src/$f"); then
        while read -r line; do
            echo "test_policy_env: $f:$line: a policy reaches past the environment of schedulers/sched.h (E8)"
        done <<<"$hits"
        bad=1
    fi
done
if [ "$bad" -eq 0 ]; then echo "test_policy_env: ${#policies[@]} policy sources use only the environment"; fi
exit "$bad"
