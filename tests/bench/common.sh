# Helpers shared by run.sh and smoke.sh (sourced, bash).
# shellcheck shell=bash

# True when something accepts connections on 127.0.0.1:$1.
port_open() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Prints a port that nothing listens on, below the ephemeral range so that
# the load generator's own outgoing connections cannot be holding it.
free_port() {
    local p
    for _ in $(seq 1 50); do
        p=$((20000 + RANDOM % 12000))
        if ! port_open "$p"; then
            echo "$p"
            return 0
        fi
    done
    echo "no free port found" >&2
    return 1
}

# Waits up to 10 s until process $2 accepts on port $1; fails if it exits.
wait_listening() {
    for _ in $(seq 1 100); do
        kill -0 "$2" 2>/dev/null || return 1
        port_open "$1" && return 0
        sleep 0.1
    done
    return 1
}

# Field $2 (VmRSS, VmHWM: peak resident set) of process $1 in KiB, from
# /proc/<pid>/status.
status_kib() {
    awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status" 2>/dev/null
}
