#!/usr/bin/env bash
# valgrind-report.sh <log-dir>: the verdict of `make check-valgrind`.
# Each harness case ran under memcheck with --log-file=<log-dir>/vg.%p.log
# (forked children are silent). Fails when a log shows a memory error or a
# definite leak (--errors-for-leak-kinds=definite makes those count as errors),
# printing that log; fails too when no log was written (valgrind did not run).
set -u
dir=$1
shopt -s nullglob
logs=("$dir"/vg.*.log)
[ ${#logs[@]} -gt 0 ] || { echo "valgrind: no logs in $dir" >&2; exit 1; }
bad=0
for log in "${logs[@]}"; do
    summary=$(grep -h 'ERROR SUMMARY:' "$log" | tail -n 1)
    if [ -z "$summary" ]; then
        # Killed before the summary (timeout, crash): not a pass.
        echo "=== $log: no ERROR SUMMARY ($(grep -m1 'Command:' "$log" | sed 's/^==[0-9]*== //'))"
        bad=1
    elif ! grep -q 'ERROR SUMMARY: 0 errors' <<<"$summary"; then
        echo "=== $log"
        sed 's/^==[0-9]*== //' "$log"
        bad=1
    fi
done
echo "valgrind: ${#logs[@]} processes checked, $([ $bad = 0 ] && echo 'no memory error, no definite leak' || echo 'FAILURES above')"
exit $bad
