"""The hardware inventory: parsed from a fake /proc and /sys built here, and checked against the
real machine the tests run on."""

from __future__ import annotations

import os
from pathlib import Path

from station.health import inventory
from station.health.identity import transport_from_sysfs

CPUINFO_X86 = "".join(
    f"""processor\t: {n}
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) CPU E5-2620 v3 @ 2.40GHz
cpu MHz\t\t: {1200 + 100 * n}.000
cache size\t: 15360 KB
physical id\t: {n // 4}
core id\t\t: {(n // 2) % 2}
flags\t\t: fpu vme sse sse2 ht

"""
    for n in range(8)
)  # 2 sockets x 2 cores x 2 threads

CPUINFO_ARM = """processor\t: 0
BogoMIPS\t: 108.00
CPU implementer\t: 0x41

processor\t: 1
BogoMIPS\t: 108.00
CPU implementer\t: 0x41

Hardware\t: BCM2835
Model\t\t: Raspberry Pi 4 Model B Rev 1.4
"""


def test_cpuinfo_x86():
    c = inventory.parse_cpuinfo(CPUINFO_X86)
    assert c["model"] == "Intel(R) Xeon(R) CPU E5-2620 v3 @ 2.40GHz" and c["vendor"] == "GenuineIntel"
    assert (c["logical_cpus"], c["cores"], c["sockets"]) == (8, 4, 2)
    assert c["mhz"] == 1550 and c["cache"] == "15360 KB" and c["virtualized"] is False


def test_cpuinfo_arm():
    c = inventory.parse_cpuinfo(CPUINFO_ARM)
    assert c["model"] == "Raspberry Pi 4 Model B Rev 1.4"
    assert c["logical_cpus"] == 2 and "cores" not in c and "virtualized" not in c


def put(root: Path, rel: str, text: str) -> None:
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text + "\n")


def link(root: Path, rel: str, target: str) -> None:
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.symlink_to(root / target)


