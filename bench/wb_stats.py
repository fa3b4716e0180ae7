"""wb_stats: the statistics, on samples grouped by launch.

The unit that varies is the launch (a separate process, in its own round of
the coordinator), not the repetition: repetitions of one process share its
memory layout, its placement and the machine's phase. So (every method is
also stated in docs/results-layout.md):

* Warm-up rule (`warmup_split`): in each launch, a leading repetition is
  warm-up when it is slower than that launch's steady state -- the median of
  the launch's second half -- by more than max(3 robust sigmas of the second
  half, 2 %). Leading repetitions are dropped while the rule holds, at most
  floor(n/3) of them, and only in launches of >= 3 repetitions. What was
  dropped is recorded and reported.
* Centre and interval (`launch_estimate`): the centre is the median of every
  kept repetition; the 95 % interval is a Student t interval over the launch
  medians on the log scale (exp(mean log m_l +- t_{L-1} s / sqrt(L))). It
  covers the centre of the row's launch-to-launch distribution at its nominal
  rate when launch medians are roughly log-normal (tested on synthetic
  samples). With one launch there is no between-launch information: the
  distribution-free order-statistic interval of that launch's repetitions is
  given instead, marked `one_launch` (it describes one process only).
* Variance components (log scale, ~ coefficient of variation): within-launch
  = pooled variance of log repetitions within launches; between-launch =
  var(launch means of log) - within / n (method of moments, floored at 0).
* Paired ratio (`paired_ratio`): for rows A and B, per launch both ran in,
  d_l = log median_l(A) - log median_l(B); ratio = exp(mean d), 95 % t
  interval over launches, two-sided paired t p-value. Rows of one workload run
  back to back in a round, so the launch's slow or fast phase cancels in d_l.
  With one common launch: the Hodges-Lehmann interval of the log shift from
  that launch's repetitions (distribution-free, from the Mann-Whitney U null
  distribution; unpaired, within one process), marked `one_launch`.
* Combined paired ratio over several workloads (`combined_paired`): per
  launch, the mean over workloads of d_l; then the same t interval. Used for
  a kind of work (a geometric mean of ratios).
* Mann-Whitney U (two-sided, scipy) on the pooled repetitions and van
  Elteren's stratified rank-sum test are kept as secondary evidence; they
  treat repetitions as independent, which is only right within one launch.
"""

import math

ALPHA = 0.05
CONFIDENCE = 0.95
MIN_REPS_FOR_TEST = 4
WARMUP_MIN_REL = 0.02
WARMUP_SIGMAS = 3.0


def median(xs):
    s = sorted(xs)
    n = len(s)
    if n == 0:
        return float("nan")
    mid = n // 2
    return s[mid] if n % 2 else (s[mid - 1] + s[mid]) / 2.0


def quantile(xs, p):
    """Linear-interpolated quantile (numpy's default)."""
    s = sorted(xs)
    if not s:
        return float("nan")
    k = (len(s) - 1) * p
    i = int(math.floor(k))
    if i + 1 >= len(s):
        return s[-1]
    return s[i] + (s[i + 1] - s[i]) * (k - i)


def mad(xs):
    m = median(xs)
    return median([abs(x - m) for x in xs])


def geomean(xs):
    xs = list(xs)
    if not xs or any(x <= 0 for x in xs):
        return float("nan")
    return math.exp(sum(math.log(x) for x in xs) / len(xs))


def _mean(xs):
    return sum(xs) / len(xs)


def _var(xs):
    if len(xs) < 2:
        return 0.0
    m = _mean(xs)
    return sum((x - m) ** 2 for x in xs) / (len(xs) - 1)


_TQ = {}


def t_quantile(conf, df):
    """Two-sided Student t quantile (cached: scipy's ppf is slow)."""
    k = (conf, df)
    if k not in _TQ:
        from scipy.stats import t
        _TQ[k] = float(t.ppf(0.5 + conf / 2.0, df))
    return _TQ[k]


# ---------------------------------------------------------------------------
# Order statistics (one process)
# ---------------------------------------------------------------------------

def binom_half_cdf(k, n):
    if k < 0:
        return 0.0
    return sum(math.comb(n, i) for i in range(0, min(k, n) + 1)) / float(2 ** n)


