#!/usr/bin/env python3
# Splits a `perf record --call-graph dwarf -p <gateway pid>` profile of `invois gateway` by
# stage, from each sample's call stack: `perf script -i FILE | python3 perf_stages.py`.
# SQLite runs on sqlx's worker threads, so storage is counted by thread, not by caller.
import sys, re, collections
RULES = [
    ("signing", ("invois_sign::",)),
    ("validation (prepare)", ("invois_gateway::pipeline::prepare",)),
    ("intake (ERP API)", ("invois_gateway::intake", "invois_gateway::http::documents")),
    ("webhook", ("invois_gateway::webhooks", "received_webhooks")),
    ("submission", ("invois_gateway::pipeline::submit", "submit_once", "submit_batch")),
    ("polling", ("invois_gateway::pipeline::poll",)),
    ("other pipeline loops", ("invois_gateway::pipeline", "invois_gateway::consolidation", "invois_gateway::login")),
    ("HTTP serving (hyper/axum)", ("hyper::", "axum::", "invois_serve")),
]
counts = collections.Counter(); total = 0
comm = None; frames = []
def flush():
    global total
    if comm is None: return
    total += 1
    if comm.startswith("sqlx-sqlite"):
        counts["storage (SQLite worker threads)"] += 1; return
    text = "\n".join(frames)
    for name, pats in RULES:
        if any(p in text for p in pats):
            counts[name] += 1; return
    if all(f.endswith("([kernel.kallsyms])") for f in frames if f):
        counts["kernel only (scheduling, I/O)"] += 1; return
    counts["runtime & unattributed (tokio, malloc)"] += 1
for line in sys.stdin:
    if not line.strip():
        flush(); comm = None; frames = []; continue
    if not line.startswith((" ", "\t")):
        comm = line.split()[0]; frames = []
    else:
        frames.append(line.strip())
flush()
for k, v in counts.most_common():
    print(f"{k:45s} {100*v/total:5.1f}%")
print("samples", total)
