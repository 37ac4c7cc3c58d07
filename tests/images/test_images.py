"""test_images.py: sandpit-admin images, against real builds (mmdebstrap,
apt and npm in a chroot of an overlay) in the shared cache and in scratch
caches. SANDPIT_TEST_IMAGES picks the images built and checked: unset,
base, python-basic and node-basic (make test); "all", every recipe (make
test-images); or a comma-separated list. Prints "images: N passed, N failed"."""
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import traceback

BIN = os.environ["SANDPIT_BIN"]
RECIPES = os.environ["SANDPIT_IMAGE_RECIPES"]
CACHE = os.environ.get("SANDPIT_IMAGE_CACHE", "/var/cache/sandpit/images")
ADMIN = os.path.join(BIN, "sandpit-admin")
_tests = []


def selected():
    want = os.environ.get("SANDPIT_TEST_IMAGES", "base,python-basic,node-basic")
    if want == "all":
        return sorted(f[:-6] for f in os.listdir(RECIPES) if f.endswith(".image"))
    return [n for n in want.split(",") if n]


IMAGES = selected()


def test(fn):
    _tests.append(fn)
    return fn


def admin(*args, cache=CACHE, recipes=RECIPES, timeout=1800):
    env = dict(os.environ, SANDPIT_IMAGE_CACHE=cache, SANDPIT_IMAGE_RECIPES=recipes)
    return subprocess.run([ADMIN, "images", *args], env=env, capture_output=True, text=True,
                          timeout=timeout)


def listing(cache=CACHE, recipes=RECIPES):
    out = admin("list", cache=cache, recipes=recipes).stdout
    return {line.split()[0]: line.split()[1] for line in out.splitlines() if line.strip()}


def current(name, cache=CACHE):
    return os.path.join(cache, name, os.readlink(os.path.join(cache, name, "current")))


def in_image(names, script):
    """Run a script in a chroot of the overlay of the named layers (nearest
    first), the way a sandbox will see them; returns CompletedProcess."""
    lower = ":".join(os.path.join(current(n), "root") for n in names)
    mnt = tempfile.mkdtemp(prefix="sp-img-")
    try:
        return subprocess.run(
            ["unshare", "-m", "sh", "-c",
             'mount -t overlay overlay -o "lowerdir=$0" "$1" && chroot "$1" /bin/sh -c "$2"',
             lower, mnt, script], capture_output=True, text=True, timeout=120)
    finally:
        os.rmdir(mnt)


def recipe(name):
    """The recipe's keys: lists for the repeatable ones, text for the rest."""
    out = {"env": []}
    for line in open(os.path.join(RECIPES, name + ".image")):
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            if key.strip() == "env":
                out["env"].append(value.strip())
            else:
                out[key.strip()] = value.strip()
    return out


def chain(name):
    """The image and its parents, nearest first."""
    names = [name]
    while recipe(names[-1]).get("parent"):
        names.append(recipe(names[-1])["parent"])
    return names


def in_image_rw(names, script, env=()):
    """Like in_image but as a sandbox has it: a throwaway writable layer on
    top, /proc and /dev, the chain's env; in a network namespace of its own
    (loopback only), so a promise that needs the network fails."""
    lower = ":".join(os.path.join(current(n), "root") for n in names)
    exports = "".join("export %s\n" % shlex.quote(e) for e in env)
    t = tempfile.mkdtemp(prefix="sp-img-")
    try:
        return subprocess.run(
            ["unshare", "-m", "-n", "sh", "-ec",
             'ip link set lo up; mount -t tmpfs tmpfs "$1"; mkdir "$1/u" "$1/w" "$1/m"\n'
             'mount -t overlay overlay -o "lowerdir=$0,upperdir=$1/u,workdir=$1/w" "$1/m"\n'
             'mount -t proc proc "$1/m/proc"; mount --rbind /dev "$1/m/dev"\n'
             'exec env -i HOME=/root LANG=C.UTF-8 /usr/sbin/chroot "$1/m" /bin/sh -ec "$2"',
             lower, t, "cd /\n" + exports + script],
            capture_output=True, text=True, timeout=600)
    finally:
        os.rmdir(t)


