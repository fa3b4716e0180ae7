/*
 * workloads/service_model.c - the service file's loader and validator
 * (docs/service-model.md), and the seeded draws.
 *
 * JSON is parsed by cJSON (Debian's libcjson-dev); everything after that is
 * validation: every field is checked for presence, type and range, unknown
 * and duplicate fields are refused, and every message names the field by
 * its path (request[1].each[0].us.dist), what is allowed and what was found.
 */
#include "workloads/service_model.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const op_names[SVC_OP_COUNT] = {"compute", "sleep", "fanout", "blocking",
                                                   "channel_hops", "tcp_roundtrip"};
static const char *const dist_names[] = {"fixed", "uniform", "exponential", "lognormal"};

const char *svc_op_name(svc_op op) { return op < SVC_OP_COUNT ? op_names[op] : "?"; }
const char *svc_dist_name(svc_dist_kind k) { return (unsigned)k < 4 ? dist_names[k] : "?"; }

/* z such that P(N(0,1) <= z) = 0.99 */
#define SVC_Z99 2.3263478740408408

typedef struct vctx {
    const char *origin;
    char *err;
    size_t errlen;
    svc_model *m;
} vctx;

static int verr(vctx *v, const char *path, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int verr(vctx *v, const char *path, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (v->err && v->errlen)
        snprintf(v->err, v->errlen, "%s: %s%s%s", v->origin, path, *path ? ": " : "", msg);
    return -EINVAL;
}

/* What a JSON value is, for "got ..." in messages. */
static void describe(const cJSON *j, char *buf, size_t len)
{
    if (!j) snprintf(buf, len, "nothing");
    else if (cJSON_IsString(j)) snprintf(buf, len, "the string \"%.40s\"", j->valuestring);
    else if (cJSON_IsNumber(j)) snprintf(buf, len, "%.17g", j->valuedouble);
    else if (cJSON_IsBool(j)) snprintf(buf, len, "%s", cJSON_IsTrue(j) ? "true" : "false");
    else if (cJSON_IsNull(j)) snprintf(buf, len, "null");
    else if (cJSON_IsArray(j)) snprintf(buf, len, "an array");
    else snprintf(buf, len, "an object");
}

static void join_names(const char *const *names, int n, char *buf, size_t len)
{
    size_t off = 0;
    buf[0] = 0;
    for (int i = 0; i < n; i++) {
        size_t need = strlen(names[i]) + (i ? 2 : 0);
        if (off + need + 1 > len) break;
        if (i) memcpy(buf + off, ", ", 2), off += 2;
        memcpy(buf + off, names[i], strlen(names[i]));
        off += strlen(names[i]);
        buf[off] = 0;
    }
}

/* Refuses fields not in `allowed` and duplicated fields. */
static int check_fields(vctx *v, const char *path, const cJSON *obj, const char *const *allowed,
                        int nallowed)
{
    for (const cJSON *c = obj->child; c; c = c->next) {
        int known = 0;
        for (int i = 0; i < nallowed; i++)
            if (strcmp(c->string, allowed[i]) == 0) known = 1;
        if (!known) {
            char list[256];
            join_names(allowed, nallowed, list, sizeof list);
            return verr(v, path, "unknown field \"%s\"; allowed: %s", c->string, list);
        }
        for (const cJSON *d = c->next; d; d = d->next)
            if (strcmp(c->string, d->string) == 0)
                return verr(v, path, "field \"%s\" given twice", c->string);
    }
    return 0;
}

static void subpath(char *buf, size_t len, const char *path, const char *field)
{
    int n = snprintf(buf, len, "%s%s%s", path, *path ? "." : "", field);
    if (n < 0) buf[0] = 0; /* a longer path is cut: depth and lengths are bounded anyway */
}

/* A required (or optional: *out keeps its default) number in [lo, hi]. */
static int get_number(vctx *v, const char *path, const cJSON *obj, const char *field, bool required,
                      double lo, double hi, bool integer, const char *why, double *out)
{
    char p[256], got[96];
    subpath(p, sizeof p, path, field);
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(obj, field);
    if (!j) {
        if (required) return verr(v, p, "missing%s%s", why ? " " : "", why ? why : "");
        return 0;
    }
    double x = cJSON_IsNumber(j) ? j->valuedouble : NAN;
    if (!cJSON_IsNumber(j) || !isfinite(x) || x < lo || x > hi || (integer && x != floor(x))) {
        describe(j, got, sizeof got);
        return verr(v, p, "must be %s in [%.17g, %.17g], got %s", integer ? "an integer" : "a number",
                    lo, hi, got);
    }
    *out = x;
    return 0;
}

static const cJSON *get_object(vctx *v, const char *path, const cJSON *obj, const char *field,
                               bool required, int *rc)
{
    char p[256], got[96];
    subpath(p, sizeof p, path, field);
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(obj, field);
    *rc = 0;
    if (!j) {
        if (required) *rc = verr(v, p, "missing (an object)");
        return NULL;
    }
    if (!cJSON_IsObject(j)) {
        describe(j, got, sizeof got);
        *rc = verr(v, p, "must be an object, got %s", got);
        return NULL;
    }
    return j;
}

/* A string that must be one of names[]: its index, or a negative errno. */
static int get_enum(vctx *v, const char *path, const cJSON *obj, const char *field,
                    const char *const *names, int n, const char *what)
{
    char p[256], got[96], list[256];
    subpath(p, sizeof p, path, field);
    join_names(names, n, list, sizeof list);
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(obj, field);
    if (!j) return verr(v, p, "missing; allowed: %s", list);
    if (cJSON_IsString(j))
        for (int i = 0; i < n; i++)
            if (strcmp(j->valuestring, names[i]) == 0) return i;
    describe(j, got, sizeof got);
    return verr(v, p, "unknown %s %s; allowed: %s", what, got, list);
}

static int parse_dist(vctx *v, const char *path, const cJSON *obj, svc_dist *d)
{
    int rc;
    const cJSON *j = get_object(v, path, obj, "us", true, &rc);
    if (!j) return rc;
    char p[256];
    subpath(p, sizeof p, path, "us");
    int k = get_enum(v, p, j, "dist", dist_names, 4, "distribution");
    if (k < 0) return k;
    static const char *const f_fixed[] = {"dist", "value"}, *const f_uniform[] = {"dist", "min", "max"},
                             *const f_exp[] = {"dist", "mean"},
                             *const f_logn[] = {"dist", "median", "p99"};
    memset(d, 0, sizeof *d);
    d->kind = (svc_dist_kind)k;
    switch (d->kind) {
    case SVC_DIST_FIXED:
        if ((rc = check_fields(v, p, j, f_fixed, 2)) < 0) return rc;
        return get_number(v, p, j, "value", true, 0, SVC_MAX_US, false, "(fixed: value)", &d->a);
    case SVC_DIST_UNIFORM:
        if ((rc = check_fields(v, p, j, f_uniform, 3)) < 0) return rc;
        if ((rc = get_number(v, p, j, "min", true, 0, SVC_MAX_US, false, "(uniform: min, max)", &d->a)) < 0 ||
            (rc = get_number(v, p, j, "max", true, 0, SVC_MAX_US, false, "(uniform: min, max)", &d->b)) < 0)
            return rc;
        if (d->b < d->a) {
            char q[300];
            subpath(q, sizeof q, p, "max");
            return verr(v, q, "must be >= min (%.17g), got %.17g", d->a, d->b);
        }
        return 0;
    case SVC_DIST_EXPONENTIAL:
        if ((rc = check_fields(v, p, j, f_exp, 2)) < 0) return rc;
        return get_number(v, p, j, "mean", true, 0, SVC_MAX_US, false, "(exponential: mean)", &d->a);
    case SVC_DIST_LOGNORMAL:
        if ((rc = check_fields(v, p, j, f_logn, 3)) < 0) return rc;
        if ((rc = get_number(v, p, j, "median", true, 0.001, SVC_MAX_US, false, "(lognormal: median, p99)", &d->a)) < 0 ||
            (rc = get_number(v, p, j, "p99", true, 0.001, SVC_MAX_US, false, "(lognormal: median, p99)", &d->b)) < 0)
            return rc;
        if (d->b < d->a) {
            char q[300];
            subpath(q, sizeof q, p, "p99");
            return verr(v, q, "must be >= median (%.17g), got %.17g", d->a, d->b);
        }
        d->mu = log(d->a);
        d->sigma = log(d->b / d->a) / SVC_Z99;
        return 0;
    }
    return -EINVAL;
}

static int parse_seq(vctx *v, const char *path, const cJSON *arr, int depth, svc_seq *q);

static int parse_step(vctx *v, const char *path, const cJSON *j, int depth, svc_step *s)
{
    char got[96];
    int rc;
    if (!cJSON_IsObject(j)) {
        describe(j, got, sizeof got);
        return verr(v, path, "a step must be an object with an \"op\", got %s", got);
    }
    int op = get_enum(v, path, j, "op", op_names, SVC_OP_COUNT, "op");
    if (op < 0) return op;
    static const char *const f_compute[] = {"op", "us", "probability"},
                             *const f_sleep[] = {"op", "us", "probability", "timeout_us"},
                             *const f_fanout[] = {"op", "n", "each", "probability"},
                             *const f_blocking[] = {"op", "us", "probability"},
                             *const f_hops[] = {"op", "n", "capacity", "probability"},
                             *const f_tcp[] = {"op", "bytes", "probability"};
    static const char *const *const fields[SVC_OP_COUNT] = {f_compute, f_sleep, f_fanout,
                                                            f_blocking, f_hops, f_tcp};
    static const int nfields[SVC_OP_COUNT] = {3, 4, 4, 3, 4, 3};
    memset(s, 0, sizeof *s);
    s->op = (svc_op)op;
    s->probability = 1.0;
    s->timeout_us = -1;
    s->chain = -1;
    if ((rc = check_fields(v, path, j, fields[op], nfields[op])) < 0) return rc;
    if ((rc = get_number(v, path, j, "probability", false, 0, 1, false, NULL, &s->probability)) < 0)
        return rc;
    if (++v->m->nsteps > SVC_MAX_STEPS)
        return verr(v, path, "too many steps: at most %d in a file", SVC_MAX_STEPS);
    double x = 0;
    switch (s->op) {
    case SVC_OP_SLEEP:
        if ((rc = get_number(v, path, j, "timeout_us", false, 0, SVC_MAX_US, false, NULL, &s->timeout_us)) < 0)
            return rc;
        /* fall through */
    case SVC_OP_COMPUTE:
    case SVC_OP_BLOCKING:
        return parse_dist(v, path, j, &s->us);
    case SVC_OP_FANOUT: {
        if ((rc = get_number(v, path, j, "n", true, 1, SVC_MAX_FANOUT, true, "(children to spawn)", &x)) < 0)
            return rc;
        s->n = (int)x;
        char p[256];
        subpath(p, sizeof p, path, "each");
        const cJSON *each = cJSON_GetObjectItemCaseSensitive(j, "each");
        if (!each) return verr(v, p, "missing (the steps each child runs)");
        if (depth + 1 > SVC_MAX_DEPTH)
            return verr(v, p, "fanout nested too deep: at most %d levels", SVC_MAX_DEPTH);
        return parse_seq(v, p, each, depth + 1, &s->each);
    }
    case SVC_OP_CHANNEL_HOPS:
        if ((rc = get_number(v, path, j, "n", true, 1, SVC_MAX_HOPS, true, "(hop tasks)", &x)) < 0)
            return rc;
        s->n = (int)x;
        x = 64;
        if ((rc = get_number(v, path, j, "capacity", false, 1, 65536, true, NULL, &x)) < 0) return rc;
        s->capacity = (int)x;
        s->chain = v->m->nchains++;
        return 0;
    case SVC_OP_TCP_ROUNDTRIP:
        if ((rc = get_number(v, path, j, "bytes", true, 1, SVC_MAX_TCP_BYTES, true, "(bytes echoed)", &x)) < 0)
            return rc;
        s->bytes = (int)x;
        if (s->bytes > v->m->max_tcp_bytes) v->m->max_tcp_bytes = s->bytes;
        return 0;
    default:
        return -EINVAL;
    }
}

static int parse_seq(vctx *v, const char *path, const cJSON *arr, int depth, svc_seq *q)
{
    char got[96];
    if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) == 0) {
        describe(arr, got, sizeof got);
        return verr(v, path, "must be a non-empty array of steps, got %s", got);
    }
    int n = cJSON_GetArraySize(arr);
    q->steps = calloc((size_t)n, sizeof *q->steps);
    if (!q->steps) return -ENOMEM;
    q->n = n;
    int i = 0;
    for (const cJSON *c = arr->child; c; c = c->next, i++) {
        char p[256];
        snprintf(p, sizeof p, "%s[%d]", path, i);
        int rc = parse_step(v, p, c, depth, &q->steps[i]);
        if (rc < 0) return rc;
    }
    return 0;
}

