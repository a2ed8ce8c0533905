/*
 * vecsnapd: the server's main.  It owns the start-up and shutdown order:
 *
 *   1. settings (config.c); misuse exits 2, --help/--version exit 0;
 *   2. SIGTERM/SIGINT blocked before any thread exists (every thread
 *      inherits the mask, so only sigwait below ever sees them), SIGPIPE
 *      ignored;
 *   3. the data directory's catalog is opened (DATA/tmp emptied) and the
 *      job table with its records in DATA/jobs (jobs a crash cut off are
 *      marked failed); the encryption key is read and remote storage set
 *      up (no request is made yet);
 *   4. the HTTP server starts on an empty store, not ready: /healthz
 *      answers, /readyz and the data routes answer 503;
 *   5. the snapshot DATA/CURRENT names is loaded (none: the store stays
 *      empty), the write-ahead log in DATA/wal replayed on top of it, and
 *      the result swapped into the live store; the log opened for
 *      appending (unless wal_fsync is off); the operations (ops.h),
 *      with the retention policy applied after each snapshot, and the
 *      auto-save thread start; the server turns ready;
 *   6. sigwait for SIGTERM or SIGINT;
 *   7. not ready, stop taking work (listening socket closed, suspended
 *      connections resumed, no new jobs), stop the daemon (waits for its
 *      threads, upload consumers and reply producers), let a running
 *      auto-save end, cancel the other jobs, then -- when auto-save is on
 *      and writes are unsaved -- a final save, free everything, exit 0.
 * A snapshot named by CURRENT that fails to load, or a log that cannot be
 * replayed (corrupt before its end), stops start-up (exit 1): serving an
 * older state in its place would look like data loss.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "autosave.h"
#include "config.h"
#include "crypt.h"
#include "http.h"
#include "ops.h"
#include "log.h"
#include "retention.h"
#include "snapshot.h"
#include "store.h"

#ifndef VS_VERSION
#define VS_VERSION "0.1.0"
#endif

#define EXIT_USAGE 2

static const vs_route *const slices[] = {
    vs_api_health_routes,   vs_api_collections_routes, vs_api_snapshot_routes,
    vs_api_snapjob_routes,  vs_api_transfer_routes,    vs_api_job_routes,
    vs_api_autosave_routes, vs_api_www_routes,         vs_api_remote_routes,
    vs_api_retention_routes, NULL,
};

/* Loads the snapshot DATA/CURRENT names (none: an empty store), replays
 * the write-ahead log in `wal_dir` on top of it -- the records after
 * CURRENT's seq, or the snapshot's own -- and swaps the result into
 * `live` under the write lock, its counter the last seq applied.  *base
 * gets the seq the state on disk matches.  A torn tail is cut off (and
 * logged); a corrupt record before good ones stops start-up, nothing cut.
 * The log is replayed even when it is off now: it holds acknowledged
 * writes of an earlier run. */
