"""test_templates.py: GET /api/v1/templates and /templates/:name against the
running stack: the seeds' seven plus default, what the image cache holds for
each (cross-checked with sandpit-admin images list), errors and auth."""
import os
import subprocess

from harness import get, main, new_key, test

KEY = os.environ.get("SANDPIT_API_KEY", "")
SEEDS = {"python-basic", "node-basic", "go-basic", "rust-basic", "python-data-science",
         "node-express-api", "claude-agent"}


def admin_list():
    """{name: state} from the same recipes and cache the API reads."""
    out = subprocess.run([os.path.join(os.environ["SANDPIT_BIN"], "sandpit-admin"), "images",
                          "list"], capture_output=True, text=True, check=True).stdout
    return {l.split()[0]: l.split()[1] for l in out.splitlines() if l.strip()}


@test
def lists_the_seeds_templates_and_default():
    r = get("/api/v1/templates", key=KEY)
    assert r.status == 200, r
    body = r.json()
    names = [t["name"] for t in body["templates"]]
    assert SEEDS | {"default"} <= set(names), names
    assert "base" not in names, "a base layer is not a template"
    assert names == sorted(names) and body["next_cursor"] is None, body
    for t in body["templates"]:
        assert set(t) == {"name", "description", "preinstalled", "status", "size_bytes"}, t
        assert t["status"] in ("ready", "building", "not_built"), t
        assert isinstance(t["preinstalled"], list) and t["description"], t
        assert (t["size_bytes"] is None) == (t["status"] != "ready"), t


@test
def status_follows_the_image_cache():
    states = admin_list()
    for t in get("/api/v1/templates", key=KEY).json()["templates"]:
        want = "ready" if states[t["name"]] == "ready" else None
        if want:
            assert t["status"] == "ready" and t["size_bytes"] > 0, (t, states[t["name"]])
        else:
            assert t["status"] != "ready", (t, states[t["name"]])


@test
def one_template_by_name():
    r = get("/api/v1/templates/python-data-science", key=KEY)
    assert r.status == 200, r
    t = r.json()
    assert t["name"] == "python-data-science", t
    assert {"pandas", "numpy", "matplotlib"} <= set(t["preinstalled"]), t


@test
def unknown_names_are_404_naming_them():
    for name in ("no-such-template", "base", "UPPER", "..%2fetc", "a" * 80):
        r = get("/api/v1/templates/" + name, key=KEY)
        assert r.status == 404, (name, r)
        assert r.json()["error"]["code"] == "not_found", r
    r = get("/api/v1/templates/no-such-template", key=KEY)
    assert "no-such-template" in r.json()["error"]["message"], r


@test
def needs_a_valid_key():
    assert get("/api/v1/templates").status == 401
    assert get("/api/v1/templates", key="sk-sandbox-" + "x" * 43).status == 401
    assert get("/api/v1/templates/default").status == 401


@test
def another_org_sees_the_same_catalogue():
    other = new_key()
    a = get("/api/v1/templates", key=KEY).json()["templates"]
    b = get("/api/v1/templates", key=other).json()["templates"]
    assert [t["name"] for t in a] == [t["name"] for t in b]


if __name__ == "__main__":
    main("templates")
