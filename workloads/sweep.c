/*
 * workloads/sweep.c - knob sweeps (see sweep.h).
 *
 * Which scheduler has which knob is read from the policies' own knob tables
 * (sched_ops.knobs, E7 in schedulers/sched.h) and the core's table in
 * schedulers/config.c: sched_knob_applies.
 */
#include "workloads/sweep.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schedulers/sched.h"

static const char *const not_swept[] = {"scheduler", "workers", "topology"};

bool sweep_knob_applies(const char *scheduler, const char *knob)
{
    const sched_ops *ops = sched_find(scheduler);
    return !ops || sched_knob_applies(ops, knob);
}

const char *sweep_knob_doc(const char *knob) { return sched_knob_doc(knob); }

void sweep_init(sweep *s) { memset(s, 0, sizeof *s); }

static int bad(char *err, size_t errlen, const char *arg, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int bad(char *err, size_t errlen, const char *arg, const char *fmt, ...)
{
    char msg[900];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (err && errlen) snprintf(err, errlen, "--sweep %s: %s", arg, msg);
    return -EINVAL;
}

static bool is_swept_name(const char *name)
{
    for (size_t i = 0; i < sizeof not_swept / sizeof not_swept[0]; i++)
        if (strcmp(name, not_swept[i]) == 0) return false;
    return true;
}

static void sweepable_list(char *buf, size_t len)
{
    const char *const *names = weft_config_knob_names();
    size_t off = 0;
    buf[0] = 0;
    for (int i = 0; names[i]; i++) {
        if (!is_swept_name(names[i])) continue;
        int n = snprintf(buf + off, len - off, "%s%s", off ? ", " : "", names[i]);
        if (n < 0 || (size_t)n >= len - off) break;
        off += (size_t)n;
    }
}

int sweep_add(sweep *s, const char *arg, char *err, size_t errlen)
{
    char list[1024];
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg) {
        sweepable_list(list, sizeof list);
        return bad(err, errlen, arg, "expected NAME=v1,v2,... with NAME one of: %s", list);
    }
    char name[64];
    size_t nl = (size_t)(eq - arg);
    if (nl >= sizeof name) nl = sizeof name - 1;
    memcpy(name, arg, nl);
    name[nl] = 0;
    const char *const *names = weft_config_knob_names();
    int order = -1;
    for (int i = 0; names[i]; i++)
        if (strcmp(names[i], name) == 0) order = i;
    if (order < 0) {
        sweepable_list(list, sizeof list);
        return bad(err, errlen, arg, "unknown knob '%s'; knobs that can be swept: %s", name, list);
    }
    if (!is_swept_name(name))
        return bad(err, errlen, arg, "'%s' is not swept: the scheduler, the worker count and the "
                                     "topology are chosen with the driver's own flags", name);
    for (int a = 0; a < s->naxes; a++)
        if (s->axes[a].order == order)
            return bad(err, errlen, arg, "knob %s is already swept: give all its values in one --sweep",
                       name);
    if (s->naxes == SWEEP_MAX_AXES)
        return bad(err, errlen, arg, "at most %d knobs can be swept at once", SWEEP_MAX_AXES);
    sweep_axis ax;
    memset(&ax, 0, sizeof ax);
    ax.knob = names[order];
    ax.order = order;
    const char *v = eq + 1;
    for (;;) {
        const char *end = strchr(v, ',');
        size_t len = end ? (size_t)(end - v) : strlen(v);
        char val[SWEEP_VALUE_MAX];
        if (len == 0) return bad(err, errlen, arg, "an empty value; give NAME=v1,v2,...");
        if (len >= sizeof val) return bad(err, errlen, arg, "value '%.*s' is too long", (int)len, v);
        memcpy(val, v, len);
        val[len] = 0;
        /* the value must be one weft_config_set and weft_config_validate accept */
        weft_config cfg;
        weft_config_default(&cfg);
        cfg.scheduler = "ws";
        cfg.workers = 2;
        if (weft_config_set(&cfg, name, val) < 0 || weft_config_validate(&cfg) < 0)
            return bad(err, errlen, arg, "%s", weft_last_error());
        /* canonical text: the value as the config now holds it */
        char canon[SWEEP_VALUE_MAX];
        if (strcmp(name, "pin") == 0) snprintf(canon, sizeof canon, "%s", val);
        else snprintf(canon, sizeof canon, "%ld", strtol(val, NULL, 10));
        for (int i = 0; i < ax.nvalues; i++)
            if (strcmp(ax.values[i], canon) == 0)
                return bad(err, errlen, arg, "value %s given twice", canon);
        if (ax.nvalues == SWEEP_MAX_VALUES)
            return bad(err, errlen, arg, "at most %d values per knob", SWEEP_MAX_VALUES);
        memcpy(ax.values[ax.nvalues++], canon, sizeof canon);
        if (!end) break;
        v = end + 1;
    }
    int at = s->naxes;
    while (at > 0 && s->axes[at - 1].order > order) {
        s->axes[at] = s->axes[at - 1];
        at--;
    }
    s->axes[at] = ax;
    s->naxes++;
    return 0;
}

int sweep_points(const sweep *s, const char *scheduler, sweep_point *out, int max)
{
    int use[SWEEP_MAX_AXES], n = 0, total = 1;
    for (int a = 0; a < s->naxes; a++)
        if (sweep_knob_applies(scheduler, s->axes[a].knob)) {
            use[n++] = a;
            total *= s->axes[a].nvalues;
        }
    for (int k = 0; k < total && k < max; k++) {
        sweep_point *p = &out[k];
        memset(p, 0, sizeof *p);
        p->n = n;
        int rest = k;
        for (int j = n - 1; j >= 0; j--) {
            p->axis[j] = use[j];
            p->value[j] = rest % s->axes[use[j]].nvalues;
            rest /= s->axes[use[j]].nvalues;
        }
    }
    return total;
}

int sweep_point_knobs(const sweep *s, const sweep_point *p, char *buf, size_t len)
{
    size_t off = 0;
    if (len) buf[0] = 0;
    for (int j = 0; j < p->n; j++) {
        const sweep_axis *ax = &s->axes[p->axis[j]];
        bool room = buf && off < len;
        int n = snprintf(room ? buf + off : NULL, room ? len - off : 0, "%s%s=%s", j ? "," : "",
                         ax->knob, ax->values[p->value[j]]);
        if (n < 0) return -EINVAL;
        off += (size_t)n;
    }
    return (int)off;
}

int sweep_point_suffix(const sweep *s, const sweep_point *p, char *buf, size_t len)
{
    if (p->n == 0) {
        if (len) buf[0] = 0;
        return 0;
    }
    int n = snprintf(buf, len, "knobs:");
    if (n < 0) return -EINVAL;
    if (!buf) len = 0;
    int m = sweep_point_knobs(s, p, (size_t)n < len ? buf + n : NULL, (size_t)n < len ? len - (size_t)n : 0);
    return m < 0 ? m : n + m;
}

int sweep_point_apply(const sweep *s, const sweep_point *p, weft_config *cfg)
{
    for (int j = 0; j < p->n; j++) {
        const sweep_axis *ax = &s->axes[p->axis[j]];
        int rc = weft_config_set(cfg, ax->knob, ax->values[p->value[j]]);
        if (rc < 0) return rc;
    }
    return 0;
}
