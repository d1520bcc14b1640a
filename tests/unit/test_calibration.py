"""A capture boot whose vCPUs calibrated their delay loops apart is told the boot CPU's value."""

from toolkit.machines.qemu.calibration import boot_cpu_lpj_if_uneven

BOOT_CPU = "lpj=10384484"


def _report(*bogomips: float, log: str = BOOT_CPU) -> str:
    return "".join(f"bogomips\t: {value:.2f}\n" for value in bogomips) + (log + "\n" if log else "")


def test_vcpus_calibrated_alike_need_nothing() -> None:
    assert boot_cpu_lpj_if_uneven(_report(5192.24, 5190.11)) is None


def test_a_vcpu_that_counted_its_loops_on_a_loaded_host_gets_the_boot_cpus_value() -> None:
    assert boot_cpu_lpj_if_uneven(_report(5192.24, 685.05)) == 10384484
    assert boot_cpu_lpj_if_uneven(_report(5192.24, 2605.15)) == 10384484


def test_nothing_is_forced_when_the_kernel_did_not_say_its_value() -> None:
    assert boot_cpu_lpj_if_uneven(_report(5192.24, 685.05, log="")) is None
    assert boot_cpu_lpj_if_uneven("") is None
