"""wb_provenance: where a result came from -- the machine's identity, the
result folder's name, the git state.

Identity keys are those docs/bench-protocol.md ("Machine identity keys")
fixes; the context's `weft_cpu_identity_keys` lists them, so a new key needs
no change here. Older files (before those keys) are read as far as they go:
Google Benchmark's `caches` give the cache sizes and the hwloc topology XML
gives vendor, family, model number and stepping.

`identity_differences` returns, for every key that differs, what that means
for a comparison; `make reproduce` and `make compare` print these first.
"""

import os
import platform
import re
import subprocess

IDENTITY_KEYS = (
    "weft_cpu_vendor", "weft_cpu_family", "weft_cpu_model_id", "weft_cpu_stepping",
    "weft_cpu_microcode", "weft_cpu_model", "weft_cpu_cache_l1d", "weft_cpu_cache_l1i",
    "weft_cpu_cache_l2", "weft_cpu_cache_l3", "weft_cpu_flags_digest",
    "weft_cpu_flags_count", "weft_cpu_smt", "weft_cpu_threads_per_core",
    "weft_cpu_hypervisor", "weft_cpu_virtualization", "weft_cores",
    "weft_cpu_physical_cores", "weft_cpu_sockets", "weft_numa_nodes",
    "weft_mem_total_kib", "weft_kernel", "weft_cpu_governor", "weft_cpu_boost",
)

LABEL = {
    "weft_cpu_vendor": "CPU vendor", "weft_cpu_family": "CPU family",
    "weft_cpu_model_id": "CPU model number", "weft_cpu_stepping": "stepping",
    "weft_cpu_microcode": "microcode", "weft_cpu_model": "CPU model name",
    "weft_cpu_cache_l1d": "L1d", "weft_cpu_cache_l1i": "L1i", "weft_cpu_cache_l2": "L2",
    "weft_cpu_cache_l3": "L3", "weft_cpu_flags_digest": "CPU flags digest",
    "weft_cpu_flags_count": "CPU flag count", "weft_cpu_smt": "SMT",
    "weft_cpu_threads_per_core": "threads per core", "weft_cpu_hypervisor": "hypervisor",
    "weft_cpu_virtualization": "virtualization", "weft_cores": "online CPUs",
    "weft_cpu_physical_cores": "physical cores", "weft_cpu_sockets": "sockets",
    "weft_numa_nodes": "NUMA nodes", "weft_mem_total_kib": "memory",
    "weft_kernel": "kernel", "weft_cpu_governor": "frequency governor",
    "weft_cpu_boost": "boost",
}

_GENERATION = ("a different CPU generation behind the same model string: absolute "
               "times are not comparable; ratios may be")
MEANING = {
    "weft_cpu_vendor": "a different CPU maker: absolute times are not comparable; "
                       "ratios may not be either",
    "weft_cpu_family": _GENERATION, "weft_cpu_model_id": _GENERATION,
    "weft_cpu_stepping": "a different revision of the part: small absolute shifts possible",
    "weft_cpu_cache_l1d": _GENERATION, "weft_cpu_cache_l1i": _GENERATION,
    "weft_cpu_cache_l2": _GENERATION, "weft_cpu_cache_l3": _GENERATION,
    "weft_cpu_flags_digest": "a different instruction set exposed (CPU or hypervisor "
                             "configuration): absolute times may not be comparable",
    "weft_cpu_flags_count": "a different instruction set exposed",
    "weft_cpu_microcode": "different microcode (mitigations may differ): small "
                          "absolute shifts possible",
    "weft_cpu_model": "a different CPU: absolute times are not comparable; ratios may be",
    "weft_cpu_smt": "SMT differs: workers may share a core; multi-worker rows are "
                    "not comparable",
    "weft_cpu_threads_per_core": "SMT differs: workers may share a core; multi-worker "
                                 "rows are not comparable",
    "weft_cpu_hypervisor": "a different hypervisor: steal, timer and cross-core "
                           "latency differ; absolute times are not comparable",
    "weft_cpu_virtualization": "bare metal vs virtual machine: absolute times are "
                               "not comparable",
    "weft_cores": "a different CPU count: rows with more workers than the smaller "
                  "machine has CPUs, and the recommended worker count, are not comparable",
    "weft_cpu_physical_cores": "a different core count: multi-worker rows are not comparable",
    "weft_cpu_sockets": "a different socket count: cross-core latency differs",
    "weft_numa_nodes": "a different NUMA layout: the numa policy and multi-worker "
                       "rows are not comparable",
    "weft_mem_total_kib": "a different memory size: rarely matters for these workloads",
    "weft_kernel": "a different kernel: syscall, timer and IO rows (timers, tcp_echo, "
                   "tcp_stream, blocking_mix) may move",
    "weft_cpu_governor": "a different frequency policy: absolute times may move",
    "weft_cpu_boost": "boost differs: absolute times may move",
}


