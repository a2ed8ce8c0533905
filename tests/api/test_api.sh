#!/usr/bin/env bash
# The HTTP API end to end (probes, configuration, collections, upserts,
# search, limits, metrics); see lib.sh for how the server is driven.
set -u
. "$(dirname "$0")/lib.sh"

# ---- configuration and misuse ------------------------------------------------
"$VECSNAPD" --help >"$tmp/out" 2>&1
same "--help exits 0" $? 0
has "--help lists the keys" "$(cat "$tmp/out")" "--max-decompressed-bytes"
"$VECSNAPD" --version >"$tmp/out" 2>&1
same "--version exits 0" $? 0
has "--version names the program" "$(cat "$tmp/out")" "vecsnapd "
"$VECSNAPD" --frobnicate 1 >"$tmp/out" 2>&1
same "unknown flag is misuse" $? 2
"$VECSNAPD" --listen 0.0.0.0 >"$tmp/out" 2>&1
same "non-loopback listen without a token is refused" $? 2
has "the refusal says why" "$(cat "$tmp/out")" "auth token"
"$VECSNAPD" --port 70000 >"$tmp/out" 2>&1
same "port out of range is misuse" $? 2
printf 'port = 1\n# a comment\nbogus_key = 3\n' >"$tmp/bad.conf"
"$VECSNAPD" --config "$tmp/bad.conf" >"$tmp/out" 2>&1
same "unknown config key is an error" $? 2
has "the error names file and line" "$(cat "$tmp/out")" "bad.conf:3: unknown key 'bogus_key'"
"$VECSNAPD" --config "$tmp/missing.conf" >"$tmp/out" 2>&1
same "missing config file is an error" $? 2

# file < environment < flags, observed through the body limit in a 413
printf '# limits\nmax_body_bytes = 2K   # file\nlog_level = info\n' >"$tmp/good.conf"
start --config "$tmp/good.conf"
expect "create for the limit checks" 201 \
  '{"name":"lim","dimension":1,"metric":"dot","count":0}' \
  PUT /v1/collections/lim -H "$J" -d '{"dimension":1,"metric":"dot"}'
head -c 3000 /dev/zero >"$tmp/3k"
expect_err "config file sets the body limit" 413 too_large "limit of 2048" \
  PUT /v1/collections/lim/vectors -H "$J" --data-binary @"$tmp/3k"
stop
VECSNAP_MAX_BODY_BYTES=4K start --config "$tmp/good.conf"
expect_err "environment overrides the file" 413 too_large "limit of 4096" \
  PUT /v1/collections/lim/vectors -H "$J" --data-binary @"$tmp/3k" \
  --data-binary @"$tmp/3k"
stop
VECSNAP_MAX_BODY_BYTES=4K start --config "$tmp/good.conf" --max-body-bytes=1K
expect_err "a flag overrides the environment" 413 too_large "limit of 1024" \
  PUT /v1/collections/lim/vectors -H "$J" --data-binary @"$tmp/3k"
stop

# ---- the server under test ---------------------------------------------------
rm -rf "$tmp/data"
start --max-body-bytes 16M --max-decompressed-bytes 8M --threads 2
has "start-up says loopback only" "$(cat "$tmp/log")" "loopback only"

expect "healthz" 200 '{"status":"ok"}' GET /healthz
expect "readyz when loaded" 200 '{"status":"ready"}' GET /readyz
req HEAD /healthz -I
same "HEAD on a GET route" "$code" 200
has "every reply has a request id" "$(cat "$tmp/headers")" "X-Request-Id: "
expect_err "unknown path" 404 not_found "no route for '/nope'" GET /nope
expect_err "trailing slash is another path" 404 not_found "no route" \
  GET /v1/collections/
expect_err "wrong method" 405 method_not_allowed "POST is not allowed" \
  POST /healthz
has "405 lists Allow" "$(tr -d '\r' <"$tmp/headers")" "Allow: GET, HEAD"
expect_err "wrong method on a collection" 405 method_not_allowed "PATCH" \
  PATCH /v1/collections/x
has "Allow lists every method of the path" "$(tr -d '\r' <"$tmp/headers")" \
  "Allow: GET, HEAD, PUT, DELETE"
expect_err "a body where none is taken" 413 too_large "takes no request body" \
  GET /v1/collections -H "$J" -d '{}'

# ---- collections -------------------------------------------------------------
expect "empty list" 200 '{"collections":[]}' GET /v1/collections
expect "create" 201 '{"name":"docs","dimension":3,"metric":"cosine","count":0}' \
  PUT /v1/collections/docs -H "$J" -d '{"dimension":3,"metric":"cosine"}'