static int load_current(uint64_t *base, vs_store *live, vs_catalog *cat,
                        const char *wal_dir)
{
    char id[VS_SNAPSHOT_ID_LEN + 1];
    uint64_t at = 0, t0 = vs_api_now_ms();
    vs_store *loaded = NULL;
    vs_file_info info;
    vs_wal_replay_info ri;
    int error = vs_catalog_current_at(id, &at, cat);
    if (error == VS_ENOTFOUND) {
        vs_error_clear();
        vs_log(VS_LOG_INFO, "no CURRENT snapshot: starting from an empty "
                            "store and the log");
        error = vs_store_new(&loaded);
    } else if (!error) {
        error = vs_catalog_load(&loaded, &info, cat, id, NULL, NULL);
        if (!error) {
            if (!at)
                at = info.seq;
            vs_log(VS_LOG_INFO,
                   "loaded snapshot %s: %u collections, %llu records, seq "
                   "%llu, state at seq %llu",
                   id, (unsigned)info.ncollections,
                   (unsigned long long)info.records,
                   (unsigned long long)info.seq, (unsigned long long)at);
        }
    }
    if (error < 0)
        return error;
    vs_store_set_seq_exact(loaded, at);
    error = vs_wal_replay(&ri, loaded, wal_dir, at, 0);
    if (error < 0) {
        char why[700];
        snprintf(why, sizeof(why), "%s", vs_error_last());
        vs_store_free(loaded);
        return vs_error_set(error,
                            "the write-ahead log in %s cannot be replayed "
                            "(nothing was changed): %s",
                            wal_dir, why);
    }
    if (ri.records)
        vs_log(VS_LOG_NOTICE,
               "wal: %llu records replayed (seq %llu to %llu), %llu older "
               "ones skipped",
               (unsigned long long)ri.records,
               (unsigned long long)ri.first_seq,
               (unsigned long long)ri.last_seq,
               (unsigned long long)ri.skipped);
    if (ri.torn_tail)
        vs_log(VS_LOG_WARN,
               "wal: a torn tail of %llu bytes (a write cut off by a crash, "
               "never acknowledged) was dropped",
               (unsigned long long)ri.torn_bytes);
    uint64_t seq = vs_store_seq(loaded);
    vs_store_wrlock(live);
    vs_store_swap(live, loaded);
    vs_store_set_seq_exact(live, seq); /* the swap counts one more */
    vs_store_unlock(live);
    vs_store_free(loaded);
    vs_log(VS_LOG_INFO, "the store is at seq %llu (start-up took %llu ms)",
           (unsigned long long)seq,
           (unsigned long long)(vs_api_now_ms() - t0));
    *base = at;
    return 0;
}

/* The write-ahead log in `dir` (DATA/wal) for appending, unless it is
 * off; covered segments go to DATA/wal/archive. */
static int open_wal(vs_wal **out, vs_ops *ops, const vs_config *cfg,
                    const char *dir, vs_remote *remote)
{
    char archive[VS_CONFIG_PATH_MAX + 32];
    vs_wal_stats st;
    if (!cfg->wal_enabled) {
        vs_log(VS_LOG_NOTICE, "write-ahead log off (wal_fsync off): a crash "
                              "loses the writes since the last snapshot");
        return 0;
    }
    snprintf(archive, sizeof(archive), "%s/archive", dir);
    int error = vs_wal_open(out, dir, cfg->wal_fsync, cfg->wal_segment_bytes);
    if (!error)
        error = vs_ops_set_wal(ops, *out, archive, remote);
    if (error < 0)
        return error;
    vs_wal_stats_get(*out, &st);
    vs_store_wrlock(ops->store);
    if (st.last_seq > vs_store_seq(ops->store)) {
        vs_log(VS_LOG_WARN, "wal: the log ends at seq %llu, above the store's "
                            "%llu: the store counts on from there",
               (unsigned long long)st.last_seq,
               (unsigned long long)vs_store_seq(ops->store));
        vs_store_set_seq(ops->store, st.last_seq);
    }
    vs_store_unlock(ops->store);
    vs_log(VS_LOG_NOTICE, "write-ahead log in %s: fsync %s, %llu segments",
           dir, vs_wal_fsync_name(cfg->wal_fsync),
           (unsigned long long)st.segments);
    return 0;
}

static void wait_for_signal(const sigset_t *set)
{
    for (;;) {
        int sig = 0;
        if (sigwait(set, &sig) != 0)
            continue;
        if (sig == SIGTERM || sig == SIGINT) {
            vs_log(VS_LOG_NOTICE, "%s received: shutting down",
                   sig == SIGTERM ? "SIGTERM" : "SIGINT");
            return;
        }
    }
}

/* A PEM file into a malloc'd NUL-terminated string (at most 1 MiB). */
static int read_pem(char **out, const char *path)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return vs_error_set_os(VS_EIO, "cannot read '%s'", path);
    vs_buf b = VS_BUF_INIT(1u << 20);
    char chunk[4096];
    size_t n;
    int error = 0;
    while (!error && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        error = vs_buf_put(&b, chunk, n);
    if (!error && ferror(f))
        error = vs_error_set_os(VS_EIO, "cannot read '%s'", path);
    fclose(f);
    if (!error)
        error = vs_buf_put(&b, "", 1);
    if (error < 0) {
        vs_buf_dispose(&b);
        return error;
    }
    *out = (char *)b.ptr;
    return 0;
}

