#!/usr/bin/env bash
# Jobs over HTTP end to end: the list, one record, cancel, and the
# Server-Sent Events stream of a job (20 listeners at once, order and
# percentages, the final event, Last-Event-ID replay, a late listener,
# heartbeats, cancellation).  The jobs are imports sent slowly with curl
# --limit-rate, so that they run long enough to be watched.  The server
# runs with VECSNAP_SSE_HEARTBEAT_MS=300 (the default is 15 s).
# See lib.sh for how the server is driven; VECSNAP names the vecsnap tool.
set -u
. "$(dirname "$0")/lib.sh"
VECSNAP=${VECSNAP:-src/vecsnap}
SSE_TIMEOUT=60

# check_stream JOB FILE FINAL-EVENT: parses an SSE transcript;
# prints "ok" when ids increase, percentages never go down, every frame has
# the job's fields and the last frame is FINAL-EVENT; else the problem.
check_stream() {
  node -e '
    const fs = require("fs");
    const [file, final, job] = process.argv.slice(1);
    const text = fs.readFileSync(file, "utf8");
    const frames = text.split("\n\n").filter(f => f.trim() &&
      !f.split("\n").every(l => l.startsWith(":")));
    let last = 0, pct = -1, out = "ok";
    const evs = [];
    for (const f of frames) {
      const m = {};
      for (const l of f.split("\n")) {
        if (l.startsWith(":")) continue;
        const i = l.indexOf(": ");
        m[l.slice(0, i)] = l.slice(i + 2);
      }
      const id = Number(m.id), d = JSON.parse(m.data);
      evs.push(m.event);
      if (!(id > last)) { out = "ids not increasing at " + m.id; break; }
      last = id;
      if (d.percentage < pct) { out = "percentage went down at " + m.id; break; }
      pct = d.percentage;
      for (const k of ["job", "operation", "state", "percentage", "current",
                       "total", "message"])
        if (!(k in d)) out = "no " + k + " in frame " + m.id;
      if (d.job !== job) out = "frame " + m.id + " of job " + d.job;
    }
    if (out === "ok" && evs[evs.length - 1] !== final)
      out = "last event is " + evs[evs.length - 1] + ", " + evs.length + " frames";
    if (out === "ok" && evs.slice(0, -1).some(e => e !== "progress"))
      out = "a non-progress event before the end: " + evs.join(",");
    process.stdout.write(out);' "$2" "$3" "$1"
}
# frame_ids FILE: the ids of the frames, comma-separated
frame_ids() {
  sed -n 's/^id: //p' "$1" | paste -sd, -
}
# events JOB [curl args...]: the whole stream of a job into $tmp/sse
events() {
  local j=$1; shift
  code=$(timeout $SSE_TIMEOUT curl -sN -o "$tmp/sse" -D "$tmp/headers" \
    -w '%{http_code}' "$@" "$base/v1/jobs/$j/events")
}
# running_job: waits for the one running job and prints its id
running_job() {
  local id=
  for _ in $(seq 1 200); do
    id=$(curl -s "$base/v1/jobs" | node -e '
      const j = JSON.parse(require("fs").readFileSync(0));
      const r = j.jobs.filter(x => x.state === "running");
      process.stdout.write(r.length === 1 ? r[0].id : "");')
    [ -n "$id" ] && break
    sleep 0.05
  done
  echo "$id"
}
# slow_import RATE FILE OUT: an import sent at RATE bytes/s, in the
# background (sets $upload to its PID; status and body go to OUT)
slow_import() {
  curl -s -o "$2.body" -w '%{http_code}' --limit-rate "$1" -X POST \
    "$base/v1/import?mode=merge" --data-binary @"$2" >"$3" &
  upload=$!
}

"$VECSNAP" generate --count 20000 --dim 64 --collection slow --seed 5 \
  "$tmp/slow.vsnap" >/dev/null
"$VECSNAP" generate --count 40000 --dim 64 --collection slower --seed 6 \
  "$tmp/slower.vsnap" >/dev/null

VECSNAP_SSE_HEARTBEAT_MS=300 start --threads 4

# ---- the table when empty, unknown jobs, methods -------------------------------
expect "no jobs yet" 200 '{"jobs":[]}' GET /v1/jobs
nojob=j-20200101T000000-abcdef
expect_err "unknown job" 404 not_found "no job '$nojob'" GET "/v1/jobs/$nojob"
expect_err "unknown job, not an id" 404 not_found "no job 'x%y'" GET "/v1/jobs/x%25y"
expect_err "cancel an unknown job" 404 not_found "no job" DELETE "/v1/jobs/$nojob"
expect_err "events of an unknown job" 404 not_found "no job" \
  GET "/v1/jobs/$nojob/events"
expect_err "POST on the list" 405 method_not_allowed "POST" POST /v1/jobs
expect_err "PUT on a job" 405 method_not_allowed "PUT" PUT "/v1/jobs/$nojob" \
  -H "$J" -d '{}'
has "405 lists the job methods" "$(header Allow)" "GET, HEAD, DELETE"
expect_err "POST on events" 405 method_not_allowed "POST" POST "/v1/jobs/$nojob/events"
expect_err "a bad Last-Event-ID is checked first" 400 invalid "Last-Event-ID" \
  GET "/v1/jobs/$nojob/events" -H 'Last-Event-ID: x'

# ---- a running job: its record, 20 listeners, a late one ------------------------
slow_import 1M "$tmp/slow.vsnap" "$tmp/slow.code"
id=$(running_job)
has "the import shows as a running job" "$id" "j-"
req GET "/v1/jobs/$id"
same "GET a job" "$code" 200
same "the record's fields" "$(jget "$body" 'Object.keys(j.job).sort().join()')" \
  "created,current,error,finished,id,message,operation,percentage,result,started,state,total"
same "the record while it runs" \
  "$(jget "$body" '[j.job.id, j.job.operation, j.job.state, j.job.finished, j.job.result, j.job.error].join()')" \
  "$id,import,running,,,"
has "started is a time" "$(jget "$body" 'j.job.started')" "T"
for i in $(seq 1 20); do
  timeout $SSE_TIMEOUT curl -sN -o "$tmp/ev$i" -D "$tmp/hd$i" \
    "$base/v1/jobs/$id/events" &
  listeners[$i]=$!
done
sleep 1.5
timeout $SSE_TIMEOUT curl -sN -o "$tmp/late" "$base/v1/jobs/$id/events" &
late=$!
wait "$upload"
same "the slow import answered 200" "$(cat "$tmp/slow.code")" 200
ok=0 done_frames=0
for i in $(seq 1 20); do
  wait "${listeners[$i]}" && ok=$((ok + 1))
  [ "$(check_stream "$id" "$tmp/ev$i" done)" = ok ] &&
    done_frames=$((done_frames + 1))
done
same "20 listeners: every stream ended cleanly" "$ok" 20
same "20 listeners: each saw ordered frames and the final done" "$done_frames" 20
same "a listener's stream" "$(check_stream "$id" "$tmp/ev1" done)" ok
has "progress frames came" "$(cat "$tmp/ev1")" "event: progress"
tr -d '\r' <"$tmp/hd1" >"$tmp/headers"
same "events: status" "$(sed -n '1s/^HTTP\/1.1 \([0-9]*\).*/\1/p' "$tmp/headers")" 200
same "events: content type" "$(header Content-Type)" "text/event-stream"
same "events: no cache" "$(header Cache-Control)" "no-cache"
same "events: no proxy buffering" "$(header X-Accel-Buffering)" "no"
same "events: chunked" "$(header Transfer-Encoding)" "chunked"
final=$(grep -A2 '^event: done' "$tmp/ev1" | sed -n 's/^data: //p')
same "the done frame carries the result" \
  "$(jget "$final" '[j.state, j.percentage, j.result.import.records, j.result.import.mode].join()')" \
  "done,100,20000,merge"
wait "$late"
same "a listener that came late" "$(check_stream "$id" "$tmp/late" done)" ok
first=$(sed -n 's/^data: //p' "$tmp/late" | head -n 1)
same "the late listener's first frame is the job's state" \
  "$(jget "$first" 'j.job + " " + j.operation')" "$id import"
all=$(frame_ids "$tmp/ev1")
n=$(sed -n 's/^id: //p' "$tmp/ev1" | tail -n 1)
same "every listener saw the same frames" \
  "$(for i in $(seq 1 20); do frame_ids "$tmp/ev$i"; done | sort -u | wc -l)" 1
req GET "/v1/jobs/$id"
same "the record when done" \
  "$(jget "$body" '[j.job.state, j.job.percentage, j.job.result.import.records, j.job.error].join()')" \
  "done,100,20000,"
has "finished is a time" "$(jget "$body" 'j.job.finished')" "T"

# ---- a finished job: replay and late listeners ---------------------------------
events "$id"
same "late listener on a finished job: status" "$code" 200
same "late listener on a finished job: the state, then done" \
  "$(sed -n 's/^event: //p' "$tmp/sse" | paste -sd, -)" "progress,done"
same "late listener: ids" "$(frame_ids "$tmp/sse")" "$((n - 1)),$n"
events "$id" -H 'Last-Event-ID: 1'
same "Last-Event-ID 1 replays from 2" "$(frame_ids "$tmp/sse")" "${all#1,}"
same "the replay is in order" "$(check_stream "$id" "$tmp/sse" done)" ok
events "$id" -H "Last-Event-ID: $((n - 1))"
same "Last-Event-ID before the final event" "$(frame_ids "$tmp/sse")" "$n"
events "$id" -H "Last-Event-ID: $n"
same "Last-Event-ID of the final event: status" "$code" 200
same "Last-Event-ID of the final event: nothing more" "$(frame_ids "$tmp/sse")" ""
events "$id" -G -d last_event_id=1
same "?last_event_id= replays too" "$(frame_ids "$tmp/sse")" "${all#1,}"
events "$id" -H "Last-Event-ID: $((n - 1))" -G -d last_event_id=1
same "the header wins over the query" "$(frame_ids "$tmp/sse")" "$n"
events "$id" -H 'Last-Event-ID: 999999'
same "an id from the future: the current state" \
  "$(sed -n 's/^event: //p' "$tmp/sse" | paste -sd, -)" "progress,done"
for bad in abc -1 +1 ' 1x' 1.0 0x10 99999999999999999999999; do
  req GET "/v1/jobs/$id/events" -H "Last-Event-ID: $bad"
  same "Last-Event-ID '$bad' is refused" "$code" 400
  has "Last-Event-ID '$bad': why" "$body" "is not a decimal event number"
done
req GET "/v1/jobs/$id/events" -H 'Last-Event-ID;'
same "an empty Last-Event-ID is refused" "$code" 400
expect_err "a bad last_event_id" 400 invalid "last_event_id '1e3'" \
  GET "/v1/jobs/$id/events?last_event_id=1e3"
code=$(timeout 10 curl -s -I -o /dev/null -w '%{http_code}' "$base/v1/jobs/$id/events")
same "HEAD on events answers at once" "$code" 200
expect_err "cancel a finished job" 409 conflict "already finished" \
  DELETE "/v1/jobs/$id"

# ---- a failed job ends with an error event --------------------------------------
head -c 100000 "$tmp/slow.vsnap" >"$tmp/short.vsnap"
req POST /v1/import --data-binary @"$tmp/short.vsnap"
same "a truncated import fails" "$code" 422
req GET /v1/jobs
fid=$(jget "$body" 'j.jobs[0].id')
same "the failed job's record" \
  "$(jget "$body" '[j.jobs[0].state, j.jobs[0].error.code].join()')" "failed,corrupt"
events "$fid"
same "a failed job's stream" "$(check_stream "$fid" "$tmp/sse" error)" ok
has "its error event says corrupt" "$(cat "$tmp/sse")" '"error":{"code":"corrupt"'

# ---- heartbeats while nothing happens -------------------------------------------
# The body's first bytes come after 2.5 s: the job runs and reports nothing.
{ sleep 2.5; cat "$tmp/slow.vsnap"; } |
  curl -s -o /dev/null -w '%{http_code}' -X POST -T - \
    "$base/v1/import?mode=merge" >"$tmp/hb.code" &
upload=$!
hid=$(running_job)
has "the quiet import runs" "$hid" "j-"
events "$hid"
wait "$upload"
same "the quiet import succeeded" "$(cat "$tmp/hb.code")" 200
beats=$(grep -c '^: heartbeat$' "$tmp/sse")
[ "$beats" -ge 2 ]
same "heartbeats every 300 ms while the job is quiet ($beats)" "$?" 0
same "the stream with heartbeats still ends with done" \
  "$(check_stream "$hid" "$tmp/sse" done)" ok

# ---- cancel a running job: DELETE, an error event "cancelled" -------------------
req GET /v1/collections
before=$body
slow_import 500K "$tmp/slower.vsnap" "$tmp/cancel.code"
cid=$(running_job)
has "the job to cancel runs" "$cid" "j-"
timeout $SSE_TIMEOUT curl -sN -o "$tmp/cev" "$base/v1/jobs/$cid/events" &
cl=$!
sleep 1
req DELETE "/v1/jobs/$cid"
same "DELETE a running job" "$code" 202
same "DELETE answers the record" "$(jget "$body" 'j.job.id')" "$cid"
wait "$cl"
same "the listener's stream ended" "$?" 0
same "the cancelled stream ends with an error event" \
  "$(check_stream "$cid" "$tmp/cev" error)" ok
has "the error event says cancelled" "$(cat "$tmp/cev")" '"error":{"code":"cancelled"'
wait "$upload"
same "the cancelled import answers 409" "$(cat "$tmp/cancel.code")" 409
has "with code cancelled" "$(cat "$tmp/slower.vsnap.body")" '"code":"cancelled"'
req GET "/v1/jobs/$cid"
same "the record says cancelled" \
  "$(jget "$body" '[j.job.state, j.job.error.code].join()')" "cancelled,cancelled"
expect_err "cancel it again" 409 conflict "already finished" DELETE "/v1/jobs/$cid"
req GET /v1/collections
same "a cancelled import changed nothing" "$body" "$before"

# ---- the list --------------------------------------------------------------------
req GET /v1/jobs
same "the list holds every job" "$(jget "$body" 'j.jobs.length')" 4
same "newest first" "$(jget "$body" 'j.jobs.map(x => x.id).join()')" \
  "$cid,$hid,$fid,$id"
same "their states" "$(jget "$body" 'j.jobs.map(x => x.state).join()')" \
  "cancelled,done,failed,done"
req HEAD /v1/jobs -I
same "HEAD on the list" "$code" 200

stop
# records survive a restart
DATA_DIR=$tmp/data start
req GET /v1/jobs
same "the records survive a restart" "$(jget "$body" 'j.jobs.map(x => x.state).join()')" \
  "cancelled,done,failed,done"
events "$id"
same "a restored job's stream ends with done" "$(check_stream "$id" "$tmp/sse" done)" ok
stop
summary
