# bench_lib: what the benchmark scripts (bench_*.sh) share, sourced by
# them, never run: their option parsing and the start of a vecsnapd they
# measure.  Needs bash and curl.

# bench_args SPEC ARGS...: --quick, -h/--help and options that take a
# positive whole number.  SPEC lists those options without their dashes,
# each NAME (into the variable NAME, '-' read as '_') or NAME=VAR.  Sets
# quick (1 with --quick; VS_BENCH_QUICK, else 0, by default); prints the
# script's `usage` and exits 0 for --help, 2 on misuse.
bench_args() {
  local spec=$1 opt var w
  shift
  quick=${VS_BENCH_QUICK:-0}
  while [ $# -gt 0 ]; do
    case $1 in
      --quick) quick=1; shift; continue ;;
      -h | --help) usage; exit 0 ;;
    esac
    opt=${1#--} var=
    for w in $spec; do
      [ "--${w%%=*}" = "$1" ] || continue
      var=${w#*=}
      [ "$var" = "$w" ] && var=${opt//-/_}
    done
    [ -n "$var" ] && [ $# -ge 2 ] && [[ $2 =~ ^[1-9][0-9]{0,8}$ ]] ||
      { usage >&2; exit 2; }
    printf -v "$var" %s "$2"
    shift 2
  done
}

# bench_start LOG [ARGS...]: $VECSNAPD --port 0 ARGS on 127.0.0.1, its
# stderr into LOG (environment assignments before the call reach it).
# Sets pid, and base once /readyz answers 200; returns 1 when the server
# did not get there (the caller reports it and its log).
bench_start() {
  local log=$1 port= ready=
  shift
  "$VECSNAPD" --port 0 "$@" 2>"$log" &
  pid=$!
  for _ in $(seq 1 2000); do
    port=$(sed -n 's/.*listening on http:\/\/[^:]*:\([0-9]*\).*/\1/p' "$log")
    if [ -n "$port" ] && curl -sf -o /dev/null "http://127.0.0.1:$port/readyz"
    then
      ready=1
      break
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.01
  done
  base=http://127.0.0.1:$port
  [ -n "$ready" ]
}
