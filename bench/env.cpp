/*
 * bench/env.cpp - the environment weft-bench records in its JSON context.
 *
 * Each value is read when the driver starts: /proc/cpuinfo for the CPU
 * model, sysconf for the online CPUs, uname(2) for the kernel, the clock for
 * the date (UTC, so that two machines agree on it), and git, run through
 * popen on the source tree, for the commit and whether the tree was dirty.
 * The source tree is the one CMake configured (compile definition
 * WEFT_SOURCE_DIR) unless the environment variable of the same name points
 * elsewhere (a binary copied away from its tree). git's "dirty" is
 * `git status --porcelain` non-empty: untracked files count, because the
 * build globs source folders and a new file there changes the binary.
 *
 * Rejected: reading .git/HEAD by hand (packed refs, worktrees and detached
 * heads make that a re-implementation of git); libgit2 (one more dependency
 * for two facts).
 */
#include "bench/env.h"

#include <sys/utsname.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <thread>

#ifndef WEFT_SOURCE_DIR
#define WEFT_SOURCE_DIR ""
#endif
#ifndef WEFT_CXX_FLAGS
#define WEFT_CXX_FLAGS ""
#endif

namespace weftbench {

static std::string trim(const std::string &s)
{
    size_t b = s.find_first_not_of(" \t\r\n");
    if (b == std::string::npos) return "";
    size_t e = s.find_last_not_of(" \t\r\n");
    return s.substr(b, e - b + 1);
}

/* Runs a shell command; true and its stdout when it exited 0. */
static bool run_command(const std::string &cmd, std::string *out)
{
    FILE *f = popen(cmd.c_str(), "r");
    if (!f) return false;
    std::string text;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) text.append(buf, n);
    int status = pclose(f);
    if (status != 0) return false;
    *out = text;
    return true;
}

/* 'it'\''s' quoting for a path in a shell command. */
static std::string shell_quote(const std::string &s)
{
    std::string q = "'";
    for (char c : s) {
        if (c == '\'')
            q += "'\\''";
        else
            q += c;
    }
    return q + "'";
}

std::string env_cpu_model()
{
    std::ifstream in("/proc/cpuinfo");
    std::string line;
    /* x86 says "model name"; some arm64 kernels say "Model" or nothing. */
    while (std::getline(in, line)) {
        size_t colon = line.find(':');
        if (colon == std::string::npos) continue;
        std::string key = trim(line.substr(0, colon));
        if (key == "model name" || key == "Model" || key == "cpu model")
            return trim(line.substr(colon + 1));
    }
    return "unknown";
}

int env_online_cpus()
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n >= 1 ? (int)n : 1;
}

std::string env_kernel()
{
    struct utsname u;
    if (uname(&u) != 0) return "unknown";
    return std::string(u.release) + " " + u.version;
}

std::string env_hostname()
{
    char buf[256];
    if (gethostname(buf, sizeof buf) != 0) return "unknown";
    buf[sizeof buf - 1] = 0;
    return buf;
}

std::string env_machine_label(int cores)
{
    const char *m = getenv("WEFT_MACHINE");
    if (m && *m) return m;
    /* the short host name: "build-7.example.org" -> "build-7" */
    std::string host = env_hostname();
    size_t dot = host.find('.');
    if (dot != std::string::npos && dot > 0) host = host.substr(0, dot);
    return host + "-" + std::to_string(cores) + "c";
}

std::string env_date_utc()
{
    time_t now = time(nullptr);
    struct tm tm;
    char buf[32];
    if (!gmtime_r(&now, &tm) || strftime(buf, sizeof buf, "%Y-%m-%d", &tm) == 0) return "unknown";
    return buf;
}

std::string env_source_dir()
{
    const char *d = getenv("WEFT_SOURCE_DIR");
    if (d && *d) return d;
    return WEFT_SOURCE_DIR;
}

std::string env_git_commit(const std::string &dir)
{
    std::string out;
    if (dir.empty() || !run_command("git -C " + shell_quote(dir) + " rev-parse HEAD 2>/dev/null", &out))
        return "unknown";
    out = trim(out);
    return out.empty() ? "unknown" : out;
}

std::string env_git_dirty(const std::string &dir)
{
    std::string out;
    if (dir.empty() || !run_command("git -C " + shell_quote(dir) + " status --porcelain 2>/dev/null", &out))
        return "unknown";
    return trim(out).empty() ? "false" : "true";
}

std::string env_cxx_compiler()
{
#if defined(__clang__)
    std::string name = "clang++ ";
#elif defined(__GNUC__)
    std::string name = "g++ ";
#else
    std::string name = "c++ ";
#endif
    std::string flags = trim(WEFT_CXX_FLAGS);
    return name + __VERSION__ + (flags.empty() ? "" : " (" + flags + ")");
}

std::string env_library_cflags(const char *build_info)
{
    if (!build_info) return "unknown";
    const char *p = strstr(build_info, "cflags=");
    if (!p) return "unknown";
    return trim(p + strlen("cflags="));
}

double env_c2c_round_trip_ns(int trips)
{
    /* Odd values are the ping's, even values the pong's; -1 stops the peer. */
    alignas(128) std::atomic<long> line{0};
    std::thread peer;
    try {
        peer = std::thread([&line] {
            for (;;) {
                long v = line.load(std::memory_order_acquire);
                if (v < 0) return;
                if (v & 1) line.store(v + 1, std::memory_order_release);
            }
        });
    } catch (...) {
        return -1;
    }
    if (env_online_cpus() < 2) {
        line.store(-1, std::memory_order_release);
        peer.join();
        return -1; /* one CPU: there is no second core to measure */
    }
    /* a short warm-up, so the peer is running before the clock starts */
    for (long i = 0; i < 100; i++) {
        line.store(2 * i + 1, std::memory_order_release);
        while (line.load(std::memory_order_acquire) != 2 * i + 2) {
        }
    }
    /* at most about 20 ms: with fewer free CPUs than threads each hand-off
     * waits for a time slice, and the count is cut short rather than the run */
    auto t0 = std::chrono::steady_clock::now(), t1 = t0;
    long done = 0;
    for (long i = 100; done < trips; i++) {
        line.store(2 * i + 1, std::memory_order_release);
        while (line.load(std::memory_order_acquire) != 2 * i + 2) {
        }
        if ((++done & 255) == 0 || done == trips) {
            t1 = std::chrono::steady_clock::now();
            if (t1 - t0 > std::chrono::milliseconds(20)) break;
        }
    }
    line.store(-1, std::memory_order_release);
    peer.join();
    return std::chrono::duration<double, std::nano>(t1 - t0).count() / (double)done;
}

} // namespace weftbench
