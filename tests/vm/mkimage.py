#!/usr/bin/python3
"""Builds the guest image of the real-DRBD test bed: a Debian kernel and an
initramfs with busybox, the drbd/virtio/ext4 modules, drbd-utils, e2fsprogs,
sfdisk, blkid, partx, and cmsd + cmsadm + the plugins the scenarios load
(with their libraries).

  mkimage.py --out DIR --cache DIR --cmsd BIN --cmsadm BIN --plugin-dir DIR

Writes DIR/vmlinuz, DIR/initrd.gz and DIR/image.txt (what went in).  The
kernel .deb is fetched once with `apt-get download` into the cache dir and
unpacked there; CMSD_VM_KERNEL_DEB=FILE uses a .deb at hand instead (no
network).  The host kernel has no DRBD and may not be Debian's, so the guest
runs Debian bookworm's own kernel, whose in-tree DRBD is 8.4.
"""
import argparse
import fcntl
import gzip
import io
import lzma
import os
import re
import shutil
import stat
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

# The module closure we need: DRBD, the virtio disk and NICs, ext4.
# crc32c_generic first: libcrc32c asks the crypto API for "crc32c" when it
# loads, and crc32c-intel needs SSE4.2 that a TCG CPU may not offer.
MODULES = ["crc32c_generic", "libcrc32c", "lru_cache", "drbd", "virtio",
           "virtio_ring", "virtio_pci", "virtio_blk", "virtio_net", "crc16",
           "mbcache", "jbd2", "ext4"]

# Host programs copied with their libraries, to the same path in the guest.
HOST_BINS = ["/usr/sbin/drbdadm", "/usr/sbin/drbdsetup", "/usr/sbin/drbdmeta",
             "/usr/lib/drbd/drbdadm-84", "/usr/lib/drbd/drbdsetup-84",
             "/usr/sbin/mke2fs", "/usr/sbin/e2fsck", "/usr/sbin/tune2fs",
             # the setup agent makes the DB partition: sfdisk, blkid -p
             # (busybox's blkid has no -p), partx
             "/usr/sbin/sfdisk", "/usr/sbin/blkid", "/usr/bin/partx"]

# Only the plugins a scenario loads: the others pull in libraries (MariaDB,
# libiscsi) the guests never use.
PLUGINS = ["quorum-cmsd", "quorum-ping", "storage-drbd", "resource-vip",
           "resource-dummy"]


def die(msg):
    sys.stderr.write(f"mkimage: {msg}\n")
    sys.exit(1)


def run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        die(f"`{' '.join(cmd)}` failed (exit {r.returncode}): "
            f"{(r.stderr or r.stdout).strip()}")
    return r.stdout


# ------------------------------------------------------------------ kernel
def kernel_deb(cache):
    deb = os.environ.get("CMSD_VM_KERNEL_DEB")
    if deb:
        if not os.path.isfile(deb):
            die(f"CMSD_VM_KERNEL_DEB={deb}: no such file")
        return deb
    # linux-image-amd64 is the metapackage; its first dependency is the
    # current kernel package of the release.
    out = run(["apt-cache", "depends", "linux-image-amd64"])
    m = re.search(r"Depends: (linux-image-[0-9][^\s]*)", out)
    if not m:
        die("apt-cache knows no linux-image-amd64 dependency: run "
            "apt-get update, or set CMSD_VM_KERNEL_DEB to a kernel .deb")
    pkg = m.group(1)
    have = sorted(f for f in os.listdir(cache)
                  if f.startswith(pkg + "_") and f.endswith(".deb"))
    if have:
        return os.path.join(cache, have[-1])
    # a newer kernel replaces the one cached before
    for f in os.listdir(cache):
        if f.startswith("linux-image-") or f.startswith("kernel-linux-image-"):
            p = os.path.join(cache, f)
            shutil.rmtree(p) if os.path.isdir(p) else os.unlink(p)
    print(f"mkimage: downloading {pkg} (apt-get download) into {cache}")
    r = subprocess.run(["apt-get", "download", "-q", pkg], cwd=cache,
                       capture_output=True, text=True)
    have = sorted(f for f in os.listdir(cache)
                  if f.startswith(pkg + "_") and f.endswith(".deb"))
    if r.returncode != 0 or not have:
        die(f"apt-get download {pkg} failed (exit {r.returncode}): "
            f"{r.stderr.strip()}; set CMSD_VM_KERNEL_DEB to a kernel .deb "
            "to build without the network")
    return os.path.join(cache, have[-1])


