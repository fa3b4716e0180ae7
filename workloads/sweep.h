/*
 * workloads/sweep.h - knob sweeps: `--sweep NAME=v1,v2,...` (repeatable; the
 * product of all of them), expanded per scheduler.
 *
 * A sweep is validated before anything runs: an unknown knob, a knob that is
 * not a tuning knob (scheduler, workers, topology: the driver selects
 * those), a value weft_config_set or weft_config_validate refuses, a value
 * given twice or a knob swept twice is refused with a message that lists the
 * valid knobs or values.
 *
 * A knob a scheduler does not have is not swept for it (global has no LIFO
 * slot, fifo does not steal), so a sweep never produces two rows that run the
 * same configuration. The axes of a point are always in the order of
 * weft_config_knob_names(), whatever the order of the --sweep flags, and
 * name the row suffix `knobs:NAME=V,NAME=V` (only the swept knobs).
 */
#ifndef WEFT_WORKLOADS_SWEEP_H
#define WEFT_WORKLOADS_SWEEP_H

#include <stdbool.h>
#include <stddef.h>

#include "weft/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SWEEP_MAX_AXES 8
#define SWEEP_MAX_VALUES 16
#define SWEEP_VALUE_MAX 32

typedef struct sweep_axis {
    const char *knob;  /* a name from weft_config_knob_names() (static storage) */
    int order;         /* its index there: the fixed order of row names */
    int nvalues;
    char values[SWEEP_MAX_VALUES][SWEEP_VALUE_MAX]; /* canonical: "1", not "01" */
} sweep_axis;

typedef struct sweep {
    int naxes;
    sweep_axis axes[SWEEP_MAX_AXES]; /* sorted by order */
} sweep;

typedef struct sweep_point {
    int n;                        /* axes that apply to the scheduler */
    int axis[SWEEP_MAX_AXES];     /* index into sweep.axes */
    int value[SWEEP_MAX_AXES];    /* index into that axis's values */
} sweep_point;

void sweep_init(sweep *s);
/* Adds one --sweep argument "NAME=v1,v2,...": 0, or -EINVAL with a message
 * in err (which starts with the argument as given). */
int sweep_add(sweep *s, const char *arg, char *err, size_t errlen);
/* Whether `scheduler` has the knob (an unknown scheduler: true), from the
 * policy's own knob table and the core's (schedulers/sched.h, E7). */
bool sweep_knob_applies(const char *scheduler, const char *knob);
/* The knob's one-line documentation from those tables, NULL if unknown. */
const char *sweep_knob_doc(const char *knob);
/* The points for one scheduler: the product of the axes that apply to it,
 * the last axis varying fastest. At least one (with no axis that applies:
 * one empty point). Returns how many there are, writing at most max. */
int sweep_points(const sweep *s, const char *scheduler, sweep_point *out, int max);
/* "lifo_slot=0,steal_batch=1" ("" for an empty point): a WEFT_KNOBS value. */
int sweep_point_knobs(const sweep *s, const sweep_point *p, char *buf, size_t len);
/* "knobs:lifo_slot=0,steal_batch=1", or "" for an empty point: the row suffix. */
int sweep_point_suffix(const sweep *s, const sweep_point *p, char *buf, size_t len);
/* Sets the point's knobs on cfg (values point into s). */
int sweep_point_apply(const sweep *s, const sweep_point *p, weft_config *cfg);

#ifdef __cplusplus
}
#endif
#endif