/* The final save: when auto-save is on and the state has unsaved writes. */
static void final_save(vs_ops *ops, const vs_config *cfg)
{
    uint64_t unsaved = vs_ops_unsaved(ops);
    if (unsaved == 0) {
        vs_log(VS_LOG_INFO, "final save: nothing changed since the last "
                            "save");
        return;
    }
    vs_ops_snapshot_req rq = {"shutdown", cfg->save_format, cfg->save_codec,
                              cfg->save_level, NULL, 0};
    vs_snapshot snap;
    memset(&snap, 0, sizeof(snap));
    if (vs_ops_snapshot(&snap, ops, &rq, NULL, NULL) < 0) {
        vs_log(VS_LOG_ERROR, "final save failed: %s", vs_error_last());
        return;
    }
    vs_log(VS_LOG_NOTICE, "final save: snapshot %s, %llu records (%llu "
                          "writes were unsaved)",
           snap.id, (unsigned long long)snap.records,
           (unsigned long long)unsaved);
    vs_snapshot_dispose(&snap);
}

typedef struct daemon_state {
    vs_catalog *cat;
    vs_jobs *jobs;
    vs_http_server *srv;
    vs_ops ops;
    bool ops_ready;
    vs_autosave *autosave;
    vs_api_app app;
    vs_http_env env;
    char *cert, *key;
    vs_remote *remote;
    vs_wal *wal;
} daemon_state;

/* The encryption key (encryption_key or encryption_key_file) into the
 * catalog, and the remote storage client when s3_endpoint is set. */
static int setup_remote(daemon_state *d, const vs_config *cfg)
{
    uint8_t key[VS_CRYPT_KEY_LEN];
    bool has_key = cfg->encryption_key[0] || cfg->encryption_key_file[0];
    int error = 0;
    if (cfg->encryption_key[0])
        error = vs_crypt_key_parse(key, cfg->encryption_key,
                                   strlen(cfg->encryption_key));
    else if (cfg->encryption_key_file[0])
        error = vs_crypt_key_load(key, cfg->encryption_key_file);
    if (!error)
        vs_catalog_set_key(d->cat, has_key ? key : NULL, cfg->encrypt_local);
    if (!error && cfg->s3_endpoint[0]) {
        vs_s3_config sc = {
            .endpoint = cfg->s3_endpoint,
            .region = cfg->s3_region,
            .bucket = cfg->s3_bucket,
            .prefix = cfg->s3_prefix,
            .path_style = cfg->s3_path_style,
            .access_key = cfg->s3_access_key[0] ? cfg->s3_access_key : NULL,
            .secret_key = cfg->s3_secret_key[0] ? cfg->s3_secret_key : NULL,
            .session_token =
                cfg->s3_session_token[0] ? cfg->s3_session_token : NULL,
            .part_size = cfg->s3_part_size,
            .parallel = cfg->s3_parallel,
            .max_bytes_per_s = cfg->s3_max_bytes_per_s,
            .connect_timeout_s = cfg->s3_connect_timeout_s,
            .low_speed_timeout_s = cfg->s3_timeout_s,
            .retries = (unsigned)cfg->s3_retries,
        };
        error = vs_remote_new(&d->remote, &sc, has_key ? key : NULL);
        if (!error)
            vs_log(VS_LOG_INFO, "remote storage: %s%s",
                   vs_remote_where(d->remote),
                   has_key ? " (encrypted uploads)" : "");
    }
    explicit_bzero(key, sizeof(key));
    return error;
}

