#!/usr/bin/env python3
"""Prints the layers of src/ and fails on a cycle between folders.

    scripts/check-layers.py [REPO_ROOT]

Each folder of src/ is one library (src/CMakeLists.txt). The build already refuses an include
of a folder the library does not link (each library's include root holds only its own folder);
this check adds what the build cannot see: that no two folders include each other, directly or
through others. It reads every `#include "FOLDER/..."` under src/, prints the folders bottom up,
each with the folders it uses, and exits 1 naming a cycle when there is one.
"""
import os
import re
import sys

root = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
src = os.path.join(root, "src")
folders = sorted(d for d in os.listdir(src) if os.path.isdir(os.path.join(src, d)))
uses = {f: set() for f in folders}
include = re.compile(r'^\s*#\s*include\s+"([a-z_]+)/')
for folder in folders:
    for dirpath, _, files in os.walk(os.path.join(src, folder)):
        for name in files:
            if not name.endswith((".h", ".cpp")):
                continue
            with open(os.path.join(dirpath, name), encoding="utf-8", errors="replace") as f:
                for line in f:
                    m = include.match(line)
                    if m and m.group(1) != folder and m.group(1) in uses:
                        uses[folder].add(m.group(1))

# Depth-first search for a cycle; then the layers (a folder's layer is one above its highest use).
state, stack = {}, []


def visit(folder):
    state[folder] = "open"
    stack.append(folder)
    for used in sorted(uses[folder]):
        if state.get(used) == "open":
            cycle = stack[stack.index(used):] + [used]
            print("check-layers: cycle: " + " -> ".join(cycle), file=sys.stderr)
            sys.exit(1)
        if used not in state:
            visit(used)
    stack.pop()
    state[folder] = "done"


for folder in folders:
    if folder not in state:
        visit(folder)

layer = {}


def depth(folder):
    if folder not in layer:
        layer[folder] = 1 + max((depth(u) for u in uses[folder]), default=-1)
    return layer[folder]


for folder in folders:
    depth(folder)
for level in range(max(layer.values()) + 1):
    for folder in sorted(f for f in folders if layer[f] == level):
        used = ", ".join(sorted(uses[folder])) or "-"
        print(f"check-layers: {level}  {folder:15} uses {used}")
print(f"check-layers: {len(folders)} folders, no cycle")