@test
def builds_the_test_images():
    r = admin("build", *IMAGES)
    assert r.returncode == 0, r.stderr[-2000:]
    got = listing()
    for name in IMAGES:
        assert got.get(name) == "ready", (name, got)


@test
def every_image_keeps_its_smoke_promise():
    # the recipe's smoke command (what the template promises), again, in a
    # fresh overlay of the published layers with no network
    for name in IMAGES:
        r = recipe(name)
        env = [e for n in reversed(chain(name)) for e in recipe(n)["env"]]
        got = in_image_rw(chain(name), r["smoke"], env)
        assert got.returncode == 0, (name, got.stdout[-1500:], got.stderr[-1500:])


@test
def layers_carry_no_build_leftovers():
    # a smoke test's files (a venv, a go module, a cargo project, caches) and
    # npm's scratch stay out of the image; the size counts a file once
    # however many links it has; the host's CA bundle (the proxy's CA the
    # builds download through) is not baked in
    host_ca = open("/etc/ssl/certs/ca-certificates.crt", "rb").read()
    base_ca = open(os.path.join(current("base"), "root/etc/ssl/certs/ca-certificates.crt"),
                   "rb").read()
    for name in IMAGES:
        root = os.path.join(current(name), "root")
        tmp = os.listdir(os.path.join(root, "tmp")) if os.path.isdir(root + "/tmp") else []
        assert tmp == [], (name, tmp)
        assert not os.path.exists(os.path.join(root, "workspace")), name
        assert not os.path.exists(os.path.join(root, "root/.npm")), name
        du = int(subprocess.run(["du", "-s", "--block-size=1", current(name)],
                                capture_output=True, text=True).stdout.split()[0])
        meta = json.load(open(os.path.join(current(name), "image.json")))
        assert 0.9 * du <= meta["size_bytes"] <= 1.1 * du, (name, meta["size_bytes"], du)
        ca = os.path.join(root, "etc/ssl/certs/ca-certificates.crt")
        if host_ca != base_ca and os.path.isfile(ca):
            assert open(ca, "rb").read() != host_ca, name


@test
def metadata_describes_each_layer():
    meta = json.load(open(os.path.join(current("python-basic"), "image.json")))
    base = json.load(open(os.path.join(current("base"), "image.json")))
    assert meta["name"] == "python-basic" and meta["parent"] == "base", meta
    assert meta["parent_key"] == base["key"] and base["parent"] is None, (meta, base)
    assert "pip" in meta["preinstalled"] and meta["size_bytes"] > 0, meta
    assert os.path.basename(current("python-basic")) == meta["key"]


@test
def layers_hold_only_their_own_files():
    # python is in the python layer, not in base; libc only in base
    py, base = current("python-basic"), current("base")
    assert os.path.exists(os.path.join(py, "root/usr/bin/python3"))
    assert not os.path.exists(os.path.join(base, "root/usr/bin/python3"))
    assert not os.path.exists(os.path.join(py, "root/usr/lib/x86_64-linux-gnu/libc.so.6"))
    # the host's resolver and name were not baked in
    assert open(os.path.join(base, "root/etc/resolv.conf")).read() == ""
    assert open(os.path.join(base, "root/etc/hostname")).read() == "sandbox\n"


@test
def the_images_keep_their_promises():
    r = in_image(["python-basic", "base"], "python3 -c 'import venv, pip; print(1+1)'")
    assert r.returncode == 0 and r.stdout.strip() == "2", r
    r = in_image(["node-basic", "base"], "node -p process.versions.node; npm --version; yarn --version")
    assert r.returncode == 0 and r.stdout.split()[0].startswith("22."), r
    # nothing of the host: the host's /etc/hostname is not the image's
    r = in_image(["node-basic", "base"], "cat /etc/hostname; test ! -e /usr/bin/gcc")
    assert r.returncode == 0 and r.stdout.strip() == "sandbox", r


@test
def an_unchanged_recipe_is_never_rebuilt():
    t0 = time.monotonic()
    r = admin("build", "python-basic")
    assert r.returncode == 0 and "up to date" in r.stderr, r.stderr
    assert time.monotonic() - t0 < 10, "a cached image took %.1fs" % (time.monotonic() - t0)


