/*
 * vecsnapd: the server's main.  It owns the start-up and shutdown order:
 *
 *   1. settings (config.c); misuse exits 2, --help/--version exit 0;
 *   2. SIGTERM/SIGINT blocked before any thread exists (every thread
 *      inherits the mask, so only sigwait below ever sees them), SIGPIPE
 *      ignored;
 *   3. the data directory's catalog is opened (DATA/tmp emptied);
 *   4. the HTTP server starts on an empty store, not ready: /healthz
 *      answers, /readyz and the data routes answer 503;
 *   5. the snapshot DATA/CURRENT names is loaded (none: the store stays
 *      empty) and swapped into the live store; the server turns ready;
 *   6. sigwait for SIGTERM or SIGINT;
 *   7. not ready, stop taking work (listening socket closed, suspended
 *      connections resumed), stop the daemon (waits for its threads and
 *      upload consumers), free everything, exit 0.
 * A snapshot named by CURRENT that fails to load stops start-up (exit 1):
 * serving an empty store in its place would look like data loss.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "http.h"
#include "log.h"
#include "snapshot.h"
#include "store.h"

#ifndef VS_VERSION
#define VS_VERSION "0.1.0"
#endif

#define EXIT_USAGE 2

static const vs_route *const slices[] = {
    vs_api_health_routes,
    vs_api_collections_routes,
    NULL,
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

static int run(const vs_config *cfg, const sigset_t *set)
{
    vs_catalog *cat = NULL;
    vs_http_server *srv = NULL;
    vs_http_env env = {0};
    int status = EXIT_FAILURE;
    int error = vs_catalog_open(&cat, cfg->data_dir);
    if (!error)
        error = vs_store_new(&env.store);
    if (error < 0) {
        vs_log(VS_LOG_ERROR, "start-up: %s", vs_error_last());
        goto done;
    }
    env.catalog = cat;
    env.max_body = cfg->max_body_bytes;
    env.max_decompressed = cfg->max_decompressed_bytes;
    atomic_store(&env.state, VS_HTTP_STARTING);

    vs_http_options opts = VS_HTTP_OPTIONS_INIT;
    opts.address = cfg->listen;
    opts.port = cfg->port;
    opts.threads = cfg->threads;
    opts.slices = slices;
    error = vs_http_server_start(&srv, &env, &opts);
    if (error < 0) {
        vs_log(VS_LOG_ERROR, "start-up: %s", vs_error_last());
        goto done;
    }
    const char *v6 = strchr(cfg->listen, ':');
    vs_log(VS_LOG_NOTICE,
           "listening on http://%s%s%s:%u (loopback only: no auth token is "
           "configured), data in %s, %u threads",
           v6 ? "[" : "", cfg->listen, v6 ? "]" : "",
           (unsigned)vs_http_server_port(srv), cfg->data_dir, cfg->threads);

    error = load_current(env.store, cat);
    if (error < 0) {
        vs_log(VS_LOG_ERROR, "cannot load the CURRENT snapshot: %s",
               vs_error_last());
        goto done;
    }
    atomic_store(&env.state, VS_HTTP_READY);
    vs_log(VS_LOG_NOTICE, "ready");

    wait_for_signal(set);
    status = EXIT_SUCCESS;
done:
    atomic_store(&env.state, VS_HTTP_STOPPING);
    vs_http_server_free(srv);
    vs_store_free(env.store);
    vs_catalog_free(cat);
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