has "create gives Location" "$(tr -d '\r' <"$tmp/headers")" \
  "Location: /v1/collections/docs"
expect "create again, same shape" 200 \
  '{"name":"docs","dimension":3,"metric":"cosine","count":0}' \
  PUT /v1/collections/docs -H "$J" -d '{"dimension":3}'
expect_err "create again, other shape" 409 already_exists "dimension 3" \
  PUT /v1/collections/docs -H "$J" -d '{"dimension":4,"metric":"dot"}'
expect_err "bad name" 400 invalid "" \
  PUT '/v1/collections/a%20b' -H "$J" -d '{"dimension":3}'
expect_err "dimension out of range" 400 invalid '\"dimension\" must be' \
  PUT /v1/collections/x -H "$J" -d '{"dimension":70000}'
expect_err "unknown field" 400 invalid 'unknown field \"dims\"' \
  PUT /v1/collections/x -H "$J" -d '{"dims":3}'
expect_err "bad metric" 400 invalid '\"metric\" must be' \
  PUT /v1/collections/x -H "$J" -d '{"dimension":3,"metric":"l7"}'
expect_err "not JSON" 400 invalid "body: " \
  PUT /v1/collections/x -H "$J" -d '{"dimension":'
expect_err "no body" 400 invalid "request body is empty" \
  PUT /v1/collections/x -H "$J"
expect_err "form-encoded body" 415 unsupported_media_type \
  "application/x-www-form-urlencoded" PUT /v1/collections/x -d '{"dimension":3}'
expect_err "compressed JSON where not accepted" 415 unsupported_media_type \
  "Content-Encoding 'gzip'" PUT /v1/collections/x -H "$J" \
  -H 'Content-Encoding: gzip' -d '{"dimension":3}'
expect "get" 200 '{"name":"docs","dimension":3,"metric":"cosine","count":0}' \
  GET /v1/collections/docs
expect_err "get missing" 404 not_found "no collection 'nope'" \
  GET /v1/collections/nope
expect "list" 200 \
  '{"collections":[{"name":"docs","dimension":3,"metric":"cosine","count":0}]}' \
  GET /v1/collections

# ---- records -----------------------------------------------------------------
expect "upsert JSON" 200 '{"upserted":3}' \
  PUT /v1/collections/docs/vectors -H "$J" \
  -d '{"vectors":[{"id":"a","vector":[1,0,0],"metadata":{"t":"x","n":[1,2]}},
       {"id":"b/c","vector":[0,1,0]},{"id":"z","vector":[0,0,1],"metadata":null}]}'
expect "get a record" 200 '{"id":"a","vector":[1,0,0],"metadata":{"t":"x","n":[1,2]}}' \
  GET /v1/collections/docs/vectors/a
expect "an id with an escaped slash" 200 '{"id":"b/c","vector":[0,1,0],"metadata":{}}' \
  GET '/v1/collections/docs/vectors/b%2Fc'
expect "floats come back exactly" 200 '{"upserted":1}' \
  PUT /v1/collections/docs/vectors -H "$J" \
  -d '{"vectors":[{"id":"f","vector":[0.1,-3.4028235e38,1e-45]}]}'
expect "shortest float text" 200 '{"id":"f","vector":[0.1,-3.4028235e+38,1e-45],"metadata":{}}' \
  GET /v1/collections/docs/vectors/f
expect_err "get a missing record" 404 not_found "no record 'q' in 'docs'" \
  GET /v1/collections/docs/vectors/q
expect_err "%00 in an id" 400 invalid "%00" GET '/v1/collections/docs/vectors/a%00b'
long=$(head -c 300 /dev/zero | tr '\0' 'x')
expect_err "an id over 256 bytes" 400 invalid "longer than 256" \
  GET "/v1/collections/docs/vectors/$long"
expect_err "upsert into a missing collection" 404 not_found "no collection" \
  PUT /v1/collections/nope/vectors -H "$J" -d '{"vectors":[]}'
expect_err "wrong dimension" 400 invalid "vectors[0]: " \
  PUT /v1/collections/docs/vectors -H "$J" -d '{"vectors":[{"id":"w","vector":[1,2]}]}'
has "nothing applied before the first record" "$body" '"upserted":0'
expect_err "unknown record key" 400 invalid "unknown key 'vec'" \
  PUT /v1/collections/docs/vectors -H "$J" -d '{"vectors":[{"id":"w","vec":[1,2,3]}]}'
