#!/usr/bin/env bash
# The device tests in an emulated Debian 12 (bookworm) arm64 chroot: a Raspberry Pi OS-like system
# (Python 3.11, aarch64 wheels from PyPI, no TensorFlow), run through qemu-user on this machine.
# `make test-aarch64` calls it; not part of CI (it needs root and takes a while).
#
# Usage (as root): tests/run_aarch64_chroot.sh CHROOT_DIR MODELS_DIR RESULTS_FILE
#   CHROOT_DIR   made with debootstrap on first use, reused after
#   MODELS_DIR   the test models built on this machine (tests/make_device_models.py), with the
#                int8 reference outputs the device suite compares the arm64 int8 path against
set -euo pipefail

root=$(realpath -m "$1")
models=$(realpath "$2")
results=$(realpath -m "$3")
repo=$(cd "$(dirname "$0")/.." && pwd)

if [ "$(id -u)" != 0 ]; then
    echo "test-aarch64 needs root (debootstrap, chroot, mounts)" >&2
    exit 1
fi
if ! command -v debootstrap >/dev/null || [ ! -e /usr/bin/qemu-aarch64-static ] || ! command -v update-binfmts >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-user-static debootstrap binfmt-support
fi
[ -e /proc/sys/fs/binfmt_misc/register ] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true

if [ ! -x "$root/usr/bin/python3" ]; then
    debootstrap --arch=arm64 --variant=minbase --include=python3,python3-venv,python3-pip,ca-certificates \
        bookworm "$root"
fi

cleanup() {
    for m in proc/cpuinfo proc sys dev; do umount -l "$root/$m" 2>/dev/null || true; done
}
trap cleanup EXIT
cleanup
mount -t proc proc "$root/proc"
# LiteRT reads /proc/cpuinfo at start and crashes on the host's x86 one: give it a Raspberry Pi 4's
# (four Cortex-A72 cores), and make qemu emulate that CPU too. qemu's default CPU ("max") has SME,
# with which LiteRT's int8 kernels compute wrong results.
for i in 0 1 2 3; do
    printf 'processor\t: %s\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm crc32 cpuid\n' "$i"
    printf 'CPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: 0xd08\nCPU revision\t: 3\n\n'
done > "$root/etc/cpuinfo-cortex-a72"
printf 'Hardware\t: BCM2835\nModel\t\t: Raspberry Pi 4 Model B (emulated)\n' >> "$root/etc/cpuinfo-cortex-a72"
mount --bind "$root/etc/cpuinfo-cortex-a72" "$root/proc/cpuinfo"
# LiteRT's cpuinfo library also reads the CPU lists in /sys: four CPUs, as the cpuinfo above says.
mount -t tmpfs -o size=64k sysfs-cpus "$root/sys"
mkdir -p "$root/sys/devices/system/cpu"
echo 0-3 > "$root/sys/devices/system/cpu/possible"
echo 0-3 > "$root/sys/devices/system/cpu/present"
mount --rbind /dev "$root/dev"
cp /etc/resolv.conf "$root/etc/resolv.conf"
# The host's CA bundle too: behind a TLS-inspecting proxy, pip in the chroot trusts what the host trusts.
cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/host-ca-certificates.crt"

# The project as committed plus the working tree's changes to tracked files, and the test models.
rm -rf "$root/galaxy-edge" "$root/models"
mkdir -p "$root/galaxy-edge"
(cd "$repo" && git ls-files -z | xargs -0 cp --parents -t "$root/galaxy-edge")
cp -r "$models" "$root/models"

run() {
    chroot "$root" /usr/bin/env -i PATH=/usr/bin:/bin HOME=/root LANG=C.UTF-8 QEMU_CPU=cortex-a72 \
        PIP_CERT=/etc/ssl/certs/host-ca-certificates.crt PIP_DISABLE_PIP_VERSION_CHECK=1 "$@"
}
[ -x "$root/venv/bin/python" ] || run python3 -m venv /venv
run /venv/bin/pip install --quiet --upgrade pip
run /venv/bin/pip install --quiet '/galaxy-edge[test]'

mkdir -p "$(dirname "$results")"
{
    echo "# make test-aarch64: device tests in an emulated Debian 12 arm64 chroot (QEMU_CPU=cortex-a72)"
    echo "# $(date -u +%Y-%m-%d) on $(uname -m) $(uname -r), qemu $(/usr/bin/qemu-aarch64-static --version | head -1)"
    run /venv/bin/python -c 'import platform, numpy, PIL, ai_edge_litert; print("#", platform.machine(), "Python", platform.python_version(), "numpy", numpy.__version__, "Pillow", PIL.__version__)'
    run /venv/bin/pip list --format=freeze | sed 's/^/#   /'
    run /bin/sh -c 'cd /galaxy-edge/tests && GALAXY_EDGE_TEST_MODELS=/models /venv/bin/python -m pytest -q -m device -p no:cacheprovider -rs . 2>&1'
} | tee "$results"
