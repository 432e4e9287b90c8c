"""The new-session form as values: what the technician filled in, and the session it stands for.

No Textual here: the screen (screens/new_session.py) reads its widgets into a `SessionForm` and
hands it to `session_plan`, so every rule of the form (a profile and the switches on top of it,
retries, the destination, the mapfile of a drive, the relay's channel) is a pure function with
tests of its own (tests/unit/test_session_form.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from station.images.hashing import DEFAULT_ALGORITHMS, hash_choice
from station.jobs.drives import Drive
from station.jobs.image_output import ImageSpec, format_for
from station.jobs.naming import clone_map_path, file_stem
from station.rescue.option_flags import cli_flags, option_flag
from station.rescue.options import RescueOptions
from station.rescue.profiles import PROFILES

VIRTUAL_SAVE_INTERVAL = 5.0  # seconds: as `station demo`, the map on disk follows a virtual drive closely
EXTENSIONS = {"raw": ".img", "zst": ".zst"}  # an image file's name, by format
HASH_CHOICES = ("sha256", "sha256,md5", "md5", "none")  # the form's hashes, as --hash takes them


@dataclass(frozen=True)
class SessionForm:
    """The form's fields as typed or picked."""

    method: str = "profile:default"  # the method list's value: "profile:NAME"
    retry_passes: str = "0"
    reverse: bool = False
    no_trim: bool = False
    no_scrape: bool = False
    no_sweep: bool = False
    to_drive: bool = False  # the destination is a drive (`target`), not an image file (`image_path`)
    image_path: str = ""
    target: str | None = None  # the path of the picked target drive
    mapfile: str = ""
    force: bool = False  # overwrite an existing image file
    relay: str | None = None  # DRIVER:PORT of the relay feeding the source's power
    relay_channel: str = "1"
    image_format: str = "raw"  # raw or zst (compressed, sealed when the rescue finishes)
    hashes: str = "sha256"  # as --hash takes them: one of HASH_CHOICES
    # imaging by head (station.rescue.headplan), head numbers as the head map shows them ("2", "1,3")
    head_first: str = ""
    head_last: str = ""
    head_skip: str = ""


@dataclass(frozen=True)
class SessionPlan:
    """What `prepare` is asked for, and the relay to open as the job's recover hook."""

    options: RescueOptions
    dest: str
    target: Drive | None  # the drive to be overwritten (its name is typed before it is)
    mapfile: str | None  # None: DEST.map
    force: bool
    relay: str | None  # DRIVER:PORT:CHANNEL
    image: ImageSpec = ImageSpec()

    def command(self, source: Drive) -> list[str]:
        """The `station image` command line that runs this session, as the session records it."""
        mapfile = [self.mapfile] if self.mapfile else []
        flags = [] if self.image.format == format_for(self.dest) else ["--format", self.image.format]
        if self.image.hashes != DEFAULT_ALGORITHMS:
            flags += ["--hash", ",".join(self.image.hashes) or "none"]
        return ["station", "image", *flags, *cli_flags(self.options), source.path, self.dest, *mapfile]


def default_image_path(image_dir: Path, d: Drive, image_format: str = "raw") -> Path:
    """One image per drive (by serial), so that a rerun resumes it."""
    return image_dir / f"{file_stem(d.serial, d.model, d.name)}{EXTENSIONS[image_format]}"


def image_path_for(path: str, image_format: str) -> str:
    """The image file's name for another format: its .img or .zst swapped, any other name as typed."""
    for ext in EXTENSIONS.values():
        if path.endswith(ext):
            return path[: -len(ext)] + EXTENSIONS[image_format]
    return path


def image_spec(form: SessionForm) -> ImageSpec:
    """The form's format and hashes; ValueError names a bad field (a zst image on a drive)."""
    if form.image_format not in EXTENSIONS:
        raise ValueError(f"image format: {form.image_format!r} is neither raw nor zst")
    if form.to_drive and form.image_format == "zst":
        raise ValueError("image format: a drive is written raw; a compressed image needs an image file")
    try:
        hashes = hash_choice(form.hashes)
    except ValueError as e:
        raise ValueError(f"hashes: {e}") from None
    return ImageSpec(form.image_format, hashes)


def form_options(form: SessionForm, source: Drive) -> RescueOptions:
    """The profile's options with the form's on top: its switches turn phases off (never back
    on), and the more retrying of the profile's and the form's retries wins (-1: no end).
    ValueError names a bad field."""
    profile = form.method.split(":", 1)[1]
    if profile not in PROFILES:
        raise ValueError(f"method: no engine profile {profile!r}")
    o = PROFILES[profile].options()
    try:
        retries = option_flag("retry_passes").parse(form.retry_passes.strip() or "0")
    except ValueError as e:
        raise ValueError(f"retry passes: {e}") from None
    o.retry_passes = -1 if -1 in (o.retry_passes, retries) else max(o.retry_passes, retries)
    switches = {"reverse": form.reverse, "no_trim": form.no_trim, "no_scrape": form.no_scrape,
                "no_sweep": form.no_sweep}  # fmt: skip
    for name, on in switches.items():
        if on:
            setattr(o, name, True)
    heads = {"head_first": "heads first", "head_last": "heads last", "head_skip": "heads not read"}
    for name, label in heads.items():
        text = getattr(form, name).strip()
        if text:
            try:
                setattr(o, name, option_flag(name).parse(text))
            except ValueError as e:
                raise ValueError(f"{label}: {e}") from None
    o.validate()
    if source.kind == "virtual":
        o.save_interval = VIRTUAL_SAVE_INTERVAL
    return o


def relay_spec(form: SessionForm) -> str | None:
    """DRIVER:PORT:CHANNEL of the relay feeding the source's power, or None."""
    if form.relay is None:
        return None
    text = form.relay_channel.strip() or "1"
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"relay channel: {text!r} is not a channel number (from 1)")
    return f"{form.relay}:{int(text)}"


def session_plan(form: SessionForm, source: Drive, targets: list[Drive], image_dir: Path) -> SessionPlan:
    """The session the form stands for; ValueError names what is missing or wrong, in the form's
    order (options, destination, relay).  A drive as destination gets its mapfile in the images
    folder (DEST.map would be a file in /dev)."""
    options = form_options(form, source)
    image = image_spec(form)
    target: Drive | None = None
    if form.to_drive:
        target = next((t for t in targets if t.path == form.target), None)
        if target is None:
            raise ValueError("pick the target drive")
        dest = target.path
    else:
        if not form.image_path.strip():
            raise ValueError("name the image file")
        dest = str(Path(form.image_path.strip()).expanduser())
    mapfile = form.mapfile.strip() or None
    if mapfile is None and target is not None:
        mapfile = str(
            clone_map_path(image_dir, file_stem(source.serial, source.model, source.name), target.name)
        )
    relay = relay_spec(form)
    return SessionPlan(options, dest, target, mapfile, form.force or target is not None, relay, image)