expect_err "record without a vector" 400 invalid 'needs \"vector\"' \
  PUT /v1/collections/docs/vectors -H "$J" -d '{"vectors":[{"id":"w"}]}'
expect_err "metadata must be an object" 400 invalid "metadata" \
  PUT /v1/collections/docs/vectors -H "$J" -d '{"vectors":[{"id":"w","vector":[1,2,3],"metadata":[1]}]}'
expect_err "trailing garbage" 400 invalid "end of the body" \
  PUT /v1/collections/docs/vectors -H "$J" -d '{"vectors":[]} x'
expect_err "unsupported type" 415 unsupported_media_type "text/plain" \
  PUT /v1/collections/docs/vectors -H 'Content-Type: text/plain' -d 'x'
expect_err "unsupported encoding" 415 unsupported_media_type "compress" \
  PUT /v1/collections/docs/vectors -H "$J" -H 'Content-Encoding: compress' -d 'x'

printf '{"id":"n1","vector":[0.5,0.5,0]}\n\n{"id":"n2","vector":[0,0.5,0.5],"metadata":{"k":1}}\n' >"$tmp/ok.ndjson"
expect "upsert NDJSON" 200 '{"upserted":2}' \
  PUT /v1/collections/docs/vectors -H "$N" --data-binary @"$tmp/ok.ndjson"
printf '{"id":"m1","vector":[1,1,0]}\n{"id":"m2","vector":[1,1,1]}\n{"id":"m3","vector":[1]}\n{"id":"m4","vector":[1,0,1]}\n' >"$tmp/bad.ndjson"
expect_err "NDJSON error names the line" 400 invalid "line 3: " \
  PUT /v1/collections/docs/vectors -H "$N" --data-binary @"$tmp/bad.ndjson"
has "records before the bad line are applied" "$body" '"upserted":2'
expect "line 2 was applied" 200 '{"id":"m2","vector":[1,1,1],"metadata":{}}' \
  GET /v1/collections/docs/vectors/m2
expect_err "the bad line and after are not" 404 not_found "" \
  GET /v1/collections/docs/vectors/m4
printf '{"id":"x1","vector":[1,1,0]} {"id":"x2","vector":[1,1,0]}\n' >"$tmp/two.ndjson"
expect_err "two records on one line" 400 invalid "line 1: " \
  PUT /v1/collections/docs/vectors -H "$N" --data-binary @"$tmp/two.ndjson"

for enc in gzip br zstd; do
  case $enc in gzip) z="gzip -c" ;; br) z="brotli -c" ;; zstd) z="zstd -q -c" ;; esac
  printf '{"id":"%s","vector":[0,1,1]}\n' "$enc" | $z >"$tmp/body.$enc"
  expect "NDJSON with Content-Encoding $enc" 200 '{"upserted":1}' \
    PUT /v1/collections/docs/vectors -H "$N" -H "Content-Encoding: $enc" \
    --data-binary @"$tmp/body.$enc"
  expect "record from the $enc body" 200 "{\"id\":\"$enc\",\"vector\":[0,1,1],\"metadata\":{}}" \
    GET "/v1/collections/docs/vectors/$enc"
done
printf '{"vectors":[{"id":"gj","vector":[1,2,3]}]}' | gzip -c >"$tmp/doc.gz"
expect "JSON document gzip-encoded" 200 '{"upserted":1}' \
  PUT /v1/collections/docs/vectors -H "$J" -H 'Content-Encoding: gzip' \
  --data-binary @"$tmp/doc.gz"
head -c 1000 /dev/urandom >"$tmp/noise"
expect_err "corrupt compressed body" 400 invalid "" \
  PUT /v1/collections/docs/vectors -H "$N" -H 'Content-Encoding: gzip' \
  --data-binary @"$tmp/noise"
head -c 50000000 /dev/zero | tr '\0' ' ' | gzip -9 -c >"$tmp/bomb.gz"
expect_err "compression bomb" 413 too_large "decompressed data exceeds 8388608" \
  PUT /v1/collections/docs/vectors -H "$N" -H 'Content-Encoding: gzip' \
  --data-binary @"$tmp/bomb.gz"

# Bodies over 1 MiB stream through the parser thread; a large one is applied
# in several batches.
expect "collection for large bodies" 201 \
  '{"name":"big","dimension":8,"metric":"euclidean","count":0}' \
  PUT /v1/collections/big -H "$J" -d '{"dimension":8,"metric":"euclidean"}'
