#!/usr/bin/env python3
"""Rebuilds one executable of the GCC build with clang++ and AddressSanitizer + UBSan.

The GCC build's own commands are the recipe: `ninja -t commands TARGET` lists every compile, every
archive and the final link. Each compile runs again with clang (the same sources, include paths
and defines; -O1, sanitizers, no -Werror: the GCC build is where warnings are errors), each
archive is replaced by the objects it holds, and the link is the same link. So the sanitized
program is made of exactly the sources of the real one, whatever the libraries hold today.

  build_asan.py --build-root DIR --target PATH --cxx CLANG --out FILE --depfile FILE
                [--ignorelist FILE] [--jobs N]

--ignorelist names sanitizer checks not to compile in, for findings already reported and not yet
fixed (clang's -fsanitize-ignorelist; UBSan's runtime suppressions do not apply to checks that
abort).

Objects are kept next to FILE (FILE.objs/) and rebuilt only when a source or header they read
changed, or their command did. The depfile lists every source and header, for ninja.
"""
import argparse
import concurrent.futures
import os
import shlex
import subprocess
import sys

SANITIZE = ['-fsanitize=address,undefined', '-fno-sanitize-recover=all', '-fno-omit-frame-pointer']
# libstdc++ 12 declares std::expected only when __cpp_concepts says C++20 concepts are complete,
# which clang 16 does not announce; its concepts support is enough for <expected>.
CLANG_EXTRA = ['-O1', '-g', '-D__cpp_concepts=202002L', '-Wno-macro-redefined', '-w']
DROP = {'-Werror', '-O2', '-O3', '-Os', '-MD', '-Wno-restrict'}
DROP_WITH_VALUE = {'-o', '-c', '-MQ', '-MF'}


def parse_commands(build_root, target):
    out = subprocess.run(['ninja', '-C', build_root, '-t', 'commands', target], check=True,
                         capture_output=True, text=True).stdout
    compiles, archives, link = [], {}, None
    for line in out.splitlines():
        for part in line.split('&&'):
            args = shlex.split(part)
            if not args:
                continue
            tool = os.path.basename(args[0])
            if tool.endswith('ar') and len(args) > 2:  # gcc-ar csrDT LIB OBJ...
                archives[args[2]] = args[3:]
            elif '-c' in args and '-o' in args:
                compiles.append(args)
            elif '-o' in args and args[args.index('-o') + 1] == target:
                link = args
    if link is None:
        sys.exit(f'build_asan: no link command for {target} in `ninja -t commands`')
    return compiles, archives, link


def clang_compile(cxx, args, obj_dir, ignorelist):
    src = args[args.index('-c') + 1]
    obj = os.path.join(obj_dir, args[args.index('-o') + 1])
    kept, skip = [], False
    for a in args[1:]:
        if skip:
            skip = False
        elif a in DROP_WITH_VALUE:
            skip = True
        elif a == '-std=c++23':
            kept.append('-std=c++2b')  # clang 16's name for it
        elif a not in DROP:
            kept.append(a)
    extra = ['-fsanitize-ignorelist=' + ignorelist] if ignorelist else []
    cmd = [cxx] + kept + CLANG_EXTRA + SANITIZE + extra + ['-MD', '-MF', obj + '.d', '-c', src, '-o', obj]
    return src, obj, cmd


def deps_of(depfile):
    try:
        text = open(depfile).read().replace('\\\n', ' ')
    except OSError:
        return None
    return shlex.split(text.split(':', 1)[1]) if ':' in text else []


def up_to_date(obj, cmd, extra_deps):
    stamp = obj + '.cmd'
    if not os.path.exists(obj) or not os.path.exists(stamp) or open(stamp).read() != shlex.join(cmd):
        return False
    deps = deps_of(obj + '.d')
    if deps is None:
        return False
    t = os.path.getmtime(obj)
    return all(os.path.exists(d) and os.path.getmtime(d) <= t for d in deps + extra_deps)


def build_one(build_root, obj, cmd):
    os.makedirs(os.path.dirname(obj), exist_ok=True)
    r = subprocess.run(cmd, cwd=build_root, capture_output=True, text=True)
    if r.returncode != 0:
        return f'{shlex.join(cmd)}\n{r.stdout}{r.stderr}'
    with open(obj + '.cmd', 'w') as f:
        f.write(shlex.join(cmd))
    return None


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--build-root', required=True)
    p.add_argument('--target', required=True)
    p.add_argument('--cxx', required=True)
    p.add_argument('--out', required=True)
    p.add_argument('--depfile', required=True)
    p.add_argument('--ignorelist', default='')
    p.add_argument('--jobs', type=int, default=2)
    o = p.parse_args()
    build_root = os.path.abspath(o.build_root)
    out = os.path.abspath(o.out)
    obj_dir = out + '.objs'
    ignorelist = os.path.abspath(o.ignorelist) if o.ignorelist else ''

    compiles, archives, link = parse_commands(build_root, o.target)
    objects = {}  # GCC object -> clang object
    work = []
    for args in compiles:
        src, obj, cmd = clang_compile(o.cxx, args, obj_dir, ignorelist)
        objects[args[args.index('-o') + 1]] = obj
        if not up_to_date(obj, cmd, [ignorelist] if ignorelist else []):
            work.append((obj, cmd))
    print(f'build_asan: {len(compiles)} sources, {len(work)} to compile with {o.cxx}', flush=True)
    with concurrent.futures.ThreadPoolExecutor(max(1, o.jobs)) as pool:
        errors = [e for e in pool.map(lambda w: build_one(build_root, *w), work) if e]
    if errors:
        sys.exit('build_asan: compile failed:\n' + errors[0])

    cmd = [o.cxx]
    skip = False
    for a in link[1:]:
        if skip:
            skip = False
        elif a == '-o':
            skip = True
        elif a in archives:
            cmd += [objects[m] for m in archives[a]]
        elif a in objects:
            cmd.append(objects[a])
        else:
            cmd.append(a)
    cmd += SANITIZE + ['-o', out]
    r = subprocess.run(cmd, cwd=build_root, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f'build_asan: link failed:\n{shlex.join(cmd)}\n{r.stdout}{r.stderr}')

    deps = set()
    for obj in objects.values():
        deps.update(os.path.join(build_root, d) for d in (deps_of(obj + '.d') or []))
    if ignorelist:
        deps.add(ignorelist)
    with open(o.depfile, 'w') as f:
        f.write(o.out.replace(' ', '\\ ') + ': ' + ' '.join(d.replace(' ', '\\ ') for d in sorted(deps)) + '\n')


if __name__ == '__main__':
    main()
