"""xattrs_and_vectors: user.* extended attributes; for VexFS, vectors on many files and k-nearest queries
whose answers must equal the host's reference (reference.py), and bad requests refused."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Any

from toolkit.domains.base import Verdict
from toolkit.domains.filesystem import reference
from toolkit.domains.filesystem.subject import FilesystemUnderTest

EXPECTED_XATTRS: dict[str, Any] = {
    "set": "ok",
    "get": "blue",
    "replace": "ok",
    "get_replaced": "red",
    "create_existing": "errno:EEXIST",
    "replace_missing": "errno:ENODATA",
    "set_empty": "ok",
    "set_binary": "ok",
    "get_binary": bytes(range(200)).hex(),
    "list": ["user.binary", "user.color", "user.empty"],
    "remove": "ok",
    "get_removed": "errno:ENODATA",
    "remove_missing": "errno:ENODATA",
    "list_after": ["user.binary", "user.empty"],
}
FILES, OUTSIDE, QUERIES, SEED = 40, 4, 8, 12
UNSUPPORTED = ("errno:EOPNOTSUPP", "errno:ENOTSUP")  # one number, two names
SPEC_IN_GUEST = "/tmp/vexfs-vmtest-vectors.json"


@dataclass(frozen=True)
class VectorPlan:
    """The vectors set, the queries asked and the bad requests made, as the guest is told them."""

    dim: int
    vtype: str
    vectors: dict[str, list[int]]  # relative path -> components
    unlinked: tuple[str, ...]
    queries: tuple[tuple[list[int], int, str], ...]  # vector, k, metric

    def spec(self) -> dict[str, Any]:
        def bad(name: str, k: int = 3, metric: int = 0, dim: int | None = None, how: str = "") -> dict[str, Any]:
            size = self.dim if dim is None else dim
            return {"name": name, "k": k, "metric": metric, "dim": size, "bad": how,
                    "vector": reference.encode([1] * size, self.vtype).hex()}  # fmt: skip

        return {
            "xattr": reference.VEC_XATTR, "dim": self.dim, "ioctl": reference.IOC_QUERY,
            "query_struct": reference.QUERY_STRUCT, "result_struct": reference.RESULT_STRUCT,
            "directories": ["vec", "vec/sub"], "query_dir": "vec", "unlink": list(self.unlinked),
            "files": {path: reference.encode(vector, self.vtype).hex() for path, vector in self.vectors.items()},
            "queries": [{"vector": reference.encode(vector, self.vtype).hex(), "k": k,
                         "metric": reference.METRICS[metric]} for vector, k, metric in self.queries],
            "bad_queries": [
                bad("k=0", k=0), bad(f"k={reference.MAX_K + 1}", k=reference.MAX_K + 1),
                bad(f"dim={self.dim + 1}", dim=self.dim + 1), bad("metric=7", metric=7),
                bad("bad query pointer", how="query"), bad("bad results pointer", how="results"),
                bad("NULL argument", how="null"),
            ],
            "short": reference.encode([1] * (self.dim - 1), self.vtype).hex() if self.dim > 1 else "",
        }  # fmt: skip


BAD_ERRNOS = {
    "k=0": "errno:EINVAL",
    f"k={reference.MAX_K + 1}": "errno:EINVAL",
    "metric=7": "errno:EINVAL",
    "bad query pointer": "errno:EFAULT",
    "bad results pointer": "errno:EFAULT",
    "NULL argument": "errno:EFAULT",
    "short vector": "errno:EINVAL",
}


def plan_vectors(dim: int, vtype: str, seed: int = SEED) -> VectorPlan:
    """Vectors with small components (many ties), some outside the queried directory, one file unlinked."""
    chance = random.Random(seed)
    span = 3 if vtype == "int8" else 300

    def vector() -> list[int]:
        return [chance.randint(-span, span) for _ in range(dim)]

    vectors = {f"vec/f{index:02d}": vector() for index in range(FILES)}
    vectors["vec/f01"] = list(vectors["vec/f00"])  # exact ties, broken by inode number
    vectors["vec/f02"] = list(vectors["vec/f00"])
    vectors |= {f"vec/sub/s{index}": vector() for index in range(OUTSIDE)}
    ks = (1, 3, 5, 10, FILES - 1, 100, reference.MAX_K, 2)
    queries = tuple((vector(), ks[index % len(ks)], ("l2", "dot")[index % 2]) for index in range(QUERIES))
    return VectorPlan(dim, vtype, vectors, ("vec/f03",), queries)


def vector_mismatches(plan: VectorPlan, seen: dict[str, Any]) -> list[str]:
    """What the guest's answers got wrong against the reference."""
    wrong = [f"setting {path}: {error}" for path, error in sorted(seen.get("set_failed", {}).items())]
    wrong += [f"{path}: the vector read back differs" for path in seen.get("readback_wrong", [])]
    inodes = seen.get("inodes", {})
    candidates = {
        inodes[path]: vector for path, vector in plan.vectors.items()
        if path in inodes and path.count("/") == 1 and path not in plan.unlinked
    }  # fmt: skip
    for index, ((vector, k, metric), got) in enumerate(zip(plan.queries, seen.get("queries", []), strict=False)):
        want = [list(pair) for pair in reference.nearest(candidates, vector, k, metric)]
        if got != want:
            wrong.append(f"query {index} ({metric}, k={k}): got {str(got)[:120]}, want {str(want)[:120]}")
    if len(seen.get("queries", [])) != len(plan.queries):
        wrong.append(f"{len(seen.get('queries', []))} of {len(plan.queries)} queries answered")
    bad = seen.get("bad", {})
    expected = {**BAD_ERRNOS, f"dim={plan.dim + 1}": "errno:EINVAL"}
    if plan.dim == 1:
        expected.pop("short vector")
    wrong += [f"{name}: got {bad.get(name, 'nothing')}, want {errno}"
              for name, errno in expected.items() if bad.get(name) != errno]  # fmt: skip
    return wrong