static void free_seq(svc_seq *q)
{
    for (int i = 0; i < q->n; i++) free_seq(&q->steps[i].each);
    free(q->steps);
    q->steps = NULL;
    q->n = 0;
}

void svc_model_free(svc_model *m)
{
    if (!m) return;
    free_seq(&m->request);
    free(m->chains);
    free(m);
}

static void collect_chains(const svc_seq *q, const svc_step **chains)
{
    for (int i = 0; i < q->n; i++) {
        if (q->steps[i].op == SVC_OP_CHANNEL_HOPS) chains[q->steps[i].chain] = &q->steps[i];
        collect_chains(&q->steps[i].each, chains);
    }
}

static int validate(vctx *v, const cJSON *root)
{
    svc_model *m = v->m;
    char got[96];
    int rc;
    if (!cJSON_IsObject(root)) {
        describe(root, got, sizeof got);
        return verr(v, "", "the service must be a JSON object, got %s", got);
    }
    static const char *const f_top[] = {"name", "arrival", "request", "slo", "seed", "tcp_connections"};
    if ((rc = check_fields(v, "", root, f_top, 6)) < 0) return rc;

    const cJSON *name = cJSON_GetObjectItemCaseSensitive(root, "name");
    if (!name) return verr(v, "name", "missing (a string of 1-%d letters, digits, '_', '-', '.')", SVC_NAME_MAX);
    bool ok = cJSON_IsString(name) && name->valuestring[0] && strlen(name->valuestring) <= SVC_NAME_MAX;
    for (const char *c = ok ? name->valuestring : ""; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '_' || *c == '-' || *c == '.'))
            ok = false;
    if (!ok) {
        describe(name, got, sizeof got);
        return verr(v, "name", "must be 1-%d letters, digits, '_', '-' or '.' (it names result rows), got %s",
                    SVC_NAME_MAX, got);
    }
    snprintf(m->name, sizeof m->name, "%s", name->valuestring);

    const cJSON *arr = get_object(v, "", root, "arrival", true, &rc);
    if (!arr) return rc;
    static const char *const modes[] = {"open", "closed"};
    int mode = get_enum(v, "arrival", arr, "mode", modes, 2, "arrival mode");
    if (mode < 0) return mode;
    m->arrival = (svc_arrival)mode;
    if (m->arrival == SVC_ARRIVAL_OPEN) {
        static const char *const f_open[] = {"mode", "rate_per_s", "duration_s"};
        if ((rc = check_fields(v, "arrival", arr, f_open, 3)) < 0 ||
            (rc = get_number(v, "arrival", arr, "rate_per_s", true, 0.001, 10000000, false,
                             "(required for mode \"open\": requests per second)", &m->rate_per_s)) < 0 ||
            (rc = get_number(v, "arrival", arr, "duration_s", true, 0.001, 3600, false,
                             "(required for mode \"open\": seconds)", &m->duration_s)) < 0)
            return rc;
        if (m->rate_per_s * m->duration_s > SVC_MAX_REQUESTS)
            return verr(v, "arrival", "rate_per_s x duration_s = %.0f requests; at most %d in one run",
                        m->rate_per_s * m->duration_s, SVC_MAX_REQUESTS);
    } else {
        static const char *const f_closed[] = {"mode", "clients", "requests"};
        double c = 0, r = 0;
        if ((rc = check_fields(v, "arrival", arr, f_closed, 3)) < 0 ||
            (rc = get_number(v, "arrival", arr, "clients", true, 1, 100000, true,
                             "(required for mode \"closed\": concurrent clients)", &c)) < 0 ||
            (rc = get_number(v, "arrival", arr, "requests", true, 1, SVC_MAX_REQUESTS, true,
                             "(required for mode \"closed\": requests in all)", &r)) < 0)
            return rc;
        m->clients = (long)c;
        m->requests = (long)r;
    }

    const cJSON *req = cJSON_GetObjectItemCaseSensitive(root, "request");
    if (!req) return verr(v, "request", "missing (a non-empty array of steps)");
    if ((rc = parse_seq(v, "request", req, 1, &m->request)) < 0) return rc;

    const cJSON *slo = get_object(v, "", root, "slo", true, &rc);
    if (!slo) return rc;
    static const char *const f_slo[] = {"p50_ms", "p90_ms", "p99_ms", "p999_ms"};
    static const double q_slo[] = {0.5, 0.9, 0.99, 0.999};
    if ((rc = check_fields(v, "slo", slo, f_slo, 4)) < 0) return rc;
    if (cJSON_GetArraySize(slo) != 1)
        return verr(v, "slo", "must hold exactly one of p50_ms, p90_ms, p99_ms, p999_ms, got %d fields",
                    cJSON_GetArraySize(slo));
    for (int i = 0; i < 4; i++)
        if (cJSON_GetObjectItemCaseSensitive(slo, f_slo[i])) {
            if ((rc = get_number(v, "slo", slo, f_slo[i], true, 0.001, 3600000, false, NULL, &m->slo_ms)) < 0)
                return rc;
            m->slo_field = f_slo[i];
            m->slo_quantile = q_slo[i];
        }

    double x = 0;
    if (cJSON_GetObjectItemCaseSensitive(root, "seed")) {
        if ((rc = get_number(v, "", root, "seed", true, 0, 9007199254740991.0, true, NULL, &x)) < 0) return rc;
        m->has_seed = true;
        m->seed = (uint64_t)x;
    }
    x = 8;
    if ((rc = get_number(v, "", root, "tcp_connections", false, 1, SVC_MAX_TCP_CONNECTIONS, true, NULL, &x)) < 0)
        return rc;
    m->tcp_connections = (int)x;

    if (m->nchains) {
        m->chains = calloc((size_t)m->nchains, sizeof *m->chains);
        if (!m->chains) return -ENOMEM;
        collect_chains(&m->request, m->chains);
    }
    return 0;
}

