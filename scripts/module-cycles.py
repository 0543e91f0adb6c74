#!/usr/bin/env python3
"""Fails when the top-level modules of a crate import one another in a cycle.

Reads every `crate::<module>` path in the crate's sources (tests and comments left
out), groups the files by top-level module (`src/x.rs` and `src/x/...`), and reports
each strongly connected group of more than one module with the imports that tie it.

    scripts/module-cycles.py scheduler/src
"""
import os
import re
import sys


def imports(root):
    modules = {}
    for directory, _, files in os.walk(root):
        for name in files:
            if not name.endswith(".rs"):
                continue
            path = os.path.join(directory, name)
            top = os.path.relpath(path, root).split(os.sep)[0].removesuffix(".rs")
            if top in ("lib", "main"):
                continue
            text = open(path, encoding="utf-8").read()
            text = text.split("#[cfg(test)]")[0]
            text = re.sub(r"//[^\n]*", "", text)
            used = modules.setdefault(top, set())
            used.update(re.findall(r"crate::(\w+)", text))
            for group in re.finditer(r"use crate::\{((?:[^{}]|\{[^{}]*\})*)\}", text, re.S):
                body = re.sub(r"\{[^{}]*\}", "", group.group(1))
                used.update(p.strip().split("::")[0] for p in body.split(",") if p.strip())
    return {m: {u for u in used if u in modules and u != m} for m, used in modules.items()}


def cycles(graph):
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    sys.setrecursionlimit(10_000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "scheduler/src"
    graph = imports(root)
    found = cycles(graph)
    for group in found:
        print(f"{root}: modules that import one another: {', '.join(group)}")
        for module in group:
            print(f"  {module} -> {', '.join(sorted(graph[module] & set(group)))}")
    sys.exit(1 if found else 0)


if __name__ == "__main__":
    main()
