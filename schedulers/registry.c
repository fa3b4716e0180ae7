/* schedulers/registry.c - the one table of schedulers, found by name. */
#include <string.h>

#include "schedulers/sched.h"
#include "weft/runtime.h"

extern const sched_ops sched_fifo;
extern const sched_ops sched_global;
extern const sched_ops sched_ws;
extern const sched_ops sched_numa;

const sched_ops *const sched_registry[] = {
    &sched_fifo,
    &sched_global,
    &sched_ws,
    &sched_numa,
};
const int sched_registry_count = (int)(sizeof sched_registry / sizeof sched_registry[0]);

const sched_ops *sched_find(const char *name)
{
    if (!name) return NULL;
    for (int i = 0; i < sched_registry_count; i++)
        if (strcmp(sched_registry[i]->name, name) == 0) return sched_registry[i];
    return NULL;
}

int weft_scheduler_count(void) { return sched_registry_count; }
const char *weft_scheduler_name(int i)
{
    return i >= 0 && i < sched_registry_count ? sched_registry[i]->name : NULL;
}
const char *weft_scheduler_describe(int i)
{
    return i >= 0 && i < sched_registry_count ? sched_registry[i]->description : NULL;
}