def _norm_size(v):
    """'48K', '49152', '48 KiB' -> bytes, or None."""
    if v is None:
        return None
    s = str(v).strip()
    m = re.match(r"^(\d+)\s*([KMG]?)(?:i?B)?$", s, re.I)
    if not m:
        return None
    mult = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}[m.group(2).upper()]
    n = int(m.group(1)) * mult
    if m.group(2) == "" and n < 4096:     # a bare small number: KiB
        n *= 1 << 10
    return n


def fmt_size(n):
    if n is None:
        return "?"
    if n >= (1 << 20) and n % (1 << 20) == 0:
        return "%d MiB" % (n >> 20)
    if n >= (1 << 10):
        return "%d KiB" % (n >> 10)
    return "%d B" % n


def _xml_info(xml, name):
    m = re.search(r'<info name="%s" value="([^"]*)"' % re.escape(name), xml or "")
    return m.group(1) if m else None


def identity(ctx):
    """{identity key: value as recorded} for a context, old files included
    (keys they cannot give are left out: "not recorded")."""
    out = {}
    keys = ctx.get("weft_cpu_identity_keys")
    keys = [k.strip() for k in str(keys).split(",") if k.strip()] if keys else IDENTITY_KEYS
    for k in keys:
        if k in ctx:
            out[k] = str(ctx[k])
    xml = ctx.get("weft_topology_xml")
    for k, info in (("weft_cpu_vendor", "CPUVendor"), ("weft_cpu_family", "CPUFamilyNumber"),
                    ("weft_cpu_model_id", "CPUModelNumber"), ("weft_cpu_stepping", "CPUStepping")):
        if k not in out and _xml_info(xml, info) is not None:
            out[k] = _xml_info(xml, info)
    caches = ctx.get("caches")
    if isinstance(caches, list):
        for c in caches:
            if not isinstance(c, dict):
                continue
            lvl, typ = c.get("level"), str(c.get("type", ""))
            key = {(1, "Data"): "weft_cpu_cache_l1d", (1, "Instruction"): "weft_cpu_cache_l1i",
                   (2, "Unified"): "weft_cpu_cache_l2", (3, "Unified"): "weft_cpu_cache_l3"}.get((lvl, typ))
            if key and key not in out and c.get("size"):
                out[key] = "%dK" % (int(c["size"]) >> 10)
    if "weft_cores" not in out and ctx.get("num_cpus") is not None:
        out["weft_cores"] = str(ctx["num_cpus"])
    return out


def _same(k, a, b):
    if k.startswith("weft_cpu_cache_"):
        return _norm_size(a) == _norm_size(b)
    if k == "weft_mem_total_kib":
        try:   # the kernel's reservation moves MemTotal by a few MiB
            x, y = float(a), float(b)
            return abs(x - y) <= 0.02 * max(x, y)
        except ValueError:
            pass
    return " ".join(str(a).split()) == " ".join(str(b).split())


def _show(k, v):
    if k.startswith("weft_cpu_cache_"):
        return fmt_size(_norm_size(v)) if _norm_size(v) is not None else str(v)
    if k == "weft_mem_total_kib":
        try:
            return "%.1f GiB" % (float(v) / (1 << 20))
        except ValueError:
            return str(v)
    return str(v)