int svc_model_parse(const char *text, size_t len, const char *origin, svc_model **out, char *err,
                    size_t errlen)
{
    vctx v = {origin ? origin : "service", err, errlen, NULL};
    if (err && errlen) err[0] = 0;
    *out = NULL;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, false);
    if (!root) {
        int line = 1, col = 1;
        const char *stop = end && end >= text && end <= text + len ? end : text + len;
        for (const char *c = text; c < stop; c++) {
            if (*c == '\n') line++, col = 1;
            else col++;
        }
        return verr(&v, "", "not valid JSON at line %d, column %d", line, col);
    }
    /* trailing garbage after the document */
    for (const char *c = end; c && c < text + len; c++)
        if (*c != ' ' && *c != '\n' && *c != '\r' && *c != '\t' && *c != 0) {
            cJSON_Delete(root);
            return verr(&v, "", "unexpected text after the JSON document");
        }
    v.m = calloc(1, sizeof *v.m);
    if (!v.m) {
        cJSON_Delete(root);
        return -ENOMEM;
    }
    int rc = validate(&v, root);
    cJSON_Delete(root);
    if (rc < 0) {
        if (rc == -ENOMEM) verr(&v, "", "out of memory");
        svc_model_free(v.m);
        return rc;
    }
    *out = v.m;
    return 0;
}

