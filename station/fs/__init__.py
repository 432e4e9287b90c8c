"""Inside the image: partitions, filesystems, the files hit by bad sectors, domains from files.

    disk = open_disk(reader)                     # partitions and filesystems (TSK behind them)
    for e in disk.filesystems[0].walk(): ...     # entries with extents on the image
    report = affected(reader)                    # files/metadata with unrescued bytes
    extract(fs, ["/docs"], "out/")               # copies, gaps reported per file
    write_domain("d.map", metadata_domain(disk), reader.size)
    resolve(reader, ["*.docx"])                  # a files-first rescue's next step

See docs/fs.md for the choices behind it.
"""

from station.fs.affected import Hit, Report, affected
from station.fs.disk import Disk, Filesystem, open_disk
from station.fs.domain import (
    Resolution,
    files_domain,
    metadata_domain,
    resolve,
    used_domain,
    write_domain,
)
from station.fs.entry import DIR, FILE, METADATA, OTHER, SYMLINK, Entry
from station.fs.extract import Extracted, ExtractReport, extract
from station.fs.partitions import Partition, PartitionTable, read_partitions
from station.fs.ranges import Areas, Range
from station.fs.tsk import FsError

__all__ = [
    "DIR",
    "FILE",
    "METADATA",
    "OTHER",
    "SYMLINK",
    "Areas",
    "Disk",
    "Entry",
    "ExtractReport",
    "Extracted",
    "Filesystem",
    "FsError",
    "Hit",
    "Partition",
    "PartitionTable",
    "Range",
    "Report",
    "Resolution",
    "affected",
    "extract",
    "files_domain",
    "metadata_domain",
    "open_disk",
    "read_partitions",
    "resolve",
    "used_domain",
    "write_domain",
]
