/*
 * cmd_serve.c - `catdog serve`: starts the web service (web/http_server.h),
 * prints where it listens, stops it gracefully on SIGINT/SIGTERM, and reloads
 * the models and the admin token on SIGHUP.
 *
 * Signals are blocked in every thread before the server starts (threads
 * inherit the mask) and taken here with sigwait, so no handler and no global
 * flag is needed.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cli/commands.h"
#include "predict/embedded.h"
#include "web/client_addr.h"
#include "web/http_server.h"

#define GRACE_SECONDS 30

/* The registry's hook for the copy of models/binary.h5 built into the program. */
static const void *embedded_copy(const char *file, size_t *len)
{
    const void *buf = NULL;
    if (strcmp(file, "binary.h5") == 0 && embedded_model(&buf, len))
        return buf;
    return NULL;
}

static void usage(FILE *out)
{
    fputs("Usage: catdog serve [options]\n"
          "Serves the upload page, the JSON API and the history on HTTP.\n\n"
          "  --host ADDR            address to listen on (default 127.0.0.1)\n"
          "  --port N               port (default 8080; 0 = any free port)\n"
          "  --models DIR           folder with binary.h5 [and transfer.h5, and any other .keras/.h5\n"
          "                         model, served under its file name] (default ./models, else\n"
          "                         <prefix>/share/catdog/models of an installed catdog)\n"
          "  --weights FILE         the transfer model's backbone weights (default: searched for)\n"
          "  --upload-dir DIR       where photos are kept (default saveimages)\n"
          "  --db FILE|URL          history: an SQLite file (default catdog.db), or PostgreSQL given as\n"
          "                         postgresql://USER@HOST/DB or \"host=... dbname=...\" (libpq)\n"
          "  --max-upload SIZE      largest photo, e.g. 16M, 512K (default 16M)\n"
          "  --max-pixels N         largest photo in pixels (default 64000000)\n"
          "  --max-batch-photos N   photos in one API request (default 16)\n"
          "  --threads N            inference workers (default: one per core)\n"
          "  --max-batch N          largest batch of photos per forward pass, a power of two up to 64\n"
          "                         (default 2; see README for why); batches run in sizes 1, 2, 4, ... N\n"
          "  --batch-timeout MS     how long a worker lets a batch fill before running it (default 1 ms;\n"
          "                         0 = run what is there at once)\n"
          "  --max-wait SECONDS     answer 503 + Retry-After when a photo's expected wait for a worker\n"
          "                         (measured time per photo x photos ahead / workers) exceeds this\n"
          "                         (default 2)\n"
          "  --queue N              also refuse when N photos already wait (default: --max-connections)\n"
          "  --max-connections N    simultaneous connections (default 256)\n"
          "  --timeout SECONDS      idle timeout, and the time allowed for a request's headers (default 30)\n"
          "  --request-timeout SECONDS  longest a request may take to arrive (default 120)\n"
          "  --backend B            dnnl (default) or ref (plain C reference, slow)\n"
          "  --trusted-proxy LIST   proxies (addresses or blocks: 127.0.0.1,10.0.0.0/8,::1) whose\n"
          "                         X-Forwarded-For names the client in the log (default: none)\n"
          "  --precision P          f32, bf16 or int8 (default: int8 where models/<name>.int8.h5,\n"
          "                         made by catdog quantize, is there -- it is then served as <name>\n"
          "                         -- else f32); f32 and bf16 load <name>.h5; where this CPU has\n"
          "                         no kernels of that precision, f32 (said in the log)\n"
          "  --img-size N           input size for ONNX models whose height and width are dynamic\n"
          "  --assets DIR           folder with web/static and node_modules (default: found)\n"
          "  --admin-token-file FILE  the admin token (first line of FILE, at least 16 bytes): the history,\n"
          "                         stored photos, feedback and /metrics need it (Authorization: Bearer,\n"
          "                         or the login form at /login); without it (or CATDOG_ADMIN_TOKEN,\n"
          "                         the token itself) those pages are off\n"
          "  --metrics-listen ADDR:PORT  serve /metrics and /healthz on this internal address, without a\n"
          "                         token (and /metrics no longer on the public port)\n"
          "  --no-store             keep no photo (the verdicts are still recorded)\n"
          "  --tta                  every model averages P(dog) of the photo and its mirror image\n"
          "                         (one batch, about twice the compute per photo)\n"
          "  --retention-days N     delete photos and history rows older than N days (at start-up, then\n"
          "                         hourly; default: keep them)\n"
          "  --drain SECONDS        on SIGTERM, first keep serving this long while /healthz answers 503\n"
          "                         \"draining\", so a load balancer that polls it moves traffic away\n"
          "                         (default 0; a second SIGTERM or Ctrl-C ends the drain at once)\n"
          "  -h, --help             this help\n\n"
          "Every option that takes a value can also be set in the environment as\n"
          "CATDOG_<OPTION> (e.g. CATDOG_MAX_UPLOAD=8M), --no-store as CATDOG_NO_STORE=1,\n"
          "--tta as CATDOG_TTA=1; "
          "the command line wins.\n"
          "Stops on Ctrl-C or SIGTERM after the requests in flight are answered.  SIGHUP reloads the\n"
          "models folder and the admin token file without dropping a request; a broken new file\n"
          "leaves the old one serving (logged).\n",
          out);
}

