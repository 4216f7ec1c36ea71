# Start, check and stop the control plane's processes by PID.
# Sourced by up and down. Each pid file holds "PID START" where START is the
# process's start time in clock ticks since boot (field 22 of /proc/PID/stat),
# so a PID the kernel has since reused for another process is never signalled.
# The process kubelet writes the same format for each container it runs.

proc_start() {  # pid -> start ticks, or nothing when no such process
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }  # the command name may hold spaces; skip past it
    awk '{print $20}' <<<"$stat"
}

pid_alive() {  # pidfile
    local pid start
    [[ -f "$1" ]] || return 1
    read -r pid start <"$1" || return 1
    [[ -n "$pid" && "$(proc_start "$pid")" == "$start" ]]
}

is_running() { pid_alive "$E2E_STATE/pids/$1.pid"; }

# Start a command in its own session, so it outlives the shell that started it
# and a Ctrl-C in that shell does not reach it; its output goes to logs/NAME.log.
start_process() {  # name command...
    local name=$1 pid
    shift
    echo "[up $(date +%H:%M:%S)] starting $name (log: $LOGS/$name.log)" >&2
    setsid "$@" >>"$LOGS/$name.log" 2>&1 </dev/null &
    pid=$!
    echo "$pid $(proc_start "$pid")" >"$E2E_STATE/pids/$name.pid"
}

# SIGTERM every process recorded under the state directory, SIGKILL what is left
# after the grace period. Containers run by the kubelet lead their own process
# group, so the whole group is signalled.
stop_all() {  # state-dir
    local state=$1 grace=${KITARU_E2E_STOP_GRACE:-10} file pid start targets=() signal
    [[ -d "$state" ]] || return 0
    shopt -s nullglob
    for file in "$state"/pids/*.pid "$state"/kubelet/pods/*/*/pid; do
        pid_alive "$file" || continue
        read -r pid start <"$file"
        if [[ "$file" == */kubelet/pods/* ]]; then targets+=("-$pid"); else targets+=("$pid"); fi
        echo "stopping ${file#"$state"/} (pid $pid)"
    done
    shopt -u nullglob
    ((${#targets[@]})) || return 0
    for signal in TERM KILL; do
        kill -s "$signal" -- "${targets[@]}" 2>/dev/null || true
        local deadline=$((SECONDS + grace)) left
        while ((SECONDS < deadline)); do
            left=0
            for pid in "${targets[@]}"; do kill -0 -- "$pid" 2>/dev/null && left=1; done
            ((left)) || return 0
            sleep 0.2
        done
        echo "still running after SIG$signal: ${targets[*]}"
    done
}