def module_index(moddir):
    idx = {}
    for d, _, files in os.walk(os.path.join(moddir, "kernel")):
        for f in files:
            m = re.match(r"(.*)\.ko(\.xz)?$", f)
            if m:
                idx[m.group(1).replace("-", "_")] = os.path.join(d, f)
    return idx


def module_bytes(path):
    with open(path, "rb") as f:
        data = f.read()
    return lzma.decompress(data) if path.endswith(".xz") else data


def module_closure(moddir):
    """Load order of MODULES and their dependencies.  The .deb carries no
    modules.dep (depmod runs at install) and the host may lack kmod, so the
    dependencies come from each module's own .modinfo `depends=`."""
    idx = module_index(moddir)
    order, done = [], set()

    def resolve(name):
        name = name.replace("-", "_")
        if name in done:
            return
        done.add(name)
        if name not in idx:
            die(f"kernel module {name} not in {moddir}")
        m = re.search(rb"\0depends=([^\0]*)\0", module_bytes(idx[name]))
        for dep in (m.group(1).decode().split(",") if m else []):
            if dep:
                resolve(dep)
        order.append(name)

    for name in MODULES:
        resolve(name)
    return [(n, idx[n]) for n in order]


def unpack_kernel(deb, cache):
    """The kernel and the module closure of MODULES, kept in the cache per
    .deb: cache/kernel-DEB/{vmlinuz,kver,order,NAME.ko}.  The whole
    unpacked package (~400 MB) lives only while the closure is taken."""
    kdir = os.path.join(cache, "kernel-" + os.path.basename(deb)[:-4])
    if not os.path.exists(os.path.join(kdir, "order")):
        shutil.rmtree(kdir, ignore_errors=True)
        tree = kdir + ".unpack"
        shutil.rmtree(tree, ignore_errors=True)
        os.makedirs(tree)
        try:
            run(["dpkg-deb", "-x", deb, tree])
            mods = os.path.join(tree, "lib", "modules")
            if not os.path.isdir(mods):
                mods = os.path.join(tree, "usr", "lib", "modules")
            kvers = os.listdir(mods)
            if len(kvers) != 1:
                die(f"{deb}: expected one kernel version, found {kvers}")
            kver = kvers[0]
            vmlinuz = os.path.join(tree, "boot", f"vmlinuz-{kver}")
            if not os.path.exists(vmlinuz):
                die(f"{deb}: no boot/vmlinuz-{kver}")
            modules = module_closure(os.path.join(mods, kver))
            os.makedirs(kdir + ".tmp", exist_ok=True)
            shutil.copyfile(vmlinuz, os.path.join(kdir + ".tmp", "vmlinuz"))
            for name, path in modules:
                with open(os.path.join(kdir + ".tmp", name + ".ko"),
                          "wb") as f:
                    f.write(module_bytes(path))
            with open(os.path.join(kdir + ".tmp", "kver"), "w") as f:
                f.write(kver + "\n")
            with open(os.path.join(kdir + ".tmp", "order"), "w") as f:
                f.write("\n".join(n for n, _ in modules) + "\n")
            os.replace(kdir + ".tmp", kdir)
        finally:
            shutil.rmtree(tree, ignore_errors=True)
    with open(os.path.join(kdir, "kver")) as f:
        kver = f.read().strip()
    with open(os.path.join(kdir, "order")) as f:
        modules = [(n, os.path.join(kdir, n + ".ko")) for n in f.read().split()]
    return kver, os.path.join(kdir, "vmlinuz"), modules