int svc_model_load(const char *path, svc_model **out, char *err, size_t errlen)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        int e = errno;
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(e));
        return -e;
    }
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (len < cap) break;
        if (cap >= (16u << 20)) {
            free(buf);
            fclose(f);
            snprintf(err, errlen, "%s: larger than 16 MiB: not a service file", path);
            return -EFBIG;
        }
        char *nb = realloc(buf, cap * 2);
        if (!nb) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = nb;
        cap *= 2;
    }
    int bad = ferror(f);
    fclose(f);
    if (!buf || bad) {
        free(buf);
        snprintf(err, errlen, "%s: %s", path, buf ? "read error" : "out of memory");
        return buf ? -EIO : -ENOMEM;
    }
    int rc = svc_model_parse(buf, len, path, out, err, errlen);
    free(buf);
    return rc;
}

/* ---- draws -------------------------------------------------------------------- */
uint64_t svc_dist_draw_ns(const svc_dist *d, svc_rng *r)
{
    double us = 0;
    switch (d->kind) {
    case SVC_DIST_FIXED: us = d->a; break;
    case SVC_DIST_UNIFORM: us = d->a + (d->b - d->a) * svc_rng_unit(r); break;
    case SVC_DIST_EXPONENTIAL: us = -d->a * log1p(-svc_rng_unit(r)); break;
    case SVC_DIST_LOGNORMAL: {
        /* Box-Muller: one normal from two uniforms (u1 in (0, 1]) */
        double u1 = 1.0 - svc_rng_unit(r), u2 = svc_rng_unit(r);
        double z = sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
        us = exp(d->mu + d->sigma * z);
        break;
    }
    }
    if (!(us > 0)) return 0;
    if (us > SVC_MAX_US) us = SVC_MAX_US;
    return (uint64_t)(us * 1000.0 + 0.5);
}