awk 'BEGIN { for (i = 0; i < 30000; i++)
  printf "{\"id\":\"r%d\",\"vector\":[%d,1,2,3,4,5,6,0.5],\"metadata\":{\"i\":%d}}\n", i, i, i }' >"$tmp/big.ndjson"
expect "large NDJSON body" 200 '{"upserted":30000}' \
  PUT /v1/collections/big/vectors -H "$N" --data-binary @"$tmp/big.ndjson"
expect "large chunked NDJSON body" 200 '{"upserted":30000}' \
  PUT /v1/collections/big/vectors -H "$N" -H 'Transfer-Encoding: chunked' \
  --data-binary @"$tmp/big.ndjson"
{ printf '{"vectors":['; awk 'BEGIN { for (i = 0; i < 30000; i++)
  printf "%s{\"id\":\"j%d\",\"vector\":[%d,1,2,3,4,5,6,-0.5]}", (i ? "," : ""), i, i }'
  printf ']}'; } >"$tmp/big.json"
expect "large JSON document" 200 '{"upserted":30000}' \
  PUT /v1/collections/big/vectors -H "$J" --data-binary @"$tmp/big.json"
expect "the last record of the document" 200 \
  '{"id":"j29999","vector":[29999,1,2,3,4,5,6,-0.5],"metadata":{}}' \
  GET /v1/collections/big/vectors/j29999
req GET /v1/collections/big
has "count after large bodies" "$body" '"count":60000'
head -c 17000000 /dev/zero >"$tmp/17m"
expect_err "Content-Length over the limit" 413 too_large "exceeds the limit of 16777216" \
  PUT /v1/collections/big/vectors -H "$N" --data-binary @"$tmp/17m"
expect_err "chunked body over the limit" 413 too_large "exceeds the limit" \
  PUT /v1/collections/big/vectors -H "$N" -H 'Transfer-Encoding: chunked' \
  --data-binary @"$tmp/17m"

# ---- search ------------------------------------------------------------------
expect "search" 200 \
  '{"results":[{"id":"a","score":1,"metadata":{"t":"x","n":[1,2]}},{"id":"m1","score":0.70710677,"metadata":{}}]}' \
  POST /v1/collections/docs/search -H "$J" -d '{"vector":[2,0,0],"k":2}'
expect "euclidean search, closest first" 200 \
  '{"results":[{"id":"r7","score":0,"metadata":{"i":7}}]}' \
  POST /v1/collections/big/search -H "$J" -d '{"vector":[7,1,2,3,4,5,6,0.5],"k":1}'
req POST /v1/collections/docs/search -H "$J" -d '{"vector":[1,0,0]}'
same "k defaults to 10" "$(grep -o '"id"' <<<"$body" | wc -l)" 10
expect_err "search with a wrong dimension" 400 invalid "" \
  POST /v1/collections/docs/search -H "$J" -d '{"vector":[1,0],"k":1}'
expect_err "k out of range" 400 invalid '\"k\" must be' \
  POST /v1/collections/docs/search -H "$J" -d '{"vector":[1,0,0],"k":0}'
expect_err "search a missing collection" 404 not_found "no collection" \
  POST /v1/collections/nope/search -H "$J" -d '{"vector":[1,0,0]}'

# ---- deletes and metrics -----------------------------------------------------
expect "delete a record" 200 '{"id":"a","deleted":true}' \
  DELETE /v1/collections/docs/vectors/a
expect_err "delete it again" 404 not_found "no record 'a'" \
  DELETE /v1/collections/docs/vectors/a
req GET /metrics
same "metrics status" "$code" 200
has "metrics: requests by route and status" "$body" \
  'vecsnap_http_requests_total{route="GET /healthz",status="200"} 2'
has "metrics: unmatched routes" "$body" \
  'vecsnap_http_requests_total{route="unmatched",status="404"}'
has "metrics: latency histogram" "$body" \
  'vecsnap_http_request_duration_seconds_bucket{route="PUT /v1/collections/{c}/vectors",le="+Inf"}'
has "metrics: vectors held" "$body" 'vecsnap_collection_vectors{collection="big"} 60000'
has "metrics: ready" "$body" 'vecsnap_ready 1'
expect "delete a collection" 200 '{"name":"docs","deleted":true}' \
  DELETE /v1/collections/docs
expect_err "delete it again" 404 not_found "no collection 'docs'" \
  DELETE /v1/collections/docs
stop

summary