def scratch():
    """A scratch recipe dir and cache that share the built base layer."""
    d = tempfile.mkdtemp(prefix="sp-recipes-")
    c = tempfile.mkdtemp(prefix="sp-cache-")
    shutil.copy(os.path.join(RECIPES, "base.image"), d)
    os.makedirs(os.path.join(c, "base"))
    key = os.path.basename(current("base"))
    os.symlink(current("base"), os.path.join(c, "base", key))
    os.symlink(key, os.path.join(c, "base", "current"))
    return d, c


@test
def a_failing_recipe_keeps_the_previous_image():
    d, c = scratch()
    try:
        with open(os.path.join(d, "tiny.image"), "w") as f:
            f.write("description = tiny\nparent = base\ndebian = jq\nsmoke = jq --version\n")
        # what a build killed midway (make run stopped) left behind
        stale = os.path.join(c, "tiny", ".build-0123456789ab-999999", "root", "usr")
        os.makedirs(stale)
        open(os.path.join(stale, "half"), "w").close()
        r = admin("build", "tiny", cache=c, recipes=d)
        assert r.returncode == 0, r.stderr[-2000:]
        assert not os.path.exists(os.path.dirname(os.path.dirname(stale))), "stale build kept"
        good = os.readlink(os.path.join(c, "tiny", "current"))
        with open(os.path.join(d, "tiny.image"), "a") as f:
            f.write("debian = no-such-package-sandpit\n")
        r = admin("build", "tiny", cache=c, recipes=d)
        assert r.returncode != 0 and "FAILED at step 1/" in r.stderr, r.stderr
        assert os.readlink(os.path.join(c, "tiny", "current")) == good
        log = open(os.path.join(c, "tiny", "failed.log")).read()
        assert "no-such-package-sandpit" in log, log[-500:]
        assert listing(cache=c, recipes=d)["tiny"] == "stale"
        # nothing half-built is left, nothing stays mounted
        left = [n for n in os.listdir(os.path.join(c, "tiny")) if n.startswith(".build")]
        assert left == [], left
        assert c not in open("/proc/self/mountinfo").read()
        # a smoke test that fails is a failed build too
        with open(os.path.join(d, "tiny.image"), "w") as f:
            f.write("parent = base\ndebian = jq\nsmoke = jq --no-such-flag\n")
        r = admin("build", "tiny", cache=c, recipes=d)
        assert r.returncode != 0 and "FAILED" in r.stderr, r.stderr
        assert os.readlink(os.path.join(c, "tiny", "current")) == good
    finally:
        shutil.rmtree(d)
        shutil.rmtree(c)


@test
def bad_recipes_are_refused_with_file_and_line():
    d, c = scratch()
    cases = {
        "unknown key": "parent = base\nfrobnicate = 1\n",
        "characters its key does not allow": "parent = base\ndebian = jq;touch /x\n",
        "expected 'key = value'": "parent = base\njust words\n",
        "no such image recipe": "parent = nope\n",
        "deeper than": "parent = loop\n",
        "key given twice": "parent = base\nparent = base\n",
        "env wants KEY=VALUE": "parent = base\nenv = lower=case\n",
    }
    try:
        for why, text in cases.items():
            name = "loop" if why == "deeper than" else "bad"
            with open(os.path.join(d, name + ".image"), "w") as f:
                f.write(text)
            r = admin("build", name, cache=c, recipes=d)
            assert r.returncode == 1 and why in r.stderr, (why, r.stderr)
            os.unlink(os.path.join(d, name + ".image"))
        r = admin("build", "../base", cache=c, recipes=d)
        assert r.returncode == 1 and "not an image name" in r.stderr, r.stderr
        assert admin("frobnicate", cache=c, recipes=d).returncode == 2
    finally:
        shutil.rmtree(d)
        shutil.rmtree(c)


def main():
    passed = failed = 0
    for fn in _tests:
        t0 = time.monotonic()
        try:
            fn()
            passed += 1
            print("ok   %s (%.1fs)" % (fn.__name__, time.monotonic() - t0))
        except Exception:
            failed += 1
            print("FAIL %s" % fn.__name__)
            traceback.print_exc(file=sys.stdout)
    print("images: %d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
