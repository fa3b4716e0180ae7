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
 * `git status --porcelain` naming a path outside results/: untracked files
 * count, because the build globs source folders and a new file there changes
 * the binary; results/ is where `make bench` itself writes.
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
#include <algorithm>
#include <map>
#include <set>
#include <sstream>
#include <cstdint>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

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
    std::string out, top;
    if (dir.empty() || !run_command("git -C " + shell_quote(dir) + " status --porcelain 2>/dev/null", &out))
        return "unknown";
    /* Porcelain paths are relative to the top of the work tree: "XY path" or
     * "XY orig -> path". results/ is where make bench writes; a clone that
     * ran it once is not thereby dirty. */
    std::istringstream lines(out);
    std::string line;
    while (std::getline(lines, line)) {
        if (line.size() < 4) continue;
        std::string path = line.substr(3);
        size_t arrow = path.find(" -> ");
        if (arrow != std::string::npos) path = path.substr(arrow + 4);
        if (!path.empty() && path[0] == '"') path = path.substr(1);
        if (path.compare(0, 8, "results/") == 0) continue;
        return "true";
    }
    return "false";
}

/* ---- the machine's identity ---------------------------------------------------- */

static std::string read_line(const std::string &path)
{
    std::ifstream in(path);
    std::string line;
    if (!in || !std::getline(in, line)) return "unknown";
    line = trim(line);
    return line.empty() ? "unknown" : line;
}

/* FNV-1a, 64 bits: a stable digest with no dependency (not a security use). */
static std::string fnv1a64_hex(const std::string &s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (unsigned char c : s) {
        h ^= c;
        h *= 0x100000001b3ull;
    }
    char b[24];
    snprintf(b, sizeof b, "%016llx", (unsigned long long)h);
    return b;
}

static std::string hypervisor_vendor()
{
#if defined(__x86_64__) || defined(__i386__)
    unsigned a, b, c, d;
    __cpuid(0x40000000u, a, b, c, d);
    char v[13];
    memcpy(v, &b, 4);
    memcpy(v + 4, &c, 4);
    memcpy(v + 8, &d, 4);
    v[12] = 0;
    std::string s = trim(std::string(v, strnlen(v, 12)));
    if (s == "KVMKVMKVM") return "KVM";
    if (s == "VMwareVMware") return "VMware";
    if (s == "XenVMMXenVMM") return "Xen";
    if (s == "TCGTCGTCGTCG") return "TCG";
    if (s == "bhyve bhyve") return "bhyve";
    return s.empty() ? "unknown" : s;
#else
    std::string t = read_line("/sys/hypervisor/type");
    return t;
#endif
}

