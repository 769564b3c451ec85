#!/usr/bin/env python3
"""Fails when modules of a crate import each other in a circle.

A module is a top-level file or folder of `src/`, and inside a folder each file or subfolder
(`instances/apply`). An edge is a `crate::…` or `super::…` path in a module's code, test modules
excepted. Usage: module_cycles.py SRC_DIR [SRC_DIR …]; exit 1 and the circles when any exist.
"""

import os
import re
import sys

TESTS = re.compile(r"#\[cfg\(test\)\]\s*mod tests \{.*", re.S)


def module_of(parts):
    """`["instances", "apply", "group"]` → `instances/apply`; `["report"]` → `report`."""
    parts = [p for p in parts if p != "mod"]
    return "/".join(parts[:2])


def exists(root, *path):
    base = os.path.join(root, *path)
    return os.path.isfile(base + ".rs") or os.path.isdir(base)


def edges_of(root):
    edges = {}
    for folder, _, files in os.walk(root):
        for name in files:
            if not name.endswith(".rs"):
                continue
            path = os.path.join(folder, name)
            parts = os.path.relpath(path, root)[:-3].split("/")
            if parts in (["lib"], ["main"]) or parts[0] == "bin":
                continue
            here = module_of(parts)
            code = TESTS.sub("", open(path, encoding="utf-8").read())
            targets = set()
            for first, second in re.findall(r"crate::([a-z_]+)(?:::([a-z_]+))?", code):
                nested = second and exists(root, first, second)
                targets.add(f"{first}/{second}" if nested else first)
            top_level = len([p for p in parts if p != "mod"]) == 1
            for first in re.findall(r"\bsuper::([a-z_]+)", code):
                if top_level and exists(root, first):
                    targets.add(first)
                elif not top_level and exists(root, parts[0], first):
                    targets.add(f"{parts[0]}/{first}")
            for target in targets:
                related = target == here or here.startswith(target + "/") or target.startswith(here + "/")
                if not related:
                    edges.setdefault(here, set()).add(target)
    return edges


def circles(edges):
    found = set()

    def walk(node, path):
        for nxt in sorted(edges.get(node, ())):
            if nxt in path:
                circle = path[path.index(nxt):]
                start = circle.index(min(circle))
                found.add(tuple(circle[start:] + circle[:start]))
            elif len(path) < 12:
                walk(nxt, path + [nxt])

    for node in sorted(edges):
        walk(node, [node])
    return sorted(found)


def main(roots):
    failed = False
    for root in roots:
        for circle in circles(edges_of(root)):
            failed = True
            print(f"{root}: " + " → ".join(circle + (circle[0],)), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