static int start_server(daemon_state *d, const vs_config *cfg)
{
    vs_http_options opts = VS_HTTP_OPTIONS_INIT;
    opts.address = cfg->listen;
    opts.port = cfg->port;
    opts.threads = cfg->threads;
    opts.slices = slices;
    int error = 0;
    if (cfg->tls_cert[0]) {
        error = read_pem(&d->cert, cfg->tls_cert);
        if (!error)
            error = read_pem(&d->key, cfg->tls_key);
        opts.tls_cert_pem = d->cert;
        opts.tls_key_pem = d->key;
    }
    if (!error)
        error = vs_http_server_start(&d->srv, &d->env, &opts);
    if (error < 0)
        return error;
    const char *v6 = strchr(cfg->listen, ':');
    bool tokens = cfg->token_read[0] || cfg->token_admin[0];
    vs_log(VS_LOG_NOTICE, "listening on %s://%s%s%s:%u (%s), data in %s, %u "
                          "threads",
           cfg->tls_cert[0] ? "https" : "http", v6 ? "[" : "", cfg->listen,
           v6 ? "]" : "", (unsigned)vs_http_server_port(d->srv),
           tokens ? "bearer tokens required"
                  : "loopback only: no auth token is configured",
           cfg->data_dir, cfg->threads);
    return 0;
}