def median_ci_ranks(n, conf=CONFIDENCE):
    """(j, k, coverage) of the order-statistic interval [x_(j), x_(n-j+1)]."""
    best = None
    for j in range(1, n // 2 + 1):
        cov = 1.0 - 2.0 * binom_half_cdf(j - 1, n)
        if cov >= conf:
            best = (j, n - j + 1, cov)
        else:
            break
    return best


def median_ci(xs, conf=CONFIDENCE):
    r = median_ci_ranks(len(xs), conf)
    if r is None:
        return None
    s = sorted(xs)
    return (s[r[0] - 1], s[r[1] - 1], r[2])


# ---------------------------------------------------------------------------
# Rank tests
# ---------------------------------------------------------------------------

def mann_whitney_p(a, b):
    if not a or not b:
        return float("nan")
    from scipy.stats import mannwhitneyu
    if len(set(a) | set(b)) == 1:
        return 1.0
    p = float(mannwhitneyu(a, b, alternative="two-sided").pvalue)
    return 1.0 if math.isnan(p) else p


def compare_samples(a, b, alpha=ALPHA):
    na, nb = len(a), len(b)
    p = mann_whitney_p(a, b)
    if min(na, nb) < MIN_REPS_FOR_TEST:
        return {"p": p, "significant": False,
                "reason": "fewer than %d reps per side (%d vs %d): cannot be "
                          "significant" % (MIN_REPS_FOR_TEST, na, nb)}
    return {"p": p, "significant": p < alpha, "reason": ""}


def _ranks(values):
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    ties = 0.0
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        r = (i + j) / 2.0 + 1.0
        for t in range(i, j + 1):
            ranks[order[t]] = r
        cnt = j - i + 1
        ties += cnt ** 3 - cnt
        i = j + 1
    return ranks, ties


def van_elteren(strata):
    """Stratified two-sided rank-sum test of A vs B over STRATA [(a, b)];
    (p, z), z < 0: A tends to be smaller."""
    from scipy.stats import norm
    t_sum = e_sum = v_sum = 0.0
    for a, b in strata:
        m, n = len(a), len(b)
        if m == 0 or n == 0:
            continue
        big_n = m + n
        ranks, ties = _ranks(list(a) + list(b))
        w_a = sum(ranks[:m])
        weight = 1.0 / (big_n + 1.0)
        var = m * n / 12.0 * ((big_n + 1.0) - ties / (big_n * (big_n - 1.0)))
        t_sum += weight * w_a
        e_sum += weight * m * (big_n + 1.0) / 2.0
        v_sum += weight * weight * var
    if v_sum <= 0.0:
        return 1.0, 0.0
    z = (t_sum - e_sum) / math.sqrt(v_sum)
    return float(2.0 * norm.sf(abs(z))), z


_U_CDF = {}


def _u_null_cdf(m, n):
    """Exact null distribution of U (no ties): list P(U <= u), u = 0..mn,
    by the recurrence f(m, n, u) = f(m-1, n, u-n) + f(m, n-1, u)."""
    if (m, n) in _U_CDF:
        return _U_CDF[(m, n)]
    from functools import lru_cache

    @lru_cache(maxsize=None)
    def f(i, j, u):
        if u < 0:
            return 0
        if i == 0 or j == 0:
            return 1 if u == 0 else 0
        return f(i - 1, j, u - j) + f(i, j - 1, u)
    total = math.comb(m + n, m)
    out, acc = [], 0
    for u in range(m * n + 1):
        acc += f(m, n, u)
        out.append(acc / total)
    _U_CDF[(m, n)] = out
    return out


def hodges_lehmann_ci(a, b, conf=CONFIDENCE):
    """(shift, lo, hi, coverage) of A - B: the median of the pairwise
    differences and the distribution-free interval from the U null
    distribution (Bauer 1972), or None when too few values."""
    m, n = len(a), len(b)
    if m == 0 or n == 0:
        return None
    diffs = sorted(x - y for x in a for y in b)
    shift = median(diffs)
    if m * n > 900:
        from scipy.stats import norm
        z = float(norm.ppf(0.5 + conf / 2.0))
        k = int(math.floor(m * n / 2.0 - z * math.sqrt(m * n * (m + n + 1) / 12.0)))
        if k < 1:
            return (shift, None, None, None)
        return (shift, diffs[k - 1], diffs[m * n - k], conf)
    cdf = _u_null_cdf(m, n)
    k = 0
    while k < len(cdf) and cdf[k] <= (1.0 - conf) / 2.0:
        k += 1
    # P(U <= k-1) <= alpha/2: the interval [D_(k), D_(mn-k+1)]
    if k < 1:
        return (shift, None, None, None)
    cov = 1.0 - 2.0 * cdf[k - 1]
    return (shift, diffs[k - 1], diffs[m * n - k], cov)


# ---------------------------------------------------------------------------
# Warm-up
# ---------------------------------------------------------------------------

def warmup_split(values):
    """Number of leading values dropped as warm-up (WARMUP_RULE) from the
    values of one launch in run order."""
    n = len(values)
    if n < 3:
        return 0
    tail = values[n // 2:]
    m = median(tail)
    if not m > 0:
        return 0
    thresh = max(WARMUP_SIGMAS * 1.4826 * mad(tail), WARMUP_MIN_REL * abs(m))
    k = 0
    while k < n // 3 and values[k] > m + thresh:
        k += 1
    return k


WARMUP_RULE = ("in each launch of >= 3 repetitions, leading repetitions slower than "
               "the median of the launch's second half by more than max(3 x 1.4826 "
               "x MAD of the second half, 2 %) are dropped, at most floor(n/3)")


# ---------------------------------------------------------------------------
# Launch-level estimates
# ---------------------------------------------------------------------------

class Estimate:
    """Centre, 95 % interval and variance components of one row's metric."""

    def __init__(self):
        self.centre = float("nan")
        self.lo = self.hi = None
        self.method = ""
        self.one_launch = False
        self.launches = 0
        self.n = 0
        self.cv_within = float("nan")
        self.cv_between = float("nan")
        self.launch_medians = {}
        self.log_mean = self.log_sd = None  # of the launch medians (log scale)

    @property
    def ci(self):
        return None if self.lo is None else (self.lo, self.hi)

    def contains(self, x):
        return self.lo is not None and self.lo <= x <= self.hi

    def reproduction_interval(self, new_launches=None, conf=CONFIDENCE):
        """(lo, hi): the 95 % prediction interval for the median of a re-run
        with NEW_LAUNCHES launches (default: as many as this run's), from this
        run's launch medians: exp(mean +- t_{L-1} s sqrt(1/L + 1/L')). The
        re-run's median is itself an estimate, so the interval of the centre
        (sqrt(1/L)) catches it only about 83 % of the time even when the model
        is right; this one at about its nominal rate. With one launch: the
        interval of the centre (one process: too narrow, marked)."""
        if self.log_sd is None:
            return self.ci
        n = self.launches
        m = new_launches or n
        h = t_quantile(conf, n - 1) * self.log_sd * math.sqrt(1.0 / n + 1.0 / m)
        lo, hi = math.exp(self.log_mean - h), math.exp(self.log_mean + h)
        return (min(lo, self.centre), max(hi, self.centre))


def launch_estimate(by_launch, conf=CONFIDENCE):
    """Estimate from {launch: [kept values]}."""
    e = Estimate()
    groups = {l: v for l, v in by_launch.items() if v}
    allv = [x for v in groups.values() for x in v]
    e.n = len(allv)
    e.launches = len(groups)
    if not allv:
        return e
    e.centre = median(allv)
    e.launch_medians = {l: median(v) for l, v in groups.items()}
    positive = all(x > 0 for x in allv)
    tr = math.log if positive else (lambda x: x)
    inv = math.exp if positive else (lambda x: x)
    # variance components on the log scale
    if positive:
        logs = {l: [math.log(x) for x in v] for l, v in groups.items()}
        multi = [v for v in logs.values() if len(v) >= 2]
        w = _mean([_var(v) for v in multi]) if multi else float("nan")
        e.cv_within = math.sqrt(w) if multi else float("nan")
        if len(logs) >= 2:
            means = [_mean(v) for v in logs.values()]
            nbar_inv = _mean([1.0 / len(v) for v in logs.values()])
            b = _var(means) - (w * nbar_inv if multi else 0.0)
            e.cv_between = math.sqrt(max(0.0, b))
    if e.launches >= 2:
        d = [tr(m) for m in e.launch_medians.values()]
        mu, s = _mean(d), math.sqrt(_var(d))
        h = t_quantile(conf, len(d) - 1) * s / math.sqrt(len(d))
        e.lo, e.hi = inv(mu - h), inv(mu + h)
        if positive:
            e.log_mean, e.log_sd = mu, s
        # the centre is the pooled median; an interval that misses it would
        # mean nothing to a reader: widen to include it (rare, stated).
        e.lo, e.hi = min(e.lo, e.centre), max(e.hi, e.centre)
        e.method = "t over %d launch medians (log scale)" % len(d)
    else:
        e.one_launch = True
        ci = median_ci(allv, conf)
        if ci is not None:
            e.lo, e.hi = ci[0], ci[1]
            e.method = "one launch: order-statistic interval of its %d repetitions " \
                       "(within one process only)" % len(allv)
        else:
            e.method = "one launch, %d repetitions: no interval" % len(allv)
    return e


class Ratio:
    """A/B with its interval: ratio < 1 means A's metric is lower (faster)."""

    def __init__(self):
        self.ratio = float("nan")
        self.lo = self.hi = None
        self.p = float("nan")
        self.launches = 0
        self.one_launch = False
        self.method = ""
        self.per_launch = {}
        self.log_mean = self.log_sd = None  # of the per-launch log ratios

    @property
    def ci(self):
        return None if self.lo is None else (self.lo, self.hi)

    def reproduction_interval(self, new_launches=None, conf=CONFIDENCE):
        """The 95 % prediction interval for this ratio in a re-run with
        NEW_LAUNCHES launches (Estimate.reproduction_interval's reasoning);
        the interval itself when there is no launch-level spread."""
        if self.log_sd is None or self.launches < 2:
            return self.ci
        n, m = self.launches, new_launches or self.launches
        h = t_quantile(conf, n - 1) * self.log_sd * math.sqrt(1.0 / n + 1.0 / m)
        return (math.exp(self.log_mean - h), math.exp(self.log_mean + h))

    @property
    def valid(self):
        return not math.isnan(self.ratio)

    def contains(self, x):
        return self.lo is not None and self.lo <= x <= self.hi

    @property
    def direction(self):
        """-1: A lower (faster) beyond the interval, +1: A higher, 0: tie/none."""
        if self.lo is None:
            return 0
        if self.hi < 1.0:
            return -1
        if self.lo > 1.0:
            return 1
        return 0

    @property
    def halfwidth(self):
        """The relative size of difference this interval can resolve."""
        if self.lo is None or self.lo <= 0:
            return float("nan")
        return math.sqrt(self.hi / self.lo) - 1.0


def _t_ratio(d, conf):
    r = Ratio()
    n = len(d)
    mu = _mean(d)
    r.ratio = math.exp(mu)
    r.launches = n
    s = math.sqrt(_var(d))
    h = t_quantile(conf, n - 1) * s / math.sqrt(n)
    r.lo, r.hi = math.exp(mu - h), math.exp(mu + h)
    r.log_mean, r.log_sd = mu, s
    from scipy.stats import t
    if s == 0:
        r.p = 1.0 if mu == 0 else 0.0
    else:
        r.p = float(2.0 * t.sf(abs(mu) / (s / math.sqrt(n)), n - 1))
    return r


def paired_ratio(a_by_launch, b_by_launch, conf=CONFIDENCE):
    """Ratio of A to B from {launch: [values]} of each, paired by launch."""
    common = sorted(l for l in a_by_launch if a_by_launch[l] and b_by_launch.get(l))
    if not common:
        return Ratio()
    ma = {l: median(a_by_launch[l]) for l in common}
    mb = {l: median(b_by_launch[l]) for l in common}
    if any(ma[l] <= 0 or mb[l] <= 0 for l in common):
        return Ratio()
    if len(common) >= 2:
        d = [math.log(ma[l]) - math.log(mb[l]) for l in common]
        r = _t_ratio(d, conf)
        r.per_launch = {l: ma[l] / mb[l] for l in common}
        r.method = "paired by launch: t over %d per-launch log ratios of medians" % len(common)
        return r
    l = common[0]
    a = [math.log(x) for x in a_by_launch[l] if x > 0]
    b = [math.log(x) for x in b_by_launch[l] if x > 0]
    r = Ratio()
    r.one_launch = True
    r.launches = 1
    r.per_launch = {l: ma[l] / mb[l]}
    hl = hodges_lehmann_ci(a, b, conf)
    r.ratio = math.exp(hl[0])
    r.p = mann_whitney_p(a, b)
    if hl[1] is not None:
        r.lo, r.hi = math.exp(hl[1]), math.exp(hl[2])
        r.method = ("one launch: Hodges-Lehmann interval of the log shift from %d vs %d "
                    "repetitions (unpaired, one process)" % (len(a), len(b)))
    else:
        r.method = "one launch, %d vs %d repetitions: no interval" % (len(a), len(b))
    return r


def combined_paired(pairs, conf=CONFIDENCE):
    """Geometric-mean ratio over workloads: PAIRS is [(a_by_launch,
    b_by_launch)] (one per workload); per launch in which every pair has
    values, the mean of the log ratios of medians; t interval over launches.
    With fewer than 2 such launches: the geometric mean of the per-workload
    paired ratios, no interval."""
    if not pairs:
        return Ratio()
    common = None
    for a, b in pairs:
        ls = {l for l in a if a[l] and b.get(l)}
        common = ls if common is None else common & ls
    common = sorted(common or [])
    if len(common) >= 2:
        d = []
        for l in common:
            acc = 0.0
            for a, b in pairs:
                ma, mb = median(a[l]), median(b[l])
                if ma <= 0 or mb <= 0:
                    return Ratio()
                acc += math.log(ma) - math.log(mb)
            d.append(acc / len(pairs))
        r = _t_ratio(d, conf)
        r.method = ("paired by launch over %d workloads: t over %d per-launch mean log "
                    "ratios" % (len(pairs), len(common)))
        return r
    rs = [paired_ratio(a, b, conf) for a, b in pairs]
    r = Ratio()
    r.one_launch = True
    if all(x.valid for x in rs):
        r.ratio = geomean(x.ratio for x in rs)
    r.method = "fewer than 2 common launches: geometric mean, no interval"
    return r


def welch_log_ratio(a_meds, b_meds, conf=CONFIDENCE):
    """Unpaired ratio A/B of two sets of launch medians (two different runs):
    Welch t interval of the difference of mean logs."""
    r = Ratio()
    a = [math.log(x) for x in a_meds if x > 0]
    b = [math.log(x) for x in b_meds if x > 0]
    if not a or not b:
        return r
    mu = _mean(a) - _mean(b)
    r.ratio = math.exp(mu)
    if len(a) < 2 or len(b) < 2:
        return r
    va, vb = _var(a) / len(a), _var(b) / len(b)
    se = math.sqrt(va + vb)
    if se == 0:
        r.lo = r.hi = r.ratio
        r.p = 1.0 if mu == 0 else 0.0
        return r
    df = (va + vb) ** 2 / ((va ** 2) / (len(a) - 1) + (vb ** 2) / (len(b) - 1))
    from scipy.stats import t
    h = float(t.ppf(0.5 + conf / 2.0, df)) * se
    r.lo, r.hi = math.exp(mu - h), math.exp(mu + h)
    r.p = float(2.0 * t.sf(abs(mu) / se, df))
    r.launches = min(len(a), len(b))
    r.method = "Welch t over launch medians (log scale), %d vs %d launches" % (len(a), len(b))
    return r


def verdict_text(r, a, b, tie_margin=None):
    """'ws/2 is 12 % faster than ws/1 [8 %, 16 %]', 'tie: within ±3 %', ...
    "faster by x %" = A takes x % less time (or latency) than B."""
    if not r.valid:
        return "no common value"
    if r.lo is None:
        return "%s/%s = %.3f (no interval: %s)" % (a, b, r.ratio, r.method)
    if r.hi < 1.0:
        return "%s is %.0f %% faster than %s [%.0f %%, %.0f %%]" % (
            a, 100 * (1 - r.ratio), b, 100 * (1 - r.hi), 100 * (1 - r.lo))
    if r.lo > 1.0 and r.ratio >= 2.0:
        return "%s is %.2f× slower than %s [%.2f×, %.2f×]" % (a, r.ratio, b, r.lo, r.hi)
    if r.lo > 1.0:
        return "%s is %.0f %% slower than %s [%.0f %%, %.0f %%]" % (
            a, 100 * (r.ratio - 1), b, 100 * (r.lo - 1), 100 * (r.hi - 1))
    w = max(1 - r.lo, r.hi - 1)
    return "tie: within ±%.0f %%" % (100 * w) if w >= 0.005 else "tie: within ±%.1f %%" % (100 * w)
