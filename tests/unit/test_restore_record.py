"""A restore's record: per target identity, bytes, time and check, through JSON and back; fit's refusals."""

from __future__ import annotations

import json

from station.core.record import RestoreRecord, SessionRecord, TargetCheck, TargetResult
from station.fs.fit import DiskLayout, _protective_mbr, refusal


def test_targets_and_the_restore_survive_json_and_keep_unknown_keys() -> None:
    r = SessionRecord(kind="restore", destinations=["/dev/sdb", "/dev/sdc"])
    r.restore = RestoreRecord(image="/img/disk.zst", image_format="zst", image_size=10, fill="marker")
    check = TargetCheck("ok", "sha256", "ab", "ab", "recorded in the image", checked_bytes=10)
    r.targets = [
        TargetResult(path="/dev/sdb", kind="block", size=20, model="WDC", serial="W1", state="written",
                     bytes_written=10, seconds=1.5, layout=["GPT: moved"], check=check),
        TargetResult(path="/dev/sdc", kind="block", state="failed", error="input/output error at byte 4"),
    ]  # fmt: skip
    d = json.loads(json.dumps(r.to_dict()))
    d["targets"][0]["future"] = {"x": 1}
    back = SessionRecord.from_dict(d)
    assert back.targets is not None and back.restore is not None
    assert back.targets[0].check == r.targets[0].check and back.targets[1].error == r.targets[1].error
    assert back.restore.fill == "marker" and back.targets[0].unknown == {"future": {"x": 1}}
    assert back.to_dict()["targets"][0]["future"] == {"x": 1}
    assert SessionRecord.from_dict({"dest": "x.img"}).targets is None, "an imaging record has no targets"


def test_refusals_name_the_room_and_the_sector_size() -> None:
    gpt = DiskLayout("gpt", 512, 50_000, 60_000)
    assert refusal(gpt, "/dev/sdb", 60_000, 512) is None
    assert "needs 50000 (its partitions and a backup GPT)" in (refusal(gpt, "/dev/sdb", 40_000, 512) or "")
    assert "4096-byte logical sectors" in (refusal(gpt, "/dev/sdb", 60_000, 4096) or "")
    bare = DiskLayout("none", 512, 60_000, 60_000)
    assert refusal(bare, "/dev/sdb", 60_000, 4096) is None, "no table: nothing counts in sectors"
    assert "the whole image" in (refusal(bare, "/dev/sdb", 59_999, 512) or "")


def test_a_protective_mbr_is_resized_a_hybrid_one_is_not() -> None:
    mbr = bytearray(512)
    mbr[510:512] = b"\x55\xaa"
    mbr[446 + 4] = 0xEE
    mbr[446 + 8 : 446 + 16] = (1).to_bytes(4, "little") + (999).to_bytes(4, "little")
    out = _protective_mbr(bytes(mbr), 4_999)
    assert out is not None and int.from_bytes(out[446 + 12 : 446 + 16], "little") == 4_999
    big = _protective_mbr(bytes(mbr), 1 << 40)
    assert big is not None and int.from_bytes(big[446 + 12 : 446 + 16], "little") == 0xFFFFFFFF
    mbr[462 + 4] = 0x83  # a second partition: a hybrid MBR, left as it is
    assert _protective_mbr(bytes(mbr), 4_999) is None
