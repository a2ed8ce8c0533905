/*
 * vecsnapd: the server's main.  It owns the start-up and shutdown order:
 *
 *   1. settings (config.c); misuse exits 2, --help/--version exit 0;
 *   2. SIGTERM/SIGINT blocked before any thread exists (every thread
 *      inherits the mask, so only sigwait below ever sees them), SIGPIPE
 *      ignored;
 *   3. the data directory's catalog is opened (DATA/tmp emptied) and the
 *      job table with its records in DATA/jobs (jobs a crash cut off are
 *      marked failed);
 *   4. the HTTP server starts on an empty store, not ready: /healthz
 *      answers, /readyz and the data routes answer 503;
 *   5. the snapshot DATA/CURRENT names is loaded (none: the store stays
 *      empty) and swapped into the live store; the operations (ops.h) and
 *      the auto-save thread start; the server turns ready;
 *   6. sigwait for SIGTERM or SIGINT;
 *   7. not ready, stop taking work (listening socket closed, suspended
 *      connections resumed, no new jobs), stop the daemon (waits for its
 *      threads, upload consumers and reply producers), let a running
 *      auto-save end, cancel the other jobs, then -- when auto-save is on
 *      and writes are unsaved -- a final save, free everything, exit 0.
 * A snapshot named by CURRENT that fails to load stops start-up (exit 1):
 * serving an empty store in its place would look like data loss.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "autosave.h"
#include "config.h"
#include "http.h"
#include "ops.h"
#include "log.h"
#include "snapshot.h"
#include "store.h"

#ifndef VS_VERSION
#define VS_VERSION "0.1.0"
#endif

#define EXIT_USAGE 2

static const vs_route *const slices[] = {
    vs_api_health_routes,   vs_api_collections_routes, vs_api_snapshot_routes,
    vs_api_snapjob_routes,  vs_api_transfer_routes,    vs_api_job_routes,
    vs_api_autosave_routes, vs_api_www_routes,         NULL,
};

/* Loads the snapshot DATA/CURRENT names into `live` (swapped in under the
 * write lock).  No CURRENT: nothing to do. */
static int load_current(vs_store *live, vs_catalog *cat)
{
    char id[VS_SNAPSHOT_ID_LEN + 1];
    int error = vs_catalog_current(id, cat);
    if (error == VS_ENOTFOUND) {
        vs_error_clear();
        vs_log(VS_LOG_INFO, "no CURRENT snapshot: starting with an empty "
                            "store");
        return 0;
    }
    if (error < 0)
        return error;
    vs_store *loaded = NULL;
    vs_file_info info;
    error = vs_catalog_load(&loaded, &info, cat, id, NULL, NULL);
    if (error < 0)
        return error;
    vs_store_wrlock(live);
    vs_store_swap(live, loaded);
    vs_store_unlock(live);
    vs_store_free(loaded);
    vs_log(VS_LOG_INFO,
           "loaded snapshot %s: %u collections, %llu records, seq %llu", id,
           (unsigned)info.ncollections, (unsigned long long)info.records,
           (unsigned long long)info.seq);
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
} daemon_state;

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
    d.env.app = &d.app;
    atomic_store(&d.env.state, VS_HTTP_STARTING);

    error = start_server(&d, cfg);
    if (error < 0) {
        vs_log(VS_LOG_ERROR, "start-up: %s", vs_error_last());
        goto done;
    }
    error = load_current(d.env.store, d.cat);
    if (error < 0) {
        vs_log(VS_LOG_ERROR, "cannot load the CURRENT snapshot: %s",
               vs_error_last());
        goto done;
    }
    error = vs_ops_init(&d.ops, d.env.store, d.cat);
    d.ops_ready = error == 0;
    vs_ops_snapshot_req rq = {NULL, cfg->save_format, cfg->save_codec,
                              cfg->save_level, NULL, 0};
    if (!error)
        error = vs_autosave_start(&d.autosave, &d.ops, d.jobs, &rq,
                                  cfg->autosave_interval_s,
                                  cfg->autosave_after_changes,
                                  cfg->autosave_keep);
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
    if (status == EXIT_SUCCESS && d.ops_ready && autosave_on)
        final_save(&d.ops, cfg);
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
