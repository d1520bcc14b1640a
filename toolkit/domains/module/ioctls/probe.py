"""Each command's number as the box's gcc computes it: a small C program per command, built in a chroot of the
box's root filesystem, includes the command's header (as a uapi header is written; failing that, with the kernel's
annotations and u8..s64 typedefs), or holds the definitions the command needs copied out of the sources (failing
that, after the system headers their files include); one program prints them all."""

from __future__ import annotations

import contextlib
import re
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from toolkit import process_group, user_namespace
from toolkit.domains.module.build_tree import ARTEFACTS
from toolkit.domains.module.ioctls.copied_out import CopiedOut
from toolkit.domains.module.ioctls.encoding import NUMBER_MASK
from toolkit.domains.module.ioctls.preprocessor import Macro
from toolkit.domains.module.ioctls.sources import Sources
from toolkit.domains.module.ioctls.unresolvable import Unresolvable
from toolkit.errors import UserError

PROBE_TIMEOUT_S = 60.0
PROBE_TIMEOUT_PER_COMMAND_S = 2.0
MODES = ("include", "kernel", "copied", "headers")
# The kernel's layout attributes, which some uapi headers use: unknown in user space, `} __packed;` would
# compile as a variable of an unpacked struct.
ATTRIBUTES = """#define __packed __attribute__((packed))
#define __aligned(x) __attribute__((aligned(x)))
"""
INCLUDE_PRELUDE = f"#include <linux/ioctl.h>\n#include <linux/types.h>\n{ATTRIBUTES}"
KERNEL_PRELUDE = f"""#define __user
#define __iomem
#define __force
#include <linux/types.h>
#include <linux/ioctl.h>
#include <stddef.h>
typedef __u8 u8; typedef __s8 s8; typedef __u16 u16; typedef __s16 s16;
typedef __u32 u32; typedef __s32 s32; typedef __u64 u64; typedef __s64 s64;
typedef __s32 compat_int_t; typedef __u32 compat_uint_t; typedef __s32 compat_long_t; typedef __u32 compat_ulong_t;
typedef __u32 compat_uptr_t; typedef __u32 compat_size_t; typedef __u32 compat_caddr_t;
typedef __s64 __attribute__((aligned(4))) compat_s64; typedef __u64 __attribute__((aligned(4))) compat_u64;
{ATTRIBUTES}"""
COPIED_PRELUDE = f"""{KERNEL_PRELUDE}#include <stdint.h>
#include <stdbool.h>
"""
VALUE = "const unsigned long long vexfs_ioctl_{index} = (unsigned long long)({name});\n"
# Inside the chroot: each command's program in the first mode that compiles, then one program printing them all
# (the headers' own globals and functions may clash, or call what is not there: failing that, one per command).
PROBE_SCRIPT = """
dir=$1; shift
cd "$dir" || exit 1
for i in $(cat commands); do
	for mode in include kernel copied headers; do
		[ -f "t$i.$mode.c" ] || continue
		if gcc "$@" -c "t$i.$mode.c" -o "t$i.o" 2>"t$i.$mode.err"; then
			break
		fi
	done
done
set -- t*.o
[ -e "$1" ] || exit 0
link="-no-pie -Wl,--allow-multiple-definition -Wl,--unresolved-symbols=ignore-all"
if gcc -w -o probe main.c $link "$@" 2>link.err && ./probe 2>>link.err; then
	exit 0
fi
for object in "$@"; do
	gcc -w -o probe main.c $link "$object" 2>>link.err && ./probe 2>>link.err
done
exit 0
"""
TIMED_OUT = process_group.TIMED_OUT
ERROR = re.compile(r"(?:^|\s)(?:fatal )?error: (.*)")


def compiled(sources: Sources, sites: Sequence[Macro], sysroot: Path) -> dict[Macro, int | str]:
    """Each command's number as the box's gcc computes it (a program built and run in a chroot of sysroot), or
    the compiler's first error."""
    if not (sysroot / "usr" / "bin" / "gcc").exists():
        raise UserError(f"the box's root filesystem {sysroot} has no gcc: rebuild the box")
    if not sites:
        return {}
    with _work_dir(sysroot) as work:
        inside = f"/tmp/{work.name}"
        shutil.copytree(sources.root, work / "src", ignore=shutil.ignore_patterns(*ARTEFACTS), symlinks=True)
        _write_programs(sources, sites, work)
        command = user_namespace.in_chroot(sysroot, "env", "LC_ALL=C", "LANG=C", "sh", f"{inside}/probe.sh", inside,
                                           *_compiler_flags(f"{inside}/src"))  # fmt: skip
        returncode, output = _bounded(command, PROBE_TIMEOUT_S + PROBE_TIMEOUT_PER_COMMAND_S * len(sites))
        printed = dict(line.split(" ", 1) for line in output.splitlines() if re.fullmatch(r"\d+ \d+", line))
        failed = "" if returncode == 0 else f"the probe failed: {_last_line(output) or f'exit status {returncode}'}"
        return {
            site: int(printed[str(i)]) & NUMBER_MASK if str(i) in printed else failed or _first_error(work, i, inside)
            for i, site in enumerate(sites)
        }