def fake_sys(root: Path) -> None:
    """A machine with a SATA HDD on AHCI, an NVMe SSD, a USB bridge (UAS) and a loop device."""
    sata = "devices/pci0000:00/0000:00:17.0/ata1/host0/target0:0:0/0:0:0:0/block/sda"
    nvme = "devices/pci0000:00/0000:00:1d.0/0000:03:00.0/nvme/nvme0/nvme0n1"
    usb = "devices/pci0000:00/0000:00:14.0/usb2/2-1/2-1:1.0/host6/target6:0:0/6:0:0:0/block/sdb"
    for path, name in ((sata, "sda"), (nvme, "nvme0n1"), (usb, "sdb")):
        link(root, f"block/{name}", path)
    put(root, f"{sata}/size", str(2_000_398_934_016 // 512))
    put(root, f"{sata}/dev", "8:0")
    put(root, f"{sata}/queue/rotational", "1")
    put(root, f"{sata}/queue/logical_block_size", "512")
    put(root, f"{sata}/queue/physical_block_size", "4096")
    put(root, f"{sata}/removable", "0")
    put(root, f"{sata}/ro", "0")
    put(root, "devices/pci0000:00/0000:00:17.0/ata1/host0/target0:0:0/0:0:0:0/model", "ST2000NM000A-2J21")
    put(root, "devices/pci0000:00/0000:00:17.0/ata1/host0/target0:0:0/0:0:0:0/vendor", "ATA")
    put(root, "devices/pci0000:00/0000:00:17.0/ata1/host0/target0:0:0/0:0:0:0/rev", "TN03")
    link(root, f"{sata}/device", "devices/pci0000:00/0000:00:17.0/ata1/host0/target0:0:0/0:0:0:0")
    put(root, f"{nvme}/size", str(256_060_514_304 // 512))
    put(root, f"{nvme}/queue/rotational", "0")
    put(root, "devices/pci0000:00/0000:00:1d.0/0000:03:00.0/nvme/nvme0/model", "KBG30ZMV256G TOSHIBA")
    put(root, "devices/pci0000:00/0000:00:1d.0/0000:03:00.0/nvme/nvme0/serial", "X7TS100TTP8T")
    put(root, "devices/pci0000:00/0000:00:1d.0/0000:03:00.0/nvme/nvme0/firmware_rev", "ADHA0101")
    link(root, f"{nvme}/device", "devices/pci0000:00/0000:00:1d.0/0000:03:00.0/nvme/nvme0")
    put(root, f"{usb}/size", str(512_110_190_592 // 512))
    put(root, f"{usb}/removable", "1")
    # a loop device in use, an unused one and an empty zram: only the first is a disk to list
    link(root, "block/loop0", "devices/virtual/block/loop0")
    put(root, "devices/virtual/block/loop0/size", "2048")
    put(root, "devices/virtual/block/loop0/loop/backing_file", "/srv/images/disk.img")
    link(root, "block/loop1", "devices/virtual/block/loop1")
    put(root, "devices/virtual/block/loop1/size", "0")
    link(root, "block/zram0", "devices/virtual/block/zram0")
    put(root, "devices/virtual/block/zram0/size", "0")

    pci = "devices/pci0000:00"
    for addr, cls, vid, did, driver in (
        ("0000:00:17.0", "0x010601", "0x8086", "0xa352", "ahci"),
        ("0000:03:00.0", "0x010802", "0x1179", "0x011a", "nvme"),
        ("0000:00:14.0", "0x0c0330", "0x8086", "0xa36d", "xhci_hcd"),
        ("0000:00:02.0", "0x030000", "0x8086", "0x3e92", "i915"),  # graphics: not listed
    ):
        d = f"{pci}/{addr}" if addr != "0000:03:00.0" else f"{pci}/0000:00:1d.0/{addr}"
        put(root, f"{d}/class", cls)
        put(root, f"{d}/vendor", vid)
        put(root, f"{d}/device", did)
        put(root, f"drivers/{driver}/.keep", "")
        link(root, f"{d}/driver", f"drivers/{driver}")
        link(root, f"bus/pci/devices/{addr}", d)

    dev = f"{pci}/0000:00:14.0/usb2/2-1"
    bridge = {
        "idVendor": "152d", "idProduct": "0578", "busnum": "2", "devnum": "3", "manufacturer": "JMicron",
        "product": "USB to ATA/ATAPI Bridge", "speed": "5000", "version": " 3.00", "bDeviceClass": "00",
        "serial": "0123456789ABCDEF",
    }  # fmt: skip
    for name, value in bridge.items():
        put(root, f"{dev}/{name}", value)
    put(root, f"{dev}/2-1:1.0/bInterfaceClass", "08")
    put(root, "drivers/uas/.keep", "")
    link(root, f"{dev}/2-1:1.0/driver", "drivers/uas")
    link(root, "bus/usb/devices/2-1", dev)
    link(root, "bus/usb/devices/2-1:1.0", f"{dev}/2-1:1.0")  # an interface: not a device
    hub = f"{pci}/0000:00:14.0/usb2"
    root_hub = {"idVendor": "1d6b", "idProduct": "0003", "busnum": "2", "devnum": "1", "bDeviceClass": "09"}
    for name, value in root_hub.items():
        put(root, f"{hub}/{name}", value)
    link(root, "bus/usb/devices/usb2", hub)

    put(root, "class/dmi/id/sys_vendor", "Dell Inc.")
    put(root, "class/dmi/id/product_name", "OptiPlex 7070")
    put(root, "class/dmi/id/bios_version", "1.2.3")


def test_fake_machine(tmp_path):
    sys_root = tmp_path / "sys"
    fake_sys(sys_root)
    ids = tmp_path / "ids"
    put(ids, "pci.ids", "# pci.ids\n8086  Intel Corporation\n\ta352  Cannon Lake PCH SATA AHCI Controller\n"
                        "1179  Toshiba Corporation\nC 01  Mass storage controller")  # fmt: skip

    disks = {d["name"]: d for d in inventory.disks(sys_root=sys_root, udev_root=tmp_path / "no-udev")}
    assert sorted(disks) == ["loop0", "nvme0n1", "sda", "sdb"]
    sda = disks["sda"]
    assert sda["size_bytes"] == 2_000_398_934_016 and sda["transport"] == "ATA"
    assert (sda["model"], sda["vendor"], sda["firmware"]) == ("ST2000NM000A-2J21", "ATA", "TN03")
    assert sda["rotational"] is True and (sda["logical_sector_size"], sda["physical_sector_size"]) == (
        512,
        4096,
    )
    assert sda["controller"] == "0000:00:17.0"
    nv = disks["nvme0n1"]
    assert (nv["transport"], nv["serial"], nv["firmware"], nv["rotational"]) == (
        "NVMe",
        "X7TS100TTP8T",
        "ADHA0101",
        False,
    )
    assert nv["controller"] == "0000:03:00.0"
    assert disks["sdb"]["transport"] == "USB" and disks["sdb"]["removable"] is True
    assert (
        disks["loop0"]["backing_file"] == "/srv/images/disk.img" and disks["loop0"]["transport"] == "virtual"
    )

    ctl = inventory.controllers(sys_root=sys_root, names=inventory.IdNames("pci.ids", (ids,)))
    assert [(c["address"], c["kind"], c["driver"]) for c in ctl] == [
        ("0000:00:14.0", "USB 3 controller (xHCI)", "xhci_hcd"),
        ("0000:00:17.0", "SATA controller (AHCI)", "ahci"),
        ("0000:03:00.0", "NVMe controller", "nvme"),
    ]
    assert (
        ctl[1]["vendor"] == "Intel Corporation" and ctl[1]["name"] == "Cannon Lake PCH SATA AHCI Controller"
    )
    assert ctl[2]["vendor"] == "Toshiba Corporation" and "name" not in ctl[2]

    usb = inventory.usb_devices(sys_root=sys_root, names=inventory.IdNames("usb.ids", (ids,)))
    assert len(usb) == 2
    by_vendor = {u["vendor_id"]: u for u in usb}
    hub, bridge = by_vendor["1d6b"], by_vendor["152d"]
    assert hub["hub"] is True and bridge["hub"] is False
    assert (bridge["vendor_id"], bridge["product_id"], bridge["manufacturer"]) == ("152d", "0578", "JMicron")
    assert bridge["drivers"] == ["uas"] and bridge["mass_storage"] is True and bridge["speed_mbps"] == 5000
    assert bridge["usb_version"] == "3.00" and (bridge["bus"], bridge["device"]) == (2, 3)

    assert inventory.board_info(sys_root=sys_root) == {
        "sys_vendor": "Dell Inc.", "product_name": "OptiPlex 7070", "bios_version": "1.2.3",
    }  # fmt: skip

    text = "\n".join(inventory.render(inventory.collect(sys_root=sys_root, proc_root=tmp_path / "no-proc")))
    assert "/dev/sda" in text and "JMicron USB to ATA/ATAPI Bridge  5000 Mb/s  [uas]  mass storage" in text
    assert "SATA controller (AHCI)" in text


def test_missing_tree_gives_empty_sections(tmp_path):
    inv = inventory.collect(proc_root=tmp_path, sys_root=tmp_path, etc_root=tmp_path, udev_root=tmp_path)
    assert inv["cpu"] == {} and inv["memory"] == {} and inv["disks"] == [] and inv["usb"] == []
    assert inv["host"]["kernel"] == os.uname().release
    assert "none found" in "\n".join(inventory.render(inv))


def test_this_machine():
    inv = inventory.collect()
    assert inv["cpu"]["logical_cpus"] == os.cpu_count()
    assert inv["memory"]["total_bytes"] == os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    listed = {d["name"] for d in inv["disks"]}
    for entry in Path("/sys/block").iterdir():
        size = int((entry / "size").read_text())
        if size and not entry.name.startswith(("loop", "ram", "zram")):
            assert entry.name in listed, f"{entry.name} missing from the inventory"


def test_transport_from_sysfs():
    assert (
        transport_from_sysfs("/sys/devices/pci0000:00/0000:00:14.0/usb2/2-1/2-1:1.0/host6/x/block/sdb")
        == "USB"
    )
    assert (
        transport_from_sysfs("/sys/devices/pci0000:00/0000:00:17.0/ata3/host2/target2:0:0/2:0:0:0/block/sdc")
        == "ATA"
    )
    assert (
        transport_from_sysfs(
            "/sys/devices/pci0000:00/0000:00:01.0/0000:01:00.0/host0/port-0:0/end_device-0:0/x"
        )
        == "SAS"
    )
    assert transport_from_sysfs("/sys/devices/virtual/block/loop0") == "virtual"
    assert transport_from_sysfs("/sys/devices/pci0000:00/0000:00:02.0/virtio1/block/vda") == "virtio"
    assert transport_from_sysfs("/sys/devices/platform/somewhere/block/x") is None
