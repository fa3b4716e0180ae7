/*
 * bench/env.h - what weft-bench records about the machine and the build.
 *
 * Everything here is read at run time (the CPU, the kernel, the host, the
 * date, the git state of the source tree the binary was built from), never
 * baked in at build time, so that a result file says where and from what it
 * was measured. Failures never stop a run: a value that cannot be read is
 * "unknown".
 */
#ifndef WEFT_BENCH_ENV_H
#define WEFT_BENCH_ENV_H

#include <string>
#include <utility>
#include <vector>

namespace weftbench {

std::string env_cpu_model();            /* "model name" of /proc/cpuinfo */
int env_online_cpus();                  /* sysconf(_SC_NPROCESSORS_ONLN), >= 1 */
std::string env_kernel();               /* uname -r, a space, uname -v */
std::string env_hostname();
std::string env_machine_label(int cores); /* $WEFT_MACHINE, else "<host>-<cores>c" */
std::string env_date_utc();             /* YYYY-MM-DD, UTC */
std::string env_source_dir();           /* $WEFT_SOURCE_DIR, else the build's source dir */
std::string env_git_commit(const std::string &dir); /* HEAD's hash, or "unknown" */
/* "true", "false" or "unknown": "true" only when `git status --porcelain`
 * names a path outside results/ (where `make bench` writes its results). */
std::string env_git_dirty(const std::string &dir);
/* The machine identity keys of docs/bench-protocol.md ("Machine identity
 * keys"), in that order, except weft_numa_nodes (from the topology weft
 * runs on, which the driver opens itself). Unreadable values: "unknown". */
std::vector<std::pair<std::string, std::string>> env_machine_identity();
/* A fixed single-threaded loop, timed: ns for the whole loop (about 3 ms on
 * the reference machine); a slow phase of the machine shows as a larger value. */
double env_calibration_ns();
/* The hypervisor's share of CPU time since `before` (from /proc/stat), in %;
 * negative when unreadable. */
struct cpu_times {
    unsigned long long steal = 0, total = 0;
    bool ok = false;
};
cpu_times env_cpu_times();
double env_steal_pct(const cpu_times &before, const cpu_times &after);
double env_loadavg1(); /* negative when unreadable */
std::string env_cxx_compiler();         /* the compiler of this driver and its flags */
/* The C flags the library was built with (the "cflags=" part of
 * weft_build_info()), trimmed. */
std::string env_library_cflags(const char *build_info);
/* The core-to-core cache-line round trip, in ns: this thread and one new,
 * unpinned thread pass a counter back and forth `trips` times through one
 * cache line. On a small VM the host moves the vCPUs between near and far
 * physical cores, and this number (and with it every cross-worker row)
 * changes by 3x or more from one minute to the next; weft-bench records it
 * on every repetition as the counter c2c_rt_ns. Negative if the thread
 * cannot be started. */
double env_c2c_round_trip_ns(int trips);

} // namespace weftbench

#endif
