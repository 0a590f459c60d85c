#!/usr/bin/env python3
"""Fails when a build uses a Debian package that scripts/deps.sh neither lists nor pulls in.

    scripts/check-deps.py BUILD_DIR JOB [--omit PKG]...

BUILD_DIR is a built Ninja tree (build/release, build/asan); JOB is a list of scripts/deps.sh
(build, test, ...). What the build used is read from the build itself, not guessed: every
header in the compiler's dependency files (`ninja -t deps`) and every library on the link lines
(`ninja -t commands`: absolute paths and -lNAME resolved as the compiler resolves them), both
for the targets this build made only. Each file is mapped to its package with `dpkg -S`. A
package passes when JOB's list names it, when a listed package depends on it (recursively,
through installed packages' Depends and Pre-Depends, virtual packages included), or when a bare
Debian 12 has it anyway (Essential or Priority: required, what `debootstrap --variant=minbase`
installs). Anything else fails, named with one file that needs it: a machine with that package
preinstalled would hide the gap, as libxml2-dev once was hidden. --omit drops a package from
the list (the check's own self-test).
"""
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(argv):
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout


def used_files(build_dir):
    """Absolute paths of the headers and libraries outside the source tree the build used.

    Only what this build made counts: a link step whose output is absent was not run (the
    tls_bakeoff_boringssl target exists on a machine that happens to have BoringSSL, but
    scripts/test.sh does not build it), and only the objects those outputs are made of are
    asked for their headers, so a stale object left by an earlier `cmake --build` adds nothing.
    """
    links, built = [], []
    for line in run(["ninja", "-C", build_dir, "-t", "commands"]).splitlines():
        tokens = line.split()
        if " -c " in line or "-o" not in tokens:
            continue  # a compile step, or not a link step at all
        if os.path.exists(os.path.join(build_dir, tokens[tokens.index("-o") + 1])):
            links.append(tokens)
            built.append(tokens[tokens.index("-o") + 1])
    objects = [i for i in run(["ninja", "-C", build_dir, "-t", "inputs", *built]).split()
               if i.endswith(".o")] if built else []
    files = set()
    for line in run(["ninja", "-C", build_dir, "-t", "deps", *objects]).splitlines() if objects else []:
        if line.startswith("    "):
            path = line.strip()
            if not os.path.isabs(path):
                path = os.path.join(build_dir, path)
            files.add(os.path.normpath(path))
    compiler = None
    for tokens in links:
        for token in tokens:
            if token.startswith("-l") and len(token) > 2:
                compiler = compiler or next(t for t in tokens if "/" in t or "++" in t or "cc" in t)
                name = token[2:]
                for candidate in (f"lib{name}.so", f"lib{name}.a"):
                    found = run([compiler, f"-print-file-name={candidate}"]).strip()
                    if os.path.isabs(found):
                        files.add(os.path.normpath(found))
                        break
            elif token.startswith("/") and re.search(r"\.(a|so(\.[0-9.]+)?)$", token):
                files.add(os.path.normpath(token))
    return {f for f in files if not f.startswith(ROOT + os.sep) and not f.startswith("/tmp/")}


def owners(files):
    """{file: package} through dpkg -S; merged-/usr paths are asked for both ways."""
    def ask(paths):
        found = {}
        proc = subprocess.run(["dpkg", "-S", *paths], capture_output=True, text=True)
        for line in proc.stdout.splitlines():
            if line.startswith("diversion "):
                continue
            packages, _, path = line.partition(": ")
            found.setdefault(path, packages.split(",")[0].strip().split(":")[0])
        return found

    def alternatives(path):
        yield os.path.realpath(path)
        for prefix in ("/usr/lib/", "/usr/bin/", "/usr/sbin/"):
            if path.startswith(prefix):
                yield path[len("/usr"):]

    files = sorted(files)
    result = {}
    for i in range(0, len(files), 500):
        result.update(ask(files[i:i + 500]))
    missing = [f for f in files if f not in result]
    retry = {alt: f for f in missing for alt in alternatives(f) if alt != f}
    if retry:
        for alt, package in ask(sorted(retry)).items():
            result.setdefault(retry[alt], package)
    return result


def closure(packages):
    """Every installed package that `packages` depend on, recursively (virtuals resolved)."""
    out = run(["apt-cache", "depends", "--recurse", "--installed", "--no-recommends",
               "--no-suggests", "--no-conflicts", "--no-breaks", "--no-replaces",
               "--no-enhances", *packages])
    names = set(packages)
    for line in out.splitlines():
        if not line.startswith(" "):
            names.add(line.strip().strip("<>").split(":")[0])
        elif not line.lstrip().startswith(("Depends:", "PreDepends:", "|Depends:")):
            names.add(line.strip().strip("<>").split(":")[0])  # a provider of a virtual package
    return names


def bare_debian():
    """What a minbase root has before anything is installed: Essential and required packages."""
    out = run(["dpkg-query", "-W", "-f=${Package} ${Essential} ${Priority}\n"])
    return {p for p, essential, priority in (l.split() for l in out.splitlines() if l.count(" ") == 2)
            if essential == "yes" or priority == "required"}


def main(argv):
    args, omit = [], set()
    it = iter(argv)
    for a in it:
        if a == "--omit":
            omit.add(next(it))
        else:
            args.append(a)
    if len(args) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    build_dir, job = os.path.abspath(args[0]), args[1]
    if not os.path.exists(os.path.join(build_dir, "build.ninja")):
        print(f"check-deps: {build_dir} is not a configured Ninja build", file=sys.stderr)
        return 2
    listed = [p for p in run(["bash", os.path.join(ROOT, "scripts/deps.sh"), "--list", job]).split()
              if p not in omit]
    allowed = closure(listed) | bare_debian()
    files = used_files(build_dir)
    owner = owners(files)
    problems = {}
    for f in sorted(files):
        package = owner.get(f)
        if package is None:
            problems.setdefault(f"(no Debian package owns {f})", f)
        elif package not in allowed:
            problems.setdefault(package, f)
    if problems:
        for package, example in sorted(problems.items()):
            print(f"check-deps: {package} is used by the build ({example}) but scripts/deps.sh "
                  f"{job} neither lists it nor pulls it in", file=sys.stderr)
        return 1
    print(f"check-deps: {len(files)} headers and libraries of {os.path.relpath(build_dir, ROOT)} "
          f"come from {len(set(owner.values()))} packages, all covered by scripts/deps.sh {job}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