# ------------------------------------------------------------------- tree
def guest_path(root, path):
    return os.path.join(root, path.lstrip("/"))


def copy_file(root, src, dst=None, mode=None):
    dst = guest_path(root, dst or src)
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    if os.path.lexists(dst):
        os.unlink(dst)
    shutil.copyfile(src, dst)  # follows symlinks on the host
    os.chmod(dst, mode if mode is not None else
             stat.S_IMODE(os.stat(src).st_mode))


def libraries(binary):
    """The shared libraries `ldd` resolves for binary (ELF interpreter
    included); an unresolved one is an error, not a guest that cannot run."""
    out = run(["ldd", binary])
    if "not found" in out:
        die(f"ldd {binary}: {out.strip()}")
    return re.findall(r"(/\S+) \(0x", out)


def copy_with_libs(root, src, dst=None, seen=None):
    if not os.path.exists(src):
        die(f"{src}: missing on this host (scripts/install-deps.sh test)")
    copy_file(root, src, dst)
    for lib in libraries(src):
        if seen is not None and lib in seen:
            continue
        if seen is not None:
            seen.add(lib)
        copy_file(root, lib, mode=0o755)


def build_tree(root, kver, modules, args):
    # merged /usr, as on the host, so that paths ldd prints work as they are
    for d in ("usr/bin", "usr/sbin", "usr/lib", "usr/lib64", "proc", "sys",
              "dev", "run", "tmp", "etc", "var/lib", "var/log", "mnt",
              "root", "persist", f"usr/lib/modules/{kver}"):
        os.makedirs(guest_path(root, d), exist_ok=True)
    for link, target in (("bin", "usr/bin"), ("sbin", "usr/sbin"),
                         ("lib", "usr/lib"), ("lib64", "usr/lib64"),
                         ("var/run", "../run"), ("var/lock", "../run/lock")):
        os.symlink(target, guest_path(root, link))

    order = []
    for name, path in modules:
        dst = guest_path(root, f"usr/lib/modules/{kver}/{name}.ko")
        with open(dst, "wb") as f:
            f.write(module_bytes(path))
        order.append(f"{name}.ko")
    with open(guest_path(root, "etc/modules.order"), "w") as f:
        f.write("\n".join(order) + "\n")
    with open(guest_path(root, "etc/kver"), "w") as f:
        f.write(kver + "\n")

    seen = set()
    for b in HOST_BINS:
        copy_with_libs(root, b, seen=seen)
    shutil.copytree("/usr/lib/drbd", guest_path(root, "usr/lib/drbd"),
                    symlinks=True, dirs_exist_ok=True)
    os.symlink("mke2fs", guest_path(root, "usr/sbin/mkfs.ext4"))
    os.symlink("e2fsck", guest_path(root, "usr/sbin/fsck.ext4"))

    copy_with_libs(root, args.cmsd, "/usr/sbin/cmsd", seen)
    copy_with_libs(root, args.cmsadm, "/usr/sbin/cmsadm", seen)
    for p in PLUGINS:
        src = os.path.join(args.plugin_dir, p + ".so")
        copy_with_libs(root, src, f"/usr/lib/cmsd/plugins/{p}.so", seen)

    # busybox last, and only for names no real program has taken
    bb = shutil.which("busybox") or "/bin/busybox"
    r = subprocess.run(["ldd", bb], capture_output=True, text=True)
    if r.returncode == 0:
        die(f"{bb} is linked dynamically: install busybox-static")
    copy_file(root, bb, "/usr/bin/busybox", mode=0o755)
    for applet in run([bb, "--list"]).split():
        if applet == "busybox":
            continue
        if any(os.path.lexists(guest_path(root, f"usr/{d}/{applet}"))
               for d in ("bin", "sbin")):
            continue
        os.symlink("busybox", guest_path(root, f"usr/bin/{applet}"))

    copy_file(root, os.path.join(HERE, "guest", "init"), "/init", mode=0o755)
    with open(guest_path(root, "etc/passwd"), "w") as f:
        f.write("root:x:0:0:root:/root:/bin/sh\n")
    with open(guest_path(root, "etc/group"), "w") as f:
        f.write("root:x:0:\n")
    with open(guest_path(root, "etc/hosts"), "w") as f:
        f.write("127.0.0.1 localhost\n")
    # Debian's layout: drbd.conf includes drbd.d/, which /init points at
    # the guest's persistent disk (resource files survive a reboot there).
    with open(guest_path(root, "etc/drbd.conf"), "w") as f:
        f.write('include "drbd.d/global_common.conf";\n'
                'include "drbd.d/*.res";\n')