static int run(const vs_config *cfg, const sigset_t *set)
{
    daemon_state d;
    memset(&d, 0, sizeof(d));
    int status = EXIT_FAILURE;
    char jobs_dir[VS_CONFIG_PATH_MAX + 16];
    snprintf(jobs_dir, sizeof(jobs_dir), "%s/jobs", cfg->data_dir);
    int error = vs_catalog_open(&d.cat, cfg->data_dir);
    if (!error)
        error = vs_jobs_new(&d.jobs, jobs_dir, cfg->job_workers);
    if (!error)
        error = vs_store_new(&d.env.store);
    if (!error)
        error = setup_remote(&d, cfg);
    if (error < 0) {
        vs_log(VS_LOG_ERROR, "start-up: %s", vs_error_last());
        goto done;
    }
    d.env.catalog = d.cat;
    d.env.jobs = d.jobs;
    d.env.max_body = cfg->max_body_bytes;
    d.env.max_decompressed = cfg->max_decompressed_bytes;
    snprintf(d.env.token_read, sizeof(d.env.token_read), "%s",
             cfg->token_read);
    snprintf(d.env.token_admin, sizeof(d.env.token_admin), "%s",
             cfg->token_admin);
    d.app.save_format = cfg->save_format;
    d.app.save_codec = cfg->save_codec;
    d.app.save_level = cfg->save_level;
    d.app.remote = d.remote;
    d.app.upload_snapshots = cfg->upload_snapshots;
    d.env.app = &d.app;
    atomic_store(&d.env.state, VS_HTTP_STARTING);

    error = start_server(&d, cfg);
    if (error < 0) {
        vs_log(VS_LOG_ERROR, "start-up: %s", vs_error_last());
        goto done;
    }
    char wal_dir[VS_CONFIG_PATH_MAX + 16];
    uint64_t base = 0;
    snprintf(wal_dir, sizeof(wal_dir), "%s/wal", cfg->data_dir);
    error = load_current(&base, d.env.store, d.cat, wal_dir);
    if (error < 0) {
        vs_log(VS_LOG_ERROR, "cannot load the CURRENT snapshot: %s",
               vs_error_last());
        goto done;
    }
    error = vs_ops_init(&d.ops, d.env.store, d.cat);
    d.ops_ready = error == 0;
    if (!error) {
        atomic_store(&d.ops.saved_seq, base); /* replayed writes: unsaved */
        error = open_wal(&d.wal, &d.ops, cfg, wal_dir, d.remote);
    }
    /* Retention after each snapshot (retention.h), on remote storage too
     * when every snapshot is uploaded there. */
    vs_retention_policy keep = {cfg->keep_last, cfg->keep_within_s,
                                cfg->keep_daily, cfg->keep_weekly};
    d.app.retention.policy = keep;
    d.app.retention.remote = cfg->upload_snapshots ? d.remote : NULL;
    d.ops.after_snapshot = vs_retention_after_snapshot;
    d.ops.after_snapshot_payload = &d.app.retention;
    if (!vs_retention_policy_empty(&keep)) {
        char within[VS_RETENTION_WITHIN_LEN] = "-";
        if (keep.keep_within_s)
            vs_retention_format_within(within, sizeof(within),
                                       keep.keep_within_s);
        vs_log(VS_LOG_NOTICE,
               "retention: keep_last %llu, keep_within %s, keep_daily %llu, "
               "keep_weekly %llu%s",
               (unsigned long long)keep.keep_last, within,
               (unsigned long long)keep.keep_daily,
               (unsigned long long)keep.keep_weekly,
               d.app.retention.remote ? ", remote storage too" : "");
    }
    vs_ops_snapshot_req rq = {NULL, cfg->save_format, cfg->save_codec,
                              cfg->save_level, NULL, 0};
    if (!error)
        error = vs_autosave_start(&d.autosave, &d.ops, d.jobs, &rq,
                                  cfg->autosave_interval_s,
                                  cfg->autosave_after_changes,
                                  cfg->autosave_keep);
    if (!error)
        vs_autosave_configure(d.autosave, cfg->autosave_incremental,
                              cfg->autosave_full_every,
                              cfg->upload_snapshots ? d.remote : NULL);
    if (error < 0) {
        vs_log(VS_LOG_ERROR, "start-up: %s", vs_error_last());
        goto done;
    }
    d.app.ops = &d.ops;
    d.app.autosave = d.autosave;
    atomic_store(&d.env.state, VS_HTTP_READY);
    vs_log(VS_LOG_NOTICE, "ready");

    wait_for_signal(set);
    status = EXIT_SUCCESS;
done:
    /* Stop taking work, let requests end (waiting ones answer 503), let a
     * running auto-save finish, cancel other jobs, then save what the
     * clients wrote: no write can arrive after the final save. */
    atomic_store(&d.env.state, VS_HTTP_STOPPING);
    if (d.srv)
        vs_http_server_quiesce(d.srv);
    if (d.jobs)
        vs_jobs_close(d.jobs);
    vs_http_server_free(d.srv);
    bool autosave_on = d.autosave && vs_autosave_enabled(d.autosave);
    vs_autosave_stop(d.autosave);
    vs_jobs_free(d.jobs);
    vs_api_remote_drain();
    d.app.retention.remote = NULL; /* the final save prunes locally */
    d.ops.remote = NULL;           /* and archives the log locally */
    vs_remote_free(d.remote);
    if (status == EXIT_SUCCESS && d.ops_ready && autosave_on)
        final_save(&d.ops, cfg);
    vs_wal_close(d.wal); /* every record written and synced */
    if (d.ops_ready)
        vs_ops_dispose(&d.ops);
    vs_store_free(d.env.store);
    vs_catalog_free(d.cat);
    free(d.cert);
    free(d.key);
    if (status == EXIT_SUCCESS)
        vs_log(VS_LOG_NOTICE, "stopped");
    return status;
}

int main(int argc, char **argv)
{
    vs_config cfg;
    vs_config_action action;
    if (vs_config_parse(&cfg, &action, argc, argv) < 0) {
        fprintf(stderr, "vecsnapd: %s\nTry 'vecsnapd --help'.\n",
                vs_error_last());
        return EXIT_USAGE;
    }
    if (action == VS_CONFIG_HELP) {
        fputs(vs_config_usage(), stdout);
        return EXIT_SUCCESS;
    }
    if (action == VS_CONFIG_VERSION) {
        printf("vecsnapd %s\n", VS_VERSION);
        return EXIT_SUCCESS;
    }
    vs_log_set_level(cfg.log_level);
    if (cfg.config_file[0])
        vs_log(VS_LOG_INFO, "settings from %s", cfg.config_file);

    /* Before any thread: all of them inherit this mask. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0) {
        fprintf(stderr, "vecsnapd: cannot block signals\n");
        return EXIT_FAILURE;
    }
    signal(SIGPIPE, SIG_IGN);
    return run(&cfg, &set);
}
