#!/usr/bin/python3
"""weftbench: the one import of report.py, compare.py, reproduce.py and
echo_compare.sh. The code lives in modules split by concern:

    wb_parse       reading the JSON: rows, launches, workload definitions
    wb_stats       statistics: warm-up rule, launch-level intervals, paired
                   ratios, U / van Elteren / Hodges-Lehmann
    wb_analysis    per-workload tables, recommendations, weft vs peers
    wb_provenance  machine identity, result folder names, git state
    wb_reproduce   re-running a recorded result and judging it at 4 levels
    wb_format      how numbers are written

Every method is stated in docs/results-layout.md. Only the standard
library, scipy and (report.py) matplotlib, under /usr/bin/python3.
"""

import importlib.util
import os
import sys

if importlib.util.find_spec("scipy") is None:
    # Exit 2 (usage error), never 1: compare.py's 1 means "regression".
    print("weftbench: scipy is missing from %s; run the benchmark tools with "
          "/usr/bin/python3 (Debian's python3-scipy and python3-matplotlib)"
          % sys.executable, file=sys.stderr)
    sys.exit(2)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from wb_parse import *        # noqa: E402,F401,F403
from wb_stats import *        # noqa: E402,F401,F403
from wb_analysis import *     # noqa: E402,F401,F403
from wb_provenance import *   # noqa: E402,F401,F403
from wb_format import *       # noqa: E402,F401,F403
import wb_parse, wb_stats, wb_analysis, wb_provenance, wb_format  # noqa: E402,F401


def load(paths):
    """(docs, context, context diffs, rows, defs, stat names, tables) for
    result folders or JSON files: everything a tool needs."""
    docs = load_paths(paths)
    ctx, diffs = merged_context(docs)
    rows = collect_rows(docs)
    defs = workload_defs(ctx)
    names = stat_counter_names(ctx)
    tables = analyse(rows, defs, names)
    return {"docs": docs, "ctx": ctx, "ctx_diffs": diffs, "rows": rows, "defs": defs,
            "stat_names": names, "tables": tables}