std::vector<std::pair<std::string, std::string>> env_machine_identity()
{
    std::map<std::string, std::string> first; /* CPU 0's fields */
    std::set<std::string> packages, cores;
    std::string pkg = "", core = "";
    std::ifstream in("/proc/cpuinfo");
    std::string line;
    int cpu = -1;
    while (std::getline(in, line)) {
        size_t colon = line.find(':');
        if (colon == std::string::npos) {
            if (!pkg.empty() || !core.empty()) cores.insert(pkg + "/" + core);
            pkg.clear();
            core.clear();
            continue;
        }
        std::string key = trim(line.substr(0, colon)), val = trim(line.substr(colon + 1));
        if (key == "processor") cpu++;
        if (key == "physical id") {
            pkg = val;
            packages.insert(val);
        }
        if (key == "core id") core = val;
        if (cpu == 0 && !first.count(key)) first[key] = val;
    }
    if (!pkg.empty() || !core.empty()) cores.insert(pkg + "/" + core);
    auto field = [&](const char *k) {
        auto it = first.find(k);
        return it == first.end() || it->second.empty() ? std::string("unknown") : it->second;
    };

    std::map<std::string, std::string> cache; /* "l1d" -> "32K" */
    for (int i = 0; i < 16; i++) {
        std::string d = "/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(i) + "/";
        std::string level = read_line(d + "level"), type = read_line(d + "type"), size = read_line(d + "size");
        if (level == "unknown") break;
        std::string k = "l" + level;
        if (type == "Data") k += "d";
        else if (type == "Instruction") k += "i";
        cache[k] = size;
    }
    auto cache_of = [&](const char *k) { return cache.count(k) ? cache[k] : std::string("unknown"); };

    std::string flags = field("flags"), digest = "unknown", nflags = "unknown";
    if (flags != "unknown") {
        std::istringstream fs(flags);
        std::vector<std::string> v;
        std::string f;
        while (fs >> f) v.push_back(f);
        std::sort(v.begin(), v.end());
        std::string joined;
        for (size_t i = 0; i < v.size(); i++) joined += (i ? " " : "") + v[i];
        digest = fnv1a64_hex(joined);
        nflags = std::to_string(v.size());
    }
    bool hv = (" " + flags + " ").find(" hypervisor ") != std::string::npos;
    int online = env_online_cpus();
    std::string phys = cores.empty() ? "unknown" : std::to_string(cores.size());
    std::string tpc = cores.empty() ? "unknown" : std::to_string(std::max<size_t>(1, (size_t)online / cores.size()));

    std::string mem = "unknown";
    {
        std::ifstream mi("/proc/meminfo");
        while (std::getline(mi, line))
            if (line.compare(0, 9, "MemTotal:") == 0) {
                std::istringstream ms(line.substr(9));
                long long kb;
                if (ms >> kb) mem = std::to_string(kb);
                break;
            }
    }
    std::string boost = read_line("/sys/devices/system/cpu/cpufreq/boost");
    if (boost == "unknown") {
        std::string nt = read_line("/sys/devices/system/cpu/intel_pstate/no_turbo");
        if (nt == "0") boost = "1";
        else if (nt == "1") boost = "0";
    }
    std::string microcode = field("microcode");
    std::string model_name = env_cpu_model();

    return {
        {"weft_cpu_vendor", field("vendor_id")},
        {"weft_cpu_family", field("cpu family")},
        {"weft_cpu_model_id", field("model")},
        {"weft_cpu_stepping", field("stepping")},
        {"weft_cpu_microcode", microcode},
        {"weft_cpu_model", model_name},
        {"weft_cpu_cache_l1d", cache_of("l1d")},
        {"weft_cpu_cache_l1i", cache_of("l1i")},
        {"weft_cpu_cache_l2", cache_of("l2")},
        {"weft_cpu_cache_l3", cache_of("l3")},
        {"weft_cpu_flags_digest", digest},
        {"weft_cpu_flags_count", nflags},
        {"weft_cpu_smt", read_line("/sys/devices/system/cpu/smt/control")},
        {"weft_cpu_threads_per_core", tpc},
        {"weft_cpu_hypervisor", hv ? hypervisor_vendor() : (flags == "unknown" ? "unknown" : "none")},
        {"weft_cpu_virtualization", flags == "unknown" ? "unknown" : hv ? "full" : "none"},
        {"weft_cores", std::to_string(online)},
        {"weft_cpu_physical_cores", phys},
        {"weft_cpu_sockets", packages.empty() ? "unknown" : std::to_string(packages.size())},
        {"weft_mem_total_kib", mem},
        {"weft_kernel", env_kernel()},
        {"weft_cpu_governor", read_line("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor")},
        {"weft_cpu_boost", boost},
    };
}

double env_calibration_ns()
{
    auto t0 = std::chrono::steady_clock::now();
    uint64_t x = 1;
    for (int i = 0; i < 2000000; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        x ^= x >> 29;
        __asm__ volatile("" : "+r"(x));
    }
    auto t1 = std::chrono::steady_clock::now();
    return std::chrono::duration<double, std::nano>(t1 - t0).count();
}

cpu_times env_cpu_times()
{
    cpu_times t;
    std::ifstream in("/proc/stat");
    std::string cpu;
    unsigned long long v[8] = {0};
    if (!(in >> cpu) || cpu != "cpu") return t;
    for (int i = 0; i < 8; i++)
        if (!(in >> v[i])) return t;
    for (int i = 0; i < 8; i++) t.total += v[i];
    t.steal = v[7];
    t.ok = true;
    return t;
}

double env_steal_pct(const cpu_times &a, const cpu_times &b)
{
    if (!a.ok || !b.ok || b.total <= a.total) return a.ok && b.ok ? 0.0 : -1.0;
    return 100.0 * (double)(b.steal - a.steal) / (double)(b.total - a.total);
}

double env_loadavg1()
{
    std::ifstream in("/proc/loadavg");
    double l;
    if (!(in >> l)) return -1;
    return l;
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
        if ((++done & 15) == 0 || done == trips) {
            t1 = std::chrono::steady_clock::now();
            if (t1 - t0 > std::chrono::milliseconds(20)) break;
        }
    }
    line.store(-1, std::memory_order_release);
    peer.join();
    return std::chrono::duration<double, std::nano>(t1 - t0).count() / (double)done;
}

} // namespace weftbench