def identity_differences(rec_ctx, new_ctx=None, new_ident=None):
    """([(key, label, recorded, new, meaning)] that differ,
        [(key, label, why)] that cannot be compared)."""
    a = identity(rec_ctx)
    b = new_ident if new_ident is not None else identity(new_ctx or {})
    diffs, unknown = [], []
    for k in list(dict.fromkeys(list(IDENTITY_KEYS) + list(a) + list(b))):
        va, vb = a.get(k), b.get(k)
        if va is None and vb is None:
            continue
        if va is None or vb is None:
            unknown.append((k, LABEL.get(k, k), "absent from the record" if va is None else "absent on the other side"))
            continue
        if va == "unknown" or vb == "unknown":
            if va != vb:
                unknown.append((k, LABEL.get(k, k), "unreadable in the record" if va == "unknown" else "unreadable on the other side"))
            continue
        if not _same(k, va, vb):
            diffs.append((k, LABEL.get(k, k), _show(k, va), _show(k, vb),
                          MEANING.get(k, "differs: absolute times may not be comparable")))
    return diffs, unknown


def identity_lines(rec_ctx, new_ctx=None, new_ident=None, what="this machine"):
    diffs, unknown = identity_differences(rec_ctx, new_ctx, new_ident)
    if not diffs:
        lines = ["machine identity: the recorded machine and %s agree on every key both "
                 "recorded" % what]
    else:
        lines = ["machine identity: %d key%s differ%s between the recorded machine and %s:"
                 % (len(diffs), "" if len(diffs) == 1 else "s", "s" if len(diffs) == 1 else "", what)]
        for k, lbl, va, vb, meaning in diffs:
            lines.append("  %s %s vs %s: %s" % (lbl, va, vb, meaning))
    if unknown:
        lines.append("  not compared: " + "; ".join("%s (%s)" % (l, why) for _, l, why in unknown))
    return lines


# ---------------------------------------------------------------------------
# This machine, read the way weft-bench reads it (bench/env.cpp)
# ---------------------------------------------------------------------------

