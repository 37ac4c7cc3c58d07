#!/usr/bin/env python3
"""Sandboxes from templates (issue #13): POST /api/v1/sandbox/create
{template} boots the sandbox's root from the template's image layers (an
overlay whose writable layer is the sandbox's own), records the template,
answers 404 for an unknown template and 409 with the build command for one
that is not built. SANDPIT_IMAGES=on makes a template-less create boot from
`default`; off (the stack's setting) keeps the host-directories root.

Needs python-basic in the shared image cache: tests/images/run.sh builds it
before the integration suites in `make test`."""
import glob
import json
import os
import time

from harness import STATE, SecondApi, check, expect, get, main, new_key, post, psql, test

CACHE = os.environ.get("SANDPIT_IMAGE_CACHE", "/var/cache/sandpit/images")
RECIPES = os.environ.get("SANDPIT_IMAGE_RECIPES", os.path.join(STATE, "etc", "images"))
KEY = new_key()


def create(body, key=KEY):
    return expect(post("/api/v1/sandbox/create", body, key=key), 201)["sandbox_id"]


def run(sid, command, key=KEY):
    return expect(post("/api/v1/sandbox/%s/execute" % sid, {"command": command}, key=key), 200)


def stop(sid, key=KEY):
    expect(post("/api/v1/sandbox/%s/stop" % sid, key=key), 200)


def require_python_basic():
    t = expect(get("/api/v1/templates/python-basic", key=KEY), 200)
    check(t["status"] == "ready",
          "python-basic is %s: tests/images/run.sh builds it first" % t["status"])


def layer_dirs(name):
    """The layer roots of every build of name and of its parents in the cache
    (another checkout's recipes may have built other keys of them)."""
    dirs = []
    while name:
        builds = sorted(glob.glob(os.path.join(CACHE, name, "*", "image.json")))
        check(builds, "no build of %s in %s" % (name, CACHE))
        dirs += [os.path.join(os.path.dirname(b), "root") for b in builds]
        name = json.load(open(builds[0]))["parent"]
    return dirs


def changed_since(dirs, t0_ns):
    """Entries of the layer trees modified or changed at or after t0_ns."""
    hits = []
    for top in dirs:
        for path, subdirs, files in os.walk(top):
            for n in [path] + [os.path.join(path, f) for f in files + subdirs]:
                st = os.lstat(n)
                if st.st_mtime_ns >= t0_ns or st.st_ctime_ns >= t0_ns:
                    hits.append(n)
    return hits


@test
def python_basic_runs_python_and_shows_nothing_of_the_host():
    require_python_basic()
    # what the host has and the image must not show
    for p in ("/usr/bin/gcc", "/etc/caddy", "/usr/lib/postgresql"):
        check(os.path.exists(p), "the host has no %s: this test would prove nothing" % p)
    sid = create({"template": "python-basic", "memory": "256Mi"})
    out = run(sid, "python3 -c 'print(1)'; for p in /usr/bin/gcc /etc/caddy "
                   "/usr/lib/postgresql /etc/sandpit /usr/bin/psql; do [ -e $p ] && "
                   "echo HOST $p; done; stat -c %U /usr/bin/python3.11; id -un; hostname")
    check(out["stdout"] == "1\nroot\nsandbox\n%s\n" % sid, out)
    s = expect(get("/api/v1/sandbox/" + sid, key=KEY), 200)
    check(s["template"] == "python-basic", s)
    check(psql("SELECT template FROM sandboxes WHERE id = '%s'" % sid) == [["python-basic"]])
    stop(sid)
    # the recipes' env lines (base's LANG, python-basic's own), the create's env over them
    sid = create({"template": "python-basic", "memory": "256Mi", "env": {"LANG": "C", "X": "1"}})
    out = run(sid, "echo $PYTHONDONTWRITEBYTECODE $LANG $X")
    check(out["stdout"] == "1 C 1\n", out)
    stop(sid)
    sid = create({"template": "python-basic", "memory": "256Mi"})
    out = run(sid, "echo $PYTHONDONTWRITEBYTECODE $LANG")
    check(out["stdout"] == "1 C.UTF-8\n", out)
    stop(sid)
    # without a template and with SANDPIT_IMAGES off: the host-directories root
    plain = create({"memory": "128Mi"})
    out = run(plain, "test -x /usr/bin/gcc && echo host")
    check(out["stdout"] == "host\n", out)
    check(expect(get("/api/v1/sandbox/" + plain, key=KEY), 200)["template"] is None)
    stop(plain)