# -------------------------------------------------------------------- cpio
def cpio_newc(root):
    """The tree as a newc cpio archive, owned by root, with fixed times,
    so that the same inputs give the same image."""
    out = io.BytesIO()
    ino = 1

    def entry(name, mode, data, nlink=1):
        nonlocal ino
        nb = name.encode() + b"\0"
        hdr = "070701" + "".join(f"{v:08x}" for v in (
            ino, mode, 0, 0, nlink, 0, len(data), 0, 0, 0, 0, len(nb), 0))
        ino += 1
        out.write(hdr.encode() + nb)
        out.write(b"\0" * ((4 - (110 + len(nb)) % 4) % 4))
        out.write(data)
        out.write(b"\0" * ((4 - len(data) % 4) % 4))

    for d, dirs, files in os.walk(root):
        dirs.sort()
        rel = os.path.relpath(d, root)
        for name in sorted(dirs) + sorted(files):
            p = os.path.join(d, name)
            arc = os.path.normpath(os.path.join(rel, name))
            st = os.lstat(p)
            if stat.S_ISLNK(st.st_mode):
                entry(arc, 0o120777, os.readlink(p).encode())
            elif stat.S_ISDIR(st.st_mode):
                entry(arc, 0o040755, b"", 2)
            else:
                with open(p, "rb") as f:
                    entry(arc, 0o100000 | stat.S_IMODE(st.st_mode), f.read())
    entry("TRAILER!!!", 0, b"")
    return out.getvalue()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--cache", required=True)
    ap.add_argument("--cmsd", required=True)
    ap.add_argument("--cmsadm", required=True)
    ap.add_argument("--plugin-dir", required=True)
    args = ap.parse_args()
    if not shutil.which("qemu-system-x86_64"):
        print("SKIP: no qemu-system-x86_64 to boot an image "
              "(scripts/install-deps.sh test)")
        sys.exit(77)
    os.makedirs(args.out, exist_ok=True)
    os.makedirs(args.cache, exist_ok=True)
    # one build at a time per cache (parallel ctest runs share the .deb)
    lock = open(os.path.join(args.cache, ".lock"), "w")
    fcntl.flock(lock, fcntl.LOCK_EX)

    deb = kernel_deb(args.cache)
    kver, vmlinuz, modules = unpack_kernel(deb, args.cache)

    root = os.path.join(args.out, "root")
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(root)
    build_tree(root, kver, modules, args)

    tmp = os.path.join(args.out, "initrd.gz.tmp")
    with gzip.open(tmp, "wb", compresslevel=1) as f:
        f.write(cpio_newc(root))
    os.replace(tmp, os.path.join(args.out, "initrd.gz"))
    shutil.copyfile(vmlinuz, os.path.join(args.out, "vmlinuz.tmp"))
    os.replace(os.path.join(args.out, "vmlinuz.tmp"),
               os.path.join(args.out, "vmlinuz"))
    with open(os.path.join(args.out, "image.txt"), "w") as f:
        f.write(f"kernel {os.path.basename(deb)} {kver}\n")
        f.write("modules " + " ".join(n for n, _ in modules) + "\n")
        f.write(f"cmsd {os.path.realpath(args.cmsd)}\n")
    shutil.rmtree(root)
    print(f"mkimage: {args.out}/vmlinuz ({kver}), {args.out}/initrd.gz "
          f"({os.path.getsize(os.path.join(args.out, 'initrd.gz')) >> 20} MiB)")


if __name__ == "__main__":
    main()
