"""A filesystem under test's options, and what the tests know of its type beyond what it tells at run time."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from toolkit.domains.module.options import (
    ModuleOptions,
    build_in_option,
    build_timeout_option,
    keep_build_option,
    module_dir_option,
    params_option,
)
from toolkit.domains.options import option


@dataclass(frozen=True)
class Profile:
    """What the tests know of a filesystem type beyond what it tells at run time."""

    builtin: bool = False  # in the kernel itself: nothing to build or load
    bad_options: tuple[str, ...] = ("vexfs_vmtest_bogus=1",)  # each must make mount fail with EINVAL
    limits: str | None = None  # mount options setting a files and a bytes limit ({files}, {bytes})
    inode_cache: str | None = None  # the slab cache of its inodes (built-ins: what the memory test counts)
    vectors: bool = False  # VexFS's user.vexfs.vec and k-nearest query


PROFILES = {
    "vexfs": Profile(
        bad_options=("vexfs_vmtest_bogus=1", "dim=0", "dim=4097", "vtype=int32", "max_files=-1", "max_bytes=12Q"),
        limits="max_files={files},max_bytes={bytes}",
        vectors=True,
    ),
    "tmpfs": Profile(
        builtin=True,
        bad_options=("vexfs_vmtest_bogus=1", "size=12Q", "nr_inodes=x"),
        limits="nr_inodes={files},size={bytes}",
        inode_cache="shmem_inode_cache",
    ),
    "ext4": Profile(
        builtin=True, bad_options=("vexfs_vmtest_bogus=1", "data=bogus", "commit=x"), inode_cache="ext4_inode_cache"
    ),
}


def profile(fs_type: str) -> Profile:
    """The profile of fs_type; an unknown type is a module's, with the generic checks."""
    return PROFILES.get(fs_type, Profile())


@dataclass(frozen=True)
class FsOptions:
    """Which filesystem, from which module, mounted how; how hard to push it."""

    module_dir: Path = module_dir_option()
    fs_type: str = option(
        "vexfs", "filesystem type to test: one the module registers, or tmpfs or ext4 (built in: no module)"
    )
    mount_options: str | None = option(None, "options for every mount (mount -o), e.g. max_files=1000,dim=16")
    fs_limits: str | None = option(
        None,
        "mount options setting a files and a bytes limit, with {files} and {bytes} in place of the numbers, "
        "e.g. max_files={files},max_bytes={bytes} (default: the type's own, if known)",
    )
    params: tuple[str, ...] = params_option()
    build_in: str = build_in_option()
    mount_cycles: int = option(10, "mount/umount cycles for mount_cycles", minimum=1, maximum=100_000)
    stress_s: int = option(
        20, "seconds stress-ng runs its filesystem stressors", minimum=1, maximum=86_400, flag="stress-seconds"
    )  # at most a day
    keep_build: bool = keep_build_option()
    image_mib: int = option(
        128, "MiB of the scratch image of a block-backed filesystem", minimum=16, maximum=65_536, cli=False
    )  # at most 64 GiB: a sparse file behind a loop device
    build_timeout_s: float = build_timeout_option()

    @property
    def profile(self) -> Profile:
        return profile(self.fs_type)

    @property
    def builtin(self) -> bool:
        return self.profile.builtin

    @property
    def limits(self) -> str | None:
        """The mount options template setting the limits: --fs-limits when given, else the type's profile's."""
        return self.fs_limits if self.fs_limits is not None else self.profile.limits

    def module_options(self) -> ModuleOptions:
        """The options of this filesystem's module under test (or of its stand-in)."""
        return ModuleOptions(
            module_dir=self.module_dir,
            module=self.fs_type if self.builtin else None,
            params=self.params,
            build_in=self.build_in,
            keep_build=self.keep_build,
            load_timeout_s=60.0,
            build_timeout_s=self.build_timeout_s,
        )