/* "16M", "512K", "1G", "1000" -> bytes; -1 when malformed. */
static long long parse_size(const char *s)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || v <= 0 || end == s)
        return -1;
    long long mult = 1;
    if (*end == 'K' || *end == 'k')
        mult = 1024;
    else if (*end == 'M' || *end == 'm')
        mult = 1024 * 1024;
    else if (*end == 'G' || *end == 'g')
        mult = 1024LL * 1024 * 1024;
    else if (*end)
        return -1;
    if (mult > 1 && (end[1] != '\0' && strcmp(end + 1, "B") != 0 && strcmp(end + 1, "iB") != 0))
        return -1;
    if (v > LLONG_MAX / mult)
        return -1;
    return v * mult;
}

static int parse_int(const char *s, int min, int max, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max)
        return -1;
    *out = (int)v;
    return 0;
}

/* A decimal number in [min, max] ("1", "0.5", "2.5"). */
static int parse_seconds(const char *s, double min, double max, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= min && v <= max))
        return -1;
    *out = v;
    return 0;
}

/* argv with "--option=value" inserted after argv[0] for every option taking
 * a value that is set in the environment as CATDOG_<OPTION> (--max-upload ->
 * CATDOG_MAX_UPLOAD), for service managers.  *owned lists the strings made
 * here (getopt may reorder argv); release() frees both.  NULL when out of memory. */
static char **with_environment(const struct option *opts, int argc, char **argv, int *out_argc, char ***owned)
{
    int n_opts = 0;
    while (opts[n_opts].name)
        n_opts++;
    char **out = calloc((size_t)argc + (size_t)n_opts + 1, sizeof *out);
    char **mine = calloc((size_t)n_opts + 1, sizeof *mine);
    if (!out || !mine) {
        free(out);
        free(mine);
        return NULL;
    }
    int n = 0, n_mine = 0;
    out[n++] = argv[0];
    for (const struct option *o = opts; o->name; o++) {
        if (o->has_arg != required_argument)
            continue;
        char name[64] = "CATDOG_";
        size_t k = strlen(name);
        for (const char *p = o->name; *p && k + 1 < sizeof name; p++)
            name[k++] = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
        name[k] = '\0';
        const char *value = getenv(name);
        if (!value)
            continue;
        /* "--name=value" keeps a value starting with '-' from being read as an option. */
        size_t len = strlen(o->name) + strlen(value) + 4;
        char *arg = malloc(len);
        if (!arg) {
            for (int i = 0; i < n_mine; i++)
                free(mine[i]);
            free(mine);
            free(out);
            return NULL;
        }
        snprintf(arg, len, "--%s=%s", o->name, value);
        out[n++] = arg;
        mine[n_mine++] = arg;
    }
    for (int i = 1; i < argc; i++)
        out[n++] = argv[i];
    out[n] = NULL;
    *out_argc = n;
    *owned = mine;
    return out;
}

/* Frees with_environment's arrays and strings; returns rc. */
static int release(char **args, char **owned, int rc)
{
    for (char **p = owned; *p; p++)
        free(*p);
    free(owned);
    free(args);
    return rc;
}

/* --drain: the server keeps answering while /healthz says "draining", for
 * drain_s seconds or until another SIGINT/SIGTERM, so a balancer that polls
 * /healthz stops sending before the listening socket closes.  SIGHUP still
 * reloads meanwhile.  `first` is the signal that started the drain. */