void svc_step_draw(const svc_step *s, svc_rng *r, svc_draw *d)
{
    d->taken = s->probability >= 1.0 || svc_rng_unit(r) < s->probability;
    d->ns = 0;
    d->base = 0;
    if (!d->taken) return;
    switch (s->op) {
    case SVC_OP_COMPUTE:
    case SVC_OP_SLEEP:
    case SVC_OP_BLOCKING: d->ns = svc_dist_draw_ns(&s->us, r); break;
    case SVC_OP_FANOUT: d->base = svc_rng_next(r); break;
    default: break;
    }
}

void svc_replay(const svc_seq *q, uint64_t seed, svc_tally *t)
{
    svc_rng r = {seed};
    for (int i = 0; i < q->n; i++) {
        const svc_step *s = &q->steps[i];
        svc_draw d;
        svc_step_draw(s, &r, &d);
        if (!d.taken) continue;
        t->ops[s->op]++;
        switch (s->op) {
        case SVC_OP_COMPUTE: t->compute_ns += d.ns; break;
        case SVC_OP_SLEEP: t->sleep_ns += d.ns; break;
        case SVC_OP_BLOCKING: t->blocking_ns += d.ns; break;
        case SVC_OP_CHANNEL_HOPS: t->hops += (uint64_t)s->n; break;
        case SVC_OP_TCP_ROUNDTRIP: t->tcp_bytes += (uint64_t)s->bytes; break;
        case SVC_OP_FANOUT:
            for (int k = 0; k < s->n; k++) svc_replay(&s->each, svc_child_seed(d.base, (uint64_t)k), t);
            break;
        default: break;
        }
    }
}
