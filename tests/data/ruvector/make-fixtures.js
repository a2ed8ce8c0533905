#!/usr/bin/env node
/*
 * Regenerates the ruvector-extensions fixtures in this folder (run it here:
 * `node make-fixtures.js`).  The fixtures are committed; the tests do not
 * need node.
 *
 * It reproduces, step for step, what DatabasePersistence in
 * ruvector-extensions (npm/packages/ruvector-extensions/src/persistence.ts)
 * writes: serializeDatabase() builds the state object and its checksum,
 * writeStateToFile() serialises it with JSON.stringify(state, null,
 * compress ? 0 : 2) for format 'json' and JSON.stringify(state) for
 * 'binary', then gzip()s or brotliCompress()es the whole buffer with node's
 * zlib defaults; createSnapshot() names the file `<uuid>.<format>` (no
 * compression suffix) and writes `<uuid>.meta.json` with JSON.stringify(meta,
 * null, 2).  Only the clock and randomUUID are replaced by constants so the
 * output is reproducible.  Vectors are Float32Arrays, as the native binding's
 * get() returns them, so JSON.stringify writes them as {"0":x,"1":y,...};
 * one fixture (export.json) uses plain arrays, as a number[] backend would.
 */
'use strict';
const crypto = require('crypto');
const fs = require('fs');
const path = require('path');
const zlib = require('zlib');

const F32_MAX = 3.4028234663852886e38;

function entries(kind) {
    const v = (a) => (kind === 'array' ? Array.from(new Float32Array(a))
                                       : new Float32Array(a));
    return [
        {
            id: '0',
            vector: v([0.1, -0.0, 1e-45, F32_MAX]),
            metadata: {
                title: 'Doc zero',
                tags: ['a', 'b'],
                score: 0.5,
                nested: {k: [1, 2, {z: null}], empty: {}, list: []},
                text: 'h\u00e9llo \u2713 "quoted"\nline',
            },
        },
        {id: '1', vector: v([-1, 2.5, 1e-7, -3.4e38]), metadata: undefined},
        {id: '2', vector: v([0.25, 0.5, 0.75, 1]), metadata: {n: 2}},
    ];
}

/* serializeDatabase(): stats, the vectors, a timestamp, then the checksum
 * over JSON.stringify of the state without it. */
function makeState(vectors, stats, timestamp) {
    const state = {
        version: '1.0.0',
        options: {dimension: stats.dimension, metric: stats.metric},
        stats,
        vectors,
        timestamp,
    };
    const {checksum, ...rest} = state; /* eslint-disable-line no-unused-vars */
    state.checksum = crypto.createHash('sha256')
                         .update(JSON.stringify(rest))
                         .digest('hex');
    return state;
}

/* writeStateToFile() */
function encode(state, format, compression) {
    const compress = compression !== 'none';
    let data = format === 'json'
                   ? Buffer.from(JSON.stringify(state, null, compress ? 0 : 2))
                   : Buffer.from(JSON.stringify(state));
    if (compression === 'gzip')
        data = zlib.gzipSync(data);
    else if (compression === 'brotli')
        data = zlib.brotliCompressSync(data);
    return data;
}

function write(name, data) {
    fs.mkdirSync(path.dirname(name), {recursive: true});
    fs.writeFileSync(name, data);
}

/* createSnapshot() */
function snapshot(id, name, state, format, compression, timestamp) {
    const file = `snapshots/${id}.${format}`;
    const data = encode(state, format, compression);
    write(file, data);
    const meta = {
        id,
        name,
        timestamp,
        vectorCount: state.stats.count,
        dimension: state.stats.dimension,
        format,
        compressed: compression !== 'none',
        fileSize: data.length,
        checksum: crypto.createHash('sha256').update(data).digest('hex'),
        metadata: undefined,
    };
    write(`snapshots/${id}.meta.json`, JSON.stringify(meta, null, 2));
}

const T = 1732450000000;
const stats = {count: 3, dimension: 4, metric: 'cosine'};
const state = makeState(entries('float32'), stats, T);

/* save() with the defaults: baseDir/database.<ext>[.<compression>] */
write('database.json', encode(state, 'json', 'none'));
write('database.json.gzip', encode(state, 'json', 'gzip'));
write('database.json.brotli', encode(state, 'json', 'brotli'));

/* format 'binary': the same JSON, compact (not MessagePack) */
const nativeStats = {count: 3, dimension: 4, metric: 'DotProduct',
                     memoryUsage: 4096, indexType: 'hnsw'};
const binState = makeState(entries('float32'), nativeStats, T + 1000);
write('database.bin', encode(binState, 'binary', 'none'));
write('database.bin.gzip', encode(binState, 'binary', 'gzip'));

/* export({format: 'json'}) of a backend returning number[] vectors */
const arrayState = makeState(entries('array'),
                             {count: 3, dimension: 4, metric: 'euclidean'},
                             T + 2000);
write('export.json', encode(arrayState, 'json', 'none'));

/* an empty database */
write('empty.json',
      encode(makeState([], {count: 0, dimension: 8, metric: 'cosine'}, T),
             'json', 'none'));

/* snapshots: json uncompressed, binary brotli'd (file name without suffix) */
snapshot('3f8e4c1a-6b2d-4e8f-9a7c-1d2e3f4a5b6c', 'before-update', state,
         'json', 'none', T + 3000);
snapshot('9b1c2d3e-4f5a-4b6c-8d7e-0f1a2b3c4d5e', 'nightly', binState,
         'binary', 'brotli', T + 4000);