static void drain(http_server *srv, const sigset_t *signals, int drain_s, int first)
{
    http_server_drain(srv);
    fprintf(stderr, "catdog serve: %s received, draining for %d s (/healthz answers 503)\n",
            first == SIGINT ? "SIGINT" : "SIGTERM", drain_s);
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += drain_s;
    for (;;) {
        struct timespec now, left;
        clock_gettime(CLOCK_MONOTONIC, &now);
        left.tv_sec = until.tv_sec - now.tv_sec;
        left.tv_nsec = until.tv_nsec - now.tv_nsec;
        if (left.tv_nsec < 0) {
            left.tv_nsec += 1000000000L;
            left.tv_sec--;
        }
        if (left.tv_sec < 0)
            return;
        int sig = sigtimedwait(signals, NULL, &left);
        if (sig == SIGHUP) {
            char report[1024];
            http_server_reload(srv, report, sizeof report);
        } else if (sig > 0) {
            fprintf(stderr, "catdog serve: %s received, drain ended early\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
            return;
        } else if (errno == EAGAIN) {
            return;
        } /* EINTR: wait again */
    }
}

int cmd_serve(int argc, char **argv)
{
    enum { O_HOST = 256, O_PORT, O_MODELS, O_UPLOAD, O_DB, O_MAXUP, O_MAXPIX, O_THREADS, O_QUEUE, O_MAXCONN,
           O_TIMEOUT, O_REQTIMEOUT, O_ASSETS, O_BACKEND, O_WEIGHTS, O_MAXBATCH, O_BATCHTIMEOUT, O_MAXWAIT, O_MAXBATCHPHOTOS,
           O_TRUSTED, O_PRECISION, O_ADMINTOKENFILE, O_METRICSLISTEN, O_NOSTORE, O_RETENTION, O_DRAIN, O_TTA,
           O_IMGSIZE };
    static const struct option opts[] = {
        {"host", required_argument, NULL, O_HOST},
        {"port", required_argument, NULL, O_PORT},
        {"models", required_argument, NULL, O_MODELS},
        {"weights", required_argument, NULL, O_WEIGHTS},
        {"upload-dir", required_argument, NULL, O_UPLOAD},
        {"db", required_argument, NULL, O_DB},
        {"max-upload", required_argument, NULL, O_MAXUP},
        {"max-pixels", required_argument, NULL, O_MAXPIX},
        {"max-batch-photos", required_argument, NULL, O_MAXBATCHPHOTOS},
        {"threads", required_argument, NULL, O_THREADS},
        {"queue", required_argument, NULL, O_QUEUE},
        {"max-batch", required_argument, NULL, O_MAXBATCH},
        {"batch-timeout", required_argument, NULL, O_BATCHTIMEOUT},
        {"max-wait", required_argument, NULL, O_MAXWAIT},
        {"max-connections", required_argument, NULL, O_MAXCONN},
        {"timeout", required_argument, NULL, O_TIMEOUT},
        {"request-timeout", required_argument, NULL, O_REQTIMEOUT},
        {"assets", required_argument, NULL, O_ASSETS},
        {"backend", required_argument, NULL, O_BACKEND},
        {"trusted-proxy", required_argument, NULL, O_TRUSTED},
        {"precision", required_argument, NULL, O_PRECISION},
        {"img-size", required_argument, NULL, O_IMGSIZE},
        {"admin-token-file", required_argument, NULL, O_ADMINTOKENFILE},
        {"metrics-listen", required_argument, NULL, O_METRICSLISTEN},
        {"no-store", no_argument, NULL, O_NOSTORE},
        {"tta", no_argument, NULL, O_TTA},
        {"retention-days", required_argument, NULL, O_RETENTION},
        {"drain", required_argument, NULL, O_DRAIN},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    /* CATDOG_<OPTION> variables become options placed before the command
     * line's, so the command line wins (getopt keeps the last value). */
    char **owned = NULL;
    char **args = with_environment(opts, argc, argv, &argc, &owned);
    if (!args)
        return cli_fail("serve: out of memory reading the environment");
    argv = args;
    http_config cfg;
    memset(&cfg, 0, sizeof cfg);
    int drain_s = 0;
    cfg.port = 8080;
    cfg.log = stderr;
    cfg.embedded = embedded_copy;
    /* The token itself may come from the environment (a file is better: the
     * environment of a process is readable by its user's other processes). */
    cfg.admin_token = getenv("CATDOG_ADMIN_TOKEN");
    const char *no_store = getenv("CATDOG_NO_STORE");
    cfg.no_store = no_store && (strcmp(no_store, "1") == 0 || strcasecmp(no_store, "yes") == 0 ||
                                strcasecmp(no_store, "true") == 0);
    const char *tta = getenv("CATDOG_TTA");
    cfg.tta = tta && (strcmp(tta, "1") == 0 || strcasecmp(tta, "yes") == 0 || strcasecmp(tta, "true") == 0);
    int c;
    long long v;
    double d;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case O_HOST: cfg.host = optarg; break;
        case O_PORT:
            if (parse_int(optarg, 0, 65535, &cfg.port) != 0)
                return release(args, owned, cli_usage_error("serve", "--port must be 0..65535, not '%s'", optarg));
            break;
        case O_MODELS: cfg.models_dir = optarg; break;
        case O_WEIGHTS: cfg.weights = optarg; break;
        case O_UPLOAD: cfg.upload_dir = optarg; break;
        case O_DB: cfg.db_path = optarg; break;
        case O_TRUSTED: {
            cd_err perr;
            trusted_proxies *t = trusted_proxies_parse(optarg, &perr);
            if (!t)
                return release(args, owned, cli_usage_error("serve", "%s", perr.msg));
            trusted_proxies_free(t);
            cfg.trusted_proxies = optarg;
            break;
        }
        case O_MAXUP:
            if ((v = parse_size(optarg)) < 0 || v > 1024LL * 1024 * 1024)
                return release(args, owned, cli_usage_error("serve", "--max-upload must be a size like 16M (at most 1G), not '%s'", optarg));
            cfg.max_upload = (size_t)v;
            break;
        case O_MAXPIX:
            if ((v = parse_size(optarg)) < 0)
                return release(args, owned, cli_usage_error("serve", "--max-pixels must be a positive number, not '%s'", optarg));
            cfg.max_pixels = (long)v;
            break;
        case O_MAXBATCHPHOTOS:
            if (parse_int(optarg, 1, 1024, &cfg.max_batch_photos) != 0)
                return release(args, owned, cli_usage_error("serve", "--max-batch-photos must be 1..1024, not '%s'", optarg));
            break;
        case O_THREADS:
            if (parse_int(optarg, 1, 1024, &cfg.threads) != 0)
                return release(args, owned, cli_usage_error("serve", "--threads must be 1..1024, not '%s'", optarg));
            break;
        case O_QUEUE:
            if (parse_int(optarg, 1, 1 << 20, &cfg.queue) != 0)
                return release(args, owned, cli_usage_error("serve", "--queue must be a positive number, not '%s'", optarg));
            break;
        case O_MAXBATCH:
            if (parse_int(optarg, 1, 64, &cfg.max_batch) != 0 || (cfg.max_batch & (cfg.max_batch - 1)) != 0)
                return release(args, owned, cli_usage_error("serve", "--max-batch must be a power of two from 1 to 64, not '%s'", optarg));
            break;
        case O_BATCHTIMEOUT:
            if (parse_seconds(optarg, 0, 1000, &d) != 0)
                return release(args, owned, cli_usage_error("serve", "--batch-timeout must be 0..1000 milliseconds, not '%s'", optarg));
            /* 0 in the config means the default; "never wait" is negative. */
            cfg.batch_timeout_s = d > 0 ? d / 1000.0 : -1;
            break;
        case O_MAXWAIT:
            if (parse_seconds(optarg, 0.001, 3600, &d) != 0)
                return release(args, owned, cli_usage_error("serve", "--max-wait must be 0.001..3600 seconds, not '%s'", optarg));
            cfg.max_wait_s = d;
            break;
        case O_MAXCONN:
            if (parse_int(optarg, 1, 1 << 16, &cfg.max_connections) != 0)
                return release(args, owned, cli_usage_error("serve", "--max-connections must be 1..65536, not '%s'", optarg));
            break;
        case O_TIMEOUT:
            if (parse_int(optarg, 1, 86400, &cfg.timeout_s) != 0)
                return release(args, owned, cli_usage_error("serve", "--timeout must be 1..86400 seconds, not '%s'", optarg));
            break;
        case O_REQTIMEOUT:
            if (parse_int(optarg, 1, 86400, &cfg.request_timeout_s) != 0)
                return release(args, owned, cli_usage_error("serve", "--request-timeout must be 1..86400 seconds, not '%s'", optarg));
            break;
        case O_ASSETS: cfg.assets_dir = optarg; break;
        case O_ADMINTOKENFILE: cfg.admin_token_file = optarg; break;
        case O_METRICSLISTEN: cfg.metrics_listen = optarg; break;
        case O_NOSTORE: cfg.no_store = 1; break;
        case O_TTA: cfg.tta = 1; break;
        case O_RETENTION:
            if (parse_int(optarg, 1, 365000, &cfg.retention_days) != 0)
                return release(args, owned, cli_usage_error("serve", "--retention-days must be 1..365000, not '%s'", optarg));
            break;
        case O_DRAIN:
            if (parse_int(optarg, 0, 3600, &drain_s) != 0)
                return release(args, owned, cli_usage_error("serve", "--drain must be 0..3600 seconds, not '%s'", optarg));
            break;
        case O_BACKEND:
            if (strcmp(optarg, "dnnl") == 0)
                cfg.backend = RUNNER_DNNL;
            else if (strcmp(optarg, "ref") == 0)
                cfg.backend = RUNNER_REF;
            else
                return release(args, owned, cli_usage_error("serve", "--backend must be dnnl or ref, not '%s'", optarg));
            break;
        case O_PRECISION:
            if (runner_precision_parse(optarg, &cfg.precision) != 0)
                return release(args, owned, cli_usage_error("serve", "--precision must be f32, bf16 or int8, not '%s'", optarg));
            break;
        case O_IMGSIZE:
            if (parse_int(optarg, 8, 4096, &cfg.img_size) != 0)
                return release(args, owned, cli_usage_error("serve", "--img-size must be 8..4096, not '%s'", optarg));
            break;
        case 'h': usage(stdout); return release(args, owned, 0);
        default: return release(args, owned, cli_usage_error("serve", "unknown option"));
        }
    }
    if (optind < argc)
        return release(args, owned, cli_usage_error("serve", "unexpected argument '%s'", argv[optind]));
    /* A service keeps serving on a CPU without the kernels of the precision
     * asked for (or of the int8 files it would pick by default): float32,
     * said once in the log, rather than no service at all.  predict and
     * evaluate fail instead, naming the precision, since their user is there
     * to read it. */
    if (cfg.backend == RUNNER_DNNL && cfg.precision != RUNNER_PREC_F32) {
        char why[200];
        runner_precision want = cfg.precision == RUNNER_PREC_AUTO ? RUNNER_PREC_INT8 : cfg.precision;
        if (!runner_precision_available(want, why, sizeof why)) {
            fprintf(stderr, "catdog serve: %s: serving in float32%s\n", why,
                    cfg.precision == RUNNER_PREC_AUTO ? " (the int8 model files are not used)" : "");
            cfg.precision = RUNNER_PREC_F32;
        }
    }

    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGHUP);
    if (pthread_sigmask(SIG_BLOCK, &stop_signals, NULL) != 0)
        return release(args, owned, cli_fail("serve: cannot block SIGINT/SIGTERM/SIGHUP"));
    /* A client closing its socket must not kill the server, nor a file-size
     * limit: both become errors of the request at hand. */
    signal(SIGPIPE, SIG_IGN);
    signal(SIGXFSZ, SIG_IGN);

    cd_err err;
    cd_err_clear(&err);
    http_server *srv = http_server_start(&cfg, &err);
    if (!srv)
        return release(args, owned, cli_fail("serve: %s", err.msg));
    for (int i = 0; http_server_note(srv, i); i++)
        fprintf(stderr, "catdog serve: %s\n", http_server_note(srv, i));
    const registry *reg = http_server_models(srv);
    for (int i = 0; i < reg->n; i++)
        fprintf(stderr, "catdog serve: model %s (%s, %dx%d, %s, %s%s) from %s%s\n", reg->models[i].name,
                reg->models[i].arch, reg->models[i].input_w, reg->models[i].input_h, reg->models[i].preprocess,
                runner_precision_name(runner_precision_resolve(
                    predictor_model(reg->models[i].pred),
                    cfg.backend == RUNNER_DNNL ? cfg.precision : RUNNER_PREC_F32)),
                predictor_tta(reg->models[i].pred) ? ", flip averaging" : "", reg->models[i].source, i == reg->best ? " [default]" : "");
    const char *host = cfg.host ? cfg.host : "127.0.0.1";
    int v6 = strchr(host, ':') != NULL;
    printf("catdog serve: listening on http://%s%s%s:%d/ (Ctrl-C to stop)\n", v6 ? "[" : "", host, v6 ? "]" : "",
           http_server_port(srv));
    if (http_server_metrics_port(srv))
        printf("catdog serve: metrics on %s (port %d)\n", cfg.metrics_listen, http_server_metrics_port(srv));
    fflush(stdout);

    int sig = 0;
    for (;;) {
        if (sigwait(&stop_signals, &sig) != 0)
            continue;
        if (sig != SIGHUP)
            break;
        /* The server logs the outcome itself (cfg.log is stderr). */
        char report[1024];
        http_server_reload(srv, report, sizeof report);
    }
    if (drain_s > 0)
        drain(srv, &stop_signals, drain_s, sig);
    fprintf(stderr, "catdog serve: %s received, finishing requests in flight\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    http_server_stop(srv, GRACE_SECONDS);
    fprintf(stderr, "catdog serve: stopped\n");
    return release(args, owned, 0);
}
