#!/usr/bin/env python3
"""Import cycles between the files of one crate.

Usage: scripts/import-cycles.py [CRATE_SRC_DIR ...]
       (default: every crates/*/src)

A file's module path comes from where it sits (src/a/b.rs and src/a/b/mod.rs
are `a::b`). Every `crate::x::y`, `super::x` and `self::x` path in the file
(in `use` lines and inline) is an edge to the file of the longest module path
it names. A module's declaration of its children (`mod x;`) is not an edge: a
parent may re-export its children (`pub use`), but a child that reaches back into its
parent's file closes a cycle. Test code (`#[cfg(test)]` modules and files
under tests/) is left out. Prints each cycle (a strongly connected set of
files, with the edges inside it) and exits 1 when there is one, 0 when there is none.
"""
import os
import re
import sys

PATH_RE = re.compile(r"\b(crate|super|self)((?:::[A-Za-z_][A-Za-z0-9_]*)+|::\{)")
USE_GROUP_RE = re.compile(r"\b(crate|super|self)::\{([^;]*?)\};", re.S)


def module_of(src, path):
    rel = os.path.relpath(path, src)[:-3].split(os.sep)
    if rel[-1] in ("mod", "lib", "main"):
        rel = rel[:-1]
    return tuple(rel)


def strip_tests(text):
    """Drops `#[cfg(test)] mod x { ... }` blocks and comments."""
    text = re.sub(r"//[^\n]*", "", text)
    out, i = [], 0
    for m in re.finditer(r"#\[cfg\(test\)\]\s*(pub(\([^)]*\))?\s+)?mod\s+\w+\s*\{", text):
        if m.start() < i:
            continue
        out.append(text[i:m.start()])
        depth, j = 1, m.end()
        while j < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            j += 1
        i = j
    out.append(text[i:])
    return "".join(out)


def paths_in(text):
    """Yields each path (a list of segments, first one crate/super/self)."""
    for m in USE_GROUP_RE.finditer(text):
        head = m.group(1)
        for item in re.split(r",(?![^{]*\})", m.group(2)):
            segs = re.findall(r"[A-Za-z_][A-Za-z0-9_]*", item.split("{")[0])
            if segs:
                yield [head] + segs
    for m in PATH_RE.finditer(text):
        if m.group(2) == "::{":
            continue
        yield [m.group(1)] + m.group(2).strip(":").split("::")


def resolve(segs, here, modules):
    head, rest = segs[0], segs[1:]
    if head == "crate":
        base = ()
    else:
        # `self` is this module; `super` its parent. A file x.rs is module x;
        # its `super` is the module that declares it.
        base = here
        if head == "super":
            base = here[:-1]
    full = base + tuple(rest)
    for n in range(len(full), -1, -1):
        if full[:n] in modules:
            return full[:n]
    return None


def cycles(src):
    files = {}
    for root, _, names in os.walk(src):
        for n in names:
            if n.endswith(".rs"):
                p = os.path.join(root, n)
                if "tests" in os.path.relpath(p, src).split(os.sep)[:-1] or n == "tests.rs":
                    continue
                files[module_of(src, p)] = p
    modules = set(files)
    edges = {m: set() for m in modules}
    for m, p in files.items():
        text = strip_tests(open(p, encoding="utf-8").read())
        # A re-export (`pub use child::X;`) is part of a module's declaration
        # of its children, as `mod child;` is: not an edge.
        text = re.sub(r"\bpub(\([^)]*\))?\s+use\s+[^;]*;", "", text)
        for segs in paths_in(text):
            t = resolve(segs, m, modules)
            if t is not None and t != m:
                edges[m].add(t)
        # A bare `child::x` names a child module of this one (in the crate
        # root, any top-level module).
        children = {c[-1] for c in modules if len(c) == len(m) + 1 and c[:len(m)] == m}
        for name in re.findall(r"(?<![A-Za-z0-9_:])([a-z_][a-z0-9_]*)::", text):
            if name in children:
                edges[m].add(m + (name,))
    # Tarjan's strongly connected components.
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(modules):
        if v not in index:
            visit(v)
    rel = lambda m: os.path.relpath(files[m], src)
    return [([rel(m) for m in c],
             sorted(f"{rel(a)} -> {rel(b)}" for a in c for b in edges[a] if b in c))
            for c in out]


def main():
    srcs = sys.argv[1:]
    if not srcs:
        here = os.path.dirname(os.path.abspath(__file__))
        crates = os.path.join(here, "..", "crates")
        srcs = sorted(os.path.join(crates, c, "src") for c in os.listdir(crates)
                      if os.path.isdir(os.path.join(crates, c, "src")))
    found = 0
    for src in srcs:
        for c, inside in cycles(src):
            found += 1
            print(f"{os.path.normpath(src)}: cycle among {', '.join(c)}")
            for e in inside:
                print(f"    {e}")
    if found:
        print(f"{found} import cycle(s)")
        return 1
    print("no import cycles")
    return 0


if __name__ == "__main__":
    sys.exit(main())