@test
def root_writes_stay_in_the_sandbox_and_never_reach_the_layers():
    require_python_basic()
    layers = layer_dirs("python-basic")
    check(len(layers) >= 2, layers)
    t0 = time.time_ns()
    a = create({"template": "python-basic", "memory": "256Mi"})
    b = create({"template": "python-basic", "memory": "256Mi"})
    # /var/tmp is the image's own (1777 in the base layer): a write there
    # is a copy-up into the sandbox's upper layer
    out = run(a, "echo mine > /var/tmp/mine && mkdir /var/tmp/d && cat /var/tmp/mine; "
                 "mv /var/tmp/mine /var/tmp/d/ && ls /var/tmp/d; df --output=fstype / | tail -1")
    check(out["stdout"] == "mine\nmine\noverlay\n", out)
    out = run(b, "ls -A /var/tmp | wc -l")
    check(out["stdout"] == "0\n", "b sees a's writes: %r" % out)
    stop(a)
    c = create({"template": "python-basic", "memory": "256Mi"})
    out = run(c, "ls -A /var/tmp | wc -l")
    check(out["stdout"] == "0\n", "a stopped sandbox's writes outlive it: %r" % out)
    for sid in (b, c):
        stop(sid)
    check(not any(os.path.exists(os.path.join(d, "var/tmp/d")) for d in layers))
    hits = changed_since(layers, t0)
    check(hits == [], "layers changed by sandboxes: %s" % hits[:5])
    mounts = [l for l in open("/proc/self/mountinfo") if CACHE in l]
    check(mounts == [], "image mounts left in the host's namespace: %s" % mounts[:3])


@test
def unknown_templates_are_404_and_unbuilt_ones_409_with_the_build_command():
    before = psql("SELECT count(*) FROM sandboxes")[0][0]
    for name in ("no-such-template", "base", "../etc", "UPPER", "a" * 80):
        r = post("/api/v1/sandbox/create", {"template": name}, key=KEY)
        expect(r, 404, "not_found")
        check(name[:64] in r.json()["error"]["message"], r)
    expect(post("/api/v1/sandbox/create", {"template": 7}, key=KEY), 400)
    # a recipe that has never been built (its own text, so its own key)
    path = os.path.join(RECIPES, "zz-unbuilt-%d.image" % os.getpid())
    name = os.path.basename(path)[:-6]
    with open(path, "w") as f:
        f.write("description = never built\nparent = base\ndebian = hello\n"
                "env = NONCE=%s\n" % time.time_ns())
    try:
        check(expect(get("/api/v1/templates/" + name, key=KEY), 200)["status"] == "not_built")
        r = post("/api/v1/sandbox/create", {"template": name}, key=KEY)
        expect(r, 409, "conflict")
        check("`sandpit-admin images build %s`" % name in r.json()["error"]["message"], r)
    finally:
        os.unlink(path)
    check(psql("SELECT count(*) FROM sandboxes")[0][0] == before, "refused creates left rows")


@test
def images_on_boots_template_less_creates_from_default():
    inst = SecondApi(prefix="images-", SANDPIT_IMAGES="on", SANDPIT_IMAGE_RECIPES=RECIPES,
                     SANDPIT_IMAGE_CACHE=CACHE)
    try:
        ready = expect(get("/api/v1/templates/default", key=KEY), 200)["status"] == "ready"
        r = inst.request("POST", "/api/v1/sandbox/create", {"memory": "256Mi"}, KEY)
        status, body = r.status, r.json()
        if ready:
            check(status == 201, (status, body))
            s = expect(get("/api/v1/sandbox/" + body["sandbox_id"], key=KEY), 200)
            check(s["template"] == "default", s)
            # one name per `command -v`: dash answers for the first name only
            out = run(body["sandbox_id"],
                      "for c in go cargo node python3; do command -v $c; done | wc -l")
            check(out["stdout"] == "4\n", out)
            stop(body["sandbox_id"])
        else:
            check(status == 409 and "`sandpit-admin images build default`"
                  in body["error"]["message"], (status, body))
        # a template given is used whatever the switch says
        r = inst.request("POST", "/api/v1/sandbox/create",
                         {"template": "python-basic", "memory": "256Mi"}, KEY)
        status, body = r.status, r.json()
        check(status == 201, (status, body))
        stop(body["sandbox_id"])
    finally:
        inst.stop()


if __name__ == "__main__":
    main("templates-create")