def fnv1a64(s):
    h = 0xcbf29ce484222325
    for ch in s.encode():
        h ^= ch
        h = (h * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return "%016x" % h


def _read(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read().strip()
    except OSError:
        return None


def local_identity():
    """The identity keys of this machine (values "unknown" where unreadable)."""
    out = {k: "unknown" for k in IDENTITY_KEYS}
    cpu0 = {}
    cores, pkgs = set(), set()
    pkg = core = None
    txt = _read("/proc/cpuinfo") or ""
    for block in txt.split("\n\n"):
        d = {}
        for line in block.splitlines():
            k, _, v = line.partition(":")
            d[k.strip()] = v.strip()
        if not d:
            continue
        if not cpu0:
            cpu0 = d
        pkg, core = d.get("physical id"), d.get("core id")
        if pkg is not None:
            pkgs.add(pkg)
        if pkg is not None and core is not None:
            cores.add((pkg, core))
    for k, src in (("weft_cpu_vendor", "vendor_id"), ("weft_cpu_family", "cpu family"),
                   ("weft_cpu_model_id", "model"), ("weft_cpu_stepping", "stepping"),
                   ("weft_cpu_microcode", "microcode"), ("weft_cpu_model", "model name")):
        if cpu0.get(src):
            out[k] = cpu0[src]
    flags = cpu0.get("flags", "").split()
    if flags:
        out["weft_cpu_flags_digest"] = fnv1a64(" ".join(sorted(flags)))
        out["weft_cpu_flags_count"] = str(len(flags))
        out["weft_cpu_virtualization"] = "full" if "hypervisor" in flags else "none"
        if "hypervisor" not in flags:
            out["weft_cpu_hypervisor"] = "none"
    base = "/sys/devices/system/cpu/cpu0/cache"
    if os.path.isdir(base):
        for idx in sorted(os.listdir(base)):
            lvl, typ = _read(os.path.join(base, idx, "level")), _read(os.path.join(base, idx, "type"))
            size = _read(os.path.join(base, idx, "size"))
            key = {("1", "Data"): "weft_cpu_cache_l1d", ("1", "Instruction"): "weft_cpu_cache_l1i",
                   ("2", "Unified"): "weft_cpu_cache_l2", ("3", "Unified"): "weft_cpu_cache_l3"}.get((lvl, typ))
            if key and size:
                out[key] = size
    smt = _read("/sys/devices/system/cpu/smt/control")
    if smt:
        out["weft_cpu_smt"] = smt
    n = os.cpu_count() or 0
    if n:
        out["weft_cores"] = str(n)
    if cores:
        out["weft_cpu_physical_cores"] = str(len(cores))
        out["weft_cpu_threads_per_core"] = str(max(1, n // len(cores)))
    if pkgs:
        out["weft_cpu_sockets"] = str(len(pkgs))
    nodes = [d for d in (os.listdir("/sys/devices/system/node")
                         if os.path.isdir("/sys/devices/system/node") else [])
             if re.match(r"node\d+$", d)]
    if nodes:
        out["weft_numa_nodes"] = str(len(nodes))
    mem = _read("/proc/meminfo") or ""
    m = re.search(r"MemTotal:\s+(\d+)", mem)
    if m:
        out["weft_mem_total_kib"] = m.group(1)
    out["weft_kernel"] = "%s %s" % (platform.release(), platform.version())
    gov = _read("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor")
    if gov:
        out["weft_cpu_governor"] = gov
    boost = _read("/sys/devices/system/cpu/cpufreq/boost")
    if boost is None:
        nt = _read("/sys/devices/system/cpu/intel_pstate/no_turbo")
        boost = None if nt is None else ("0" if nt == "1" else "1")
    if boost is not None:
        out["weft_cpu_boost"] = boost
    # the hypervisor vendor needs CPUID; Python cannot read it portably:
    # leave it "unknown" (not a difference) unless there is no hypervisor.
    return out


# ---------------------------------------------------------------------------
# Result folders and git
# ---------------------------------------------------------------------------

def safe_label(s):
    s = re.sub(r"[^A-Za-z0-9._-]+", "-", str(s)).strip("-.")
    return s or "unknown"


def truthy(v):
    if isinstance(v, bool):
        return v
    if isinstance(v, (int, float)):
        return v != 0
    return str(v).strip().lower() in ("1", "true", "yes", "dirty", "y")


def result_id(ctx, machine=None):
    """'<machine>-<YYYY-MM-DD>-<commit>[-dirty]' for a context."""
    from wb_parse import BenchError, warn
    label = machine or ctx.get("weft_machine")
    if not label:
        label = ctx.get("weft_hostname") or ctx.get("host_name")
        if label:
            warn("context has no weft_machine; using host name %r (pass "
                 "--machine LABEL to choose one)" % label)
        else:
            raise BenchError("no machine label: context has no weft_machine "
                             "or host name; pass --machine LABEL")
    date = None
    for k in ("weft_date", "date"):
        m = re.search(r"(\d{4})-(\d{2})-(\d{2})", str(ctx.get(k, "")))
        if m:
            date = m.group(0)
            break
    if date is None:
        raise BenchError("context has no date (weft_date or date) in YYYY-MM-DD form")
    commit = str(ctx.get("weft_git_commit") or "").strip()
    commit = safe_label(commit[:7]) if commit else "nocommit"
    if truthy(ctx.get("weft_git_dirty", False)):
        commit += "-dirty"
    return "%s-%s-%s" % (safe_label(label), date, commit)


def porcelain_dirty(porcelain):
    """The dirty rule weft-bench follows: `git status --porcelain` names a
    path outside results/ (an untracked or modified file under results/ does
    not make a tree dirty)."""
    for line in porcelain.splitlines():
        if len(line) < 4:
            continue
        path = line[3:]
        if " -> " in path:
            path = path.split(" -> ", 1)[1]
        path = path.strip('"')
        if not (path == "results" or path.startswith("results/")):
            return True
    return False


def git_state(root):
    """(commit or None, dirty or None) of the tree at ROOT."""
    try:
        head = subprocess.run(["git", "-C", root, "rev-parse", "HEAD"], capture_output=True,
                              text=True, timeout=10)
        st = subprocess.run(["git", "-C", root, "status", "--porcelain"], capture_output=True,
                            text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None, None
    if head.returncode != 0 or st.returncode != 0:
        return None, None
    return head.stdout.strip(), porcelain_dirty(st.stdout)
