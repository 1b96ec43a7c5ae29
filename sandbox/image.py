"""The sandbox image: a content-addressed tag, and online/offline builds.

The tag is ``agentkit-sandbox:<hash>`` where the hash covers every image input (Dockerfiles,
pinned requirements, Debian package list, build recipe version), so editing any of them makes
`ensure_image` build a fresh image. The in-container runtime is *not* baked in: it is passed
to the container at start, so runtime edits need no rebuild.

Online build: ``sandbox/Dockerfile`` (``FROM python:3.11-slim``). Offline build, for hosts that
cannot pull: ``debootstrap --variant=minbase bookworm`` -> tarball -> ``docker import`` ->
``image/Dockerfile.offline`` which installs wheels downloaded on the host with
``pip download --only-binary=:all:``. The rootfs tarball and the wheelhouse are cached under
``~/.cache/agentkit/sandbox`` (``AGENTKIT_CACHE_DIR`` overrides), so a rebuild takes seconds.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from .result import SandboxError

__all__ = [
    "DEFAULT_IMAGE",
    "IMAGE_REPO",
    "build_image",
    "default_image",
    "ensure_image",
    "image_exists",
]

HERE = Path(__file__).resolve().parent
IMAGE_REPO = "agentkit-sandbox"
ONLINE_BASE = "python:3.11-slim"
DEBIAN_SUITE = "bookworm"
DEBIAN_MIRROR = os.environ.get("AGENTKIT_DEBIAN_MIRROR", "http://deb.debian.org/debian")
PIP_PLATFORMS = (
    "manylinux2014_x86_64",
    "manylinux_2_17_x86_64",
    "manylinux_2_24_x86_64",
    "manylinux_2_27_x86_64",
    "manylinux_2_28_x86_64",
)
_RECIPE_VERSION = "1"  # bump when the build steps below change in a way that alters the image
_INPUTS = (
    "Dockerfile",
    "image/Dockerfile.offline",
    "image/requirements.txt",
    "image/debian-packages.txt",
)
# Trimmed from the rootfs: documentation, locales and apt caches.
_ROOTFS_TRIM = (
    "usr/share/doc",
    "usr/share/man",
    "usr/share/info",
    "usr/share/locale",
    "var/cache/apt",
    "var/lib/apt/lists",
)

Log = Callable[[str], None]


def _digest(*parts: bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(len(part).to_bytes(8, "big"))
        h.update(part)
    return h.hexdigest()[:16]


def inputs_hash() -> str:
    """Hash of every file that defines the image (plus the recipe version)."""
    return _digest(_RECIPE_VERSION.encode(), *((HERE / p).read_bytes() for p in _INPUTS))


def default_image() -> str:
    """The image tag to run: ``$AGENTKIT_SANDBOX_IMAGE`` or ``agentkit-sandbox:<inputs hash>``."""
    return os.environ.get("AGENTKIT_SANDBOX_IMAGE") or f"{IMAGE_REPO}:{inputs_hash()}"


DEFAULT_IMAGE = default_image()


def cache_dir() -> Path:
    root = os.environ.get("AGENTKIT_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "agentkit"
    )
    path = Path(root) / "sandbox"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _client() -> Any:
    from .container import docker_client

    return docker_client()  # a clear SandboxError when the daemon is unreachable


def image_exists(tag: str, client: Any = None) -> bool:
    import docker.errors

    client = client or _client()
    try:
        client.images.get(tag)
        return True
    except docker.errors.ImageNotFound:
        return False


def ensure_image(
    image: str | None = None, *, offline: bool | None = None, log: Log | None = None
) -> str:
    """Return `image` (default: `default_image()`), building it first if it is missing."""
    tag = image or default_image()
    if image_exists(tag):
        return tag
    if image and not image.startswith(f"{IMAGE_REPO}:"):
        raise SandboxError(f"image {image!r} is not present and is not an agentkit image to build")
    return build_image(tag=tag, offline=offline, log=log)


def build_image(
    *, tag: str | None = None, offline: bool | None = None, log: Log | None = None
) -> str:
    """Build the sandbox image and return its tag.

    `offline=None` picks the online Dockerfile only when its base image is already present
    locally (pulling fails on air-gapped hosts), otherwise the offline recipe.
    """
    say: Log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    tag = tag or default_image()
    client = _client()
    if offline is None:
        offline = not image_exists(ONLINE_BASE, client)
    started = time.monotonic()
    with _build_lock():
        if image_exists(tag, client):  # another process built it while we waited
            return tag
        dangling = _dangling(client)
        try:
            if offline:
                _build_offline(client, tag, say)
            else:
                _build_online(client, tag, say)
        finally:
            for image_id in _dangling(client) - dangling:  # intermediate build stages
                with contextlib.suppress(Exception):
                    client.api.remove_image(image_id)
    say(f"built {tag} in {time.monotonic() - started:.1f}s")
    return tag


@contextlib.contextmanager
def _build_lock() -> Iterator[None]:
    """Serialise builds between processes (CI may build and test at the same time)."""
    with open(cache_dir() / ".build.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _dangling(client: Any) -> set[str]:
    return {str(i["Id"]) for i in client.api.images(filters={"dangling": True})}


def _labels() -> dict[str, str]:
    return {"agentkit.sandbox.image": "1", "agentkit.sandbox.inputs": inputs_hash()}


def _docker_build(client: Any, context: Path, tag: str, say: Log, *,
                  buildargs: dict[str, str] | None = None, network: str | None = None) -> None:
    import docker.errors

    try:
        for chunk in client.api.build(
            path=str(context), dockerfile="Dockerfile", tag=tag, buildargs=buildargs or {},
            labels=_labels(), rm=True, forcerm=True, network_mode=network,
            decode=True,
        ):
            if "stream" in chunk and chunk["stream"].strip():
                say(chunk["stream"].rstrip())
            if "error" in chunk:
                raise SandboxError(f"docker build failed: {chunk['error'].strip()}")
    except docker.errors.APIError as exc:
        raise SandboxError(f"docker build failed: {exc}") from exc


def _build_online(client: Any, tag: str, say: Log) -> None:
    say(f"building {tag} from {HERE / 'Dockerfile'} (FROM {ONLINE_BASE})")
    with tempfile.TemporaryDirectory(prefix="agentkit-build-") as tmp:
        ctx = Path(tmp)
        shutil.copy(HERE / "Dockerfile", ctx / "Dockerfile")
        (ctx / "image").mkdir()
        shutil.copy(HERE / "image/requirements.txt", ctx / "image/requirements.txt")
        _docker_build(client, ctx, tag, say)


def _debian_packages() -> list[str]:
    text = (HERE / "image/debian-packages.txt").read_text()
    return [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]


def _run(cmd: list[str], say: Log, what: str) -> None:
    say("$ " + " ".join(cmd))
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr)[-3000:]
        raise SandboxError(f"{what} failed (exit {proc.returncode}):\n{tail}")


def rootfs_tarball(say: Log) -> Path:
    """A cached minbase bookworm rootfs with python3, as a tarball (debootstrap if missing)."""
    pkgs = _debian_packages()
    key = _digest(_RECIPE_VERSION.encode(), DEBIAN_SUITE.encode(), ",".join(pkgs).encode())
    tarball = cache_dir() / f"rootfs-{DEBIAN_SUITE}-{key}.tar"
    if tarball.exists():
        say(f"using cached rootfs {tarball}")
        return tarball
    debootstrap = shutil.which("debootstrap") or "/usr/sbin/debootstrap"
    if not os.path.exists(debootstrap):
        raise SandboxError("debootstrap is not installed: run `apt-get install -y debootstrap`")
    if os.geteuid() != 0:
        raise SandboxError("the offline build runs debootstrap and must run as root")
    with tempfile.TemporaryDirectory(prefix="agentkit-rootfs-", dir=cache_dir()) as tmp:
        root = Path(tmp) / "rootfs"
        _run([debootstrap, "--variant=minbase", f"--include={','.join(pkgs)}",
              DEBIAN_SUITE, str(root), DEBIAN_MIRROR], say, "debootstrap")
        for rel in _ROOTFS_TRIM:
            target = root / rel
            if target.is_dir():
                shutil.rmtree(target)
                target.mkdir()
        partial = tarball.with_suffix(".partial")
        _run(["tar", "--numeric-owner", "-C", str(root), "-cf", str(partial), "."], say, "tar")
        partial.rename(tarball)
    return tarball


def wheelhouse(say: Log) -> Path:
    """A cached directory of cp311 manylinux wheels for image/requirements.txt (+ pip)."""
    req = HERE / "image/requirements.txt"
    key = _digest(_RECIPE_VERSION.encode(), req.read_bytes(), " ".join(PIP_PLATFORMS).encode())
    dest = cache_dir() / f"wheels-{key}"
    if (dest / ".complete").exists():
        say(f"using cached wheels {dest}")
        return dest
    dest.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--disable-pip-version-check",
           "--only-binary=:all:", "--python-version", "3.11", "--implementation", "cp",
           "--abi", "cp311"]
    for plat in PIP_PLATFORMS:
        cmd += ["--platform", plat]
    cmd += ["-d", str(dest), "-r", str(req), "pip"]
    _run(cmd, say, "pip download")
    (dest / ".complete").write_text("ok\n")
    return dest


def _build_offline(client: Any, tag: str, say: Log) -> None:
    tarball = rootfs_tarball(say)
    st = tarball.stat()  # a re-created tarball gets its own base image
    ident = f"{tarball.name}:{st.st_size}:{st.st_mtime_ns}"
    base = f"{IMAGE_REPO}-base:{_digest(ident.encode())}"
    if not image_exists(base, client):
        say(f"importing {tarball} as {base}")
        repo, _, base_tag = base.partition(":")
        client.api.import_image_from_file(str(tarball), repository=repo, tag=base_tag)
        if not image_exists(base, client):
            raise SandboxError(f"docker import of {tarball} did not produce {base}")
    wheels = wheelhouse(say)
    with tempfile.TemporaryDirectory(prefix="agentkit-build-") as tmp:
        ctx = Path(tmp)
        shutil.copy(HERE / "image/Dockerfile.offline", ctx / "Dockerfile")
        (ctx / "wheels").mkdir()
        for whl in wheels.glob("*.whl"):
            try:
                os.link(whl, ctx / "wheels" / whl.name)
            except OSError:
                shutil.copy(whl, ctx / "wheels" / whl.name)
        shutil.copy(HERE / "image/requirements.txt", ctx / "wheels/requirements.txt")
        _docker_build(client, ctx, tag, say, buildargs={"BASE": base}, network="none")