def _compiler_flags(src: str) -> list[str]:
    """The module's headers first for its quoted includes, after the system's for <...> ones (so that a module's
    own stddef.h or types.h does not stand in for the C library's)."""
    return ["-std=gnu11", "-w", "-iquote", src, "-idirafter", f"{src}/include", "-idirafter", src]


@contextlib.contextmanager
def _work_dir(sysroot: Path) -> Iterator[Path]:
    """A fresh folder in the chroot's /tmp, removed afterwards."""
    work = Path(tempfile.mkdtemp(prefix="vexfs-vmtest-ioctls-", dir=sysroot / "tmp"))
    try:
        yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _write_programs(sources: Sources, sites: Sequence[Macro], work: Path) -> None:
    declared, printed = [], []
    for i, site in enumerate(sites):
        for mode, program in _programs(sources, sites, site).items():
            (work / f"t{i}.{mode}.c").write_text(program + VALUE.format(index=i, name=site.name))
        declared.append(f"extern const unsigned long long vexfs_ioctl_{i} __attribute__((weak));\n")
        printed.append(f'\tif (&vexfs_ioctl_{i})\n\t\tprintf("{i} %llu\\n", vexfs_ioctl_{i});\n')
    main = "#include <stdio.h>\n" + "".join(declared) + "int main(void)\n{\n" + "".join(printed) + "\treturn 0;\n}\n"
    (work / "main.c").write_text(main)
    (work / "commands").write_text("\n".join(str(i) for i in range(len(sites))) + "\n")
    (work / "probe.sh").write_text(PROBE_SCRIPT)


def _programs(sources: Sources, sites: Sequence[Macro], site: Macro) -> dict[str, str]:
    """The preludes of site's programs, by mode: the header included (when only this define of the name is in
    it), then with the kernel's annotations; the definitions it needs copied out, then the define itself,
    then those after the system headers their files include (the ones user space has too)."""
    programs = {}
    alone = sum(other.name == site.name and other.file == site.file for other in sites) == 1
    if site.file.endswith(".h") and alone:
        programs["include"] = f'{INCLUDE_PRELUDE}#include "{site.file}"\n'
        programs["kernel"] = f'{KERNEL_PRELUDE}#include "{site.file}"\n'
    with contextlib.suppress(Unresolvable):
        copied = CopiedOut(sources, site)
        text = copied.text()
        programs["copied"] = COPIED_PRELUDE + text
        includes = dict.fromkeys(include for file in copied.files for include in sources.code[file].includes)
        guarded = "".join(f"#if __has_include({name})\n#include {name}\n#endif\n" for name in includes)
        programs["headers"] = COPIED_PRELUDE + guarded + text
    return programs


def _bounded(command: list[str], timeout: float) -> tuple[int, str]:
    """command's status and output, its process group killed past timeout or when interrupted."""
    status, output = process_group.run(command, timeout)
    return (status, f"timed out after {timeout:g} s") if status == TIMED_OUT else (status, output)


def _last_line(output: str) -> str:
    lines = output.strip().splitlines()
    return lines[-1].strip() if lines else ""


def _first_error(work: Path, index: int, inside: str) -> str:
    """Why command index printed nothing: the compiler's first error in the last mode tried, or the link's."""
    logs = [work / f"t{index}.{mode}.err" for mode in MODES if (work / f"t{index}.{mode}.err").exists()]
    if not logs:
        return "no program could be written for it"
    compiled = (work / f"t{index}.o").exists()
    log = work / "link.err" if compiled else logs[-1]
    for line in log.read_text(errors="replace").splitlines() if log.exists() else []:
        error = ERROR.search(line)
        if error:
            where = line.split(": ", 1)[0].removeprefix(f"{inside}/src/") if f"{inside}/src/" in line else ""
            return f"gcc: {where}: {error[1]}" if where else f"gcc: {error[1]}"
    return "its program compiled but did not link or run" if compiled else "gcc failed without an error line"