def mount_value(options: str, key: str, default: str) -> str:
    """key's value in a mount option string (the last one given wins, as for the kernel)."""
    values = [item.split("=", 1)[1] for item in options.split(",") if item.startswith(f"{key}=")]
    return values[-1] if values else default


class XattrsAndVectors:
    name = "xattrs_and_vectors"
    needs = ("build",)
    timeout_s = 240.0

    def run(self, subject: FilesystemUnderTest) -> Verdict:
        skipped = subject.unwritable(self.name)
        if skipped:
            return skipped
        step = subject.step("user.* xattrs", subject.on_fs(subject.fsops("xattrs", "$MOUNT_POINT")), self.timeout_s)
        seen = subject.reports(step)
        metrics: dict[str, Any] = {"xattrs": seen}
        if seen.get("set") in UNSUPPORTED and not subject.profile.vectors:
            return Verdict.skipped(f"{subject.fs_type} does not support user.* xattrs here (EOPNOTSUPP)")
        wrong = [f"{name}: got {seen.get(name, 'nothing')!r}, want {want!r}"
                 for name, want in EXPECTED_XATTRS.items() if seen.get(name) != want]  # fmt: skip
        if not subject.profile.vectors:
            metrics["key_metric"] = f"{len(EXPECTED_XATTRS) - len(wrong)}/{len(EXPECTED_XATTRS)} as expected"
            if wrong:
                return Verdict.failed("; ".join(wrong[:4]), step.log, **metrics)
            return Verdict.passed(f"user.* set, get, replace, create, list, remove: {len(EXPECTED_XATTRS)} "
                                  "observations as expected", **metrics)  # fmt: skip
        return self._vectors(subject, wrong, metrics)

    def _vectors(self, subject: FilesystemUnderTest, wrong: list[str], metrics: dict[str, Any]) -> Verdict:
        options = subject.options.mount_options or ""
        plan = plan_vectors(int(mount_value(options, "dim", "8")), mount_value(options, "vtype", "int8"))
        local = subject.work_dir / f"{subject.fs_type}-vectors.json"
        local.parent.mkdir(parents=True, exist_ok=True)
        local.write_text(json.dumps(plan.spec(), indent=1))
        subject.guest.put(local, SPEC_IN_GUEST)
        extra = ",".join(f"{key}={value}" for key, value in (("dim", plan.dim), ("vtype", plan.vtype))
                         if f"{key}=" not in options)  # fmt: skip
        command = subject.on_fs(subject.fsops("vectors", "$MOUNT_POINT", SPEC_IN_GUEST), EXTRA_OPTIONS=extra)
        step = subject.step(f"vectors on {len(plan.vectors)} files, {len(plan.queries)} queries", command,
                            self.timeout_s)  # fmt: skip
        seen = subject.reports(step)
        wrong += vector_mismatches(plan, seen)
        checks = len(EXPECTED_XATTRS) + len(plan.queries) + len(BAD_ERRNOS) + 1
        metrics.update(vectors=len(plan.vectors), queries=len(plan.queries), bad_requests=seen.get("bad", {}),
                       key_metric=f"{checks - len(wrong)}/{checks} as expected")  # fmt: skip
        if wrong:
            more = f" (and {len(wrong) - 3} more)" if len(wrong) > 3 else ""
            return Verdict.failed("; ".join(wrong[:3]) + more, step.log, mismatches=wrong, **metrics)
        return Verdict.passed(
            f"user.* xattrs as expected; {len(plan.vectors)} {plan.vtype} vectors of {plan.dim}, {len(plan.queries)} "
            f"k-nearest queries equal to the host's reference; {len(BAD_ERRNOS) + 1} bad requests refused",
            **metrics,
        )
