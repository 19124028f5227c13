"""The real Healthchecks client (healthchecks-io from PyPI) against tocsin.

Run by tests/healthchecks_api.rs with the venv python that
scripts/testenv.sh makes:

    python tests/healthchecks_client.py BASE_URL API_KEY READ_ONLY_KEY

Every step asserts what Healthchecks would answer; any failure raises (exit
status 1 with a traceback). On success it prints one JSON line with what
the Rust test checks on the daemon's side (uuids, counts).
"""

import json
import sys
import uuid

import httpx
from healthchecks_io import (
    CheckCreate,
    CheckNotFoundError,
    CheckUpdate,
    Client,
    HCAPIAuthError,
)


def main(base: str, key: str, ro_key: str) -> None:
    out = {}
    with Client(api_key=key, api_url=f"{base}/api/", ping_url=f"{base}/ping/", api_version=3) as hc:
        # create: 201, with Healthchecks' fields; its ping_url is tocsin's
        created = hc.create_check(
            CheckCreate(
                name="backup-prod-db1",
                tags="prod vault=v-prod client=db1",
                desc="nightly dump of db1",
                timeout=3600,
                grace=600,
                unique=["name"],
            )
        )
        assert created.status == "new", created
        assert created.uuid and created.ping_url == f"{base}/ping/{created.uuid}", created
        assert created.slug == "backup-prod-db1", created
        assert (created.timeout, created.grace, created.n_pings) == (3600, 600, 0), created
        assert created.tags == "prod vault=v-prod client=db1" and created.desc == "nightly dump of db1"
        assert created.update_url == f"{base}/api/v3/checks/{created.uuid}", created
        out["uuid"] = created.uuid

        # unique: the same check, updated (the client sends every field it
        # has a default for, so desc too)
        again = hc.create_check(
            CheckCreate(
                name="backup-prod-db1",
                tags="prod vault=v-prod client=db1",
                desc="nightly dump of db1, up to 2h",
                timeout=7200,
                grace=600,
                unique=["name"],
            )
        )
        assert again.uuid == created.uuid and again.timeout == 7200, again
        assert again.desc == "nightly dump of db1, up to 2h", again

        # a cron check
        cron = hc.create_check(CheckCreate(name="weekly report", schedule="0 3 * * 1", tz="Europe/Berlin", grace=3600))
        assert cron.slug == "weekly-report" and cron.timeout is None, cron
        raw = hc._client.get(cron.update_url).json()
        assert (raw["schedule"], raw["tz"]) == ("0 3 * * 1", "Europe/Berlin"), raw
        out["cron_uuid"] = cron.uuid

        # update: omitted fields stay
        updated = hc.update_check(cron.uuid, CheckUpdate(desc="every Monday"))
        assert updated.desc == "every Monday" and updated.grace == 3600, updated

        # list, and by tag
        names = {c.name for c in hc.get_checks()}
        assert {"backup-prod-db1", "weekly report", "declared"} <= names, names
        assert [c.name for c in hc.get_checks(tags=["prod"])] == ["backup-prod-db1"]
        assert hc.get_checks(tags=["prod", "nope"]) == []

        # ping by the returned URL, as Healthchecks answers
        r = httpx.get(created.ping_url)
        assert (r.status_code, r.text) == (200, "OK"), r
        rid = str(uuid.uuid4())
        r = httpx.put(f"{created.ping_url}/start/?rid={rid}")
        assert (r.status_code, r.text) == (200, "OK"), r
        assert hc.get_check(created.uuid).status == "started"
        ok, text = hc.success_ping(uuid=created.uuid, data="dump ok")
        assert ok and text == "OK", text
        r = httpx.post(f"{created.ping_url}/3", content=b"disk full")
        assert (r.status_code, r.text) == (200, "OK"), r
        check = hc.get_check(created.uuid)
        assert (check.status, check.n_pings) == ("down", 4), check
        assert check.last_ping is not None and check.next_ping is None, check

        # pings, newest first, with their bodies
        pings = hc.get_check_pings(created.uuid)
        assert [p.type for p in pings] == ["fail", "success", "start", "success"], pings
        assert [p.number_of_pings for p in pings] == [4, 3, 2, 1]
        assert [p.method for p in pings] == ["POST", "POST", "PUT", "GET"]
        assert pings[0].remote_addr == "127.0.0.1" and pings[3].user_agent.startswith("python-httpx")
        raw = hc._client.get(f"{base}/api/v3/checks/{created.uuid}/pings/").json()["pings"]
        assert raw[0]["exitstatus"] == 3, raw[0]
        body = hc._client.get(raw[0]["body_url"])
        assert (body.status_code, body.text) == (200, "disk full"), body
        assert hc._client.get(f"{base}/api/v3/checks/{created.uuid}/pings/1/body").status_code == 404

        # flips: up at the first success, down at the failure
        flips = hc.get_check_flips(created.uuid)
        assert [f.up for f in flips] == [0, 1], flips
        assert hc.get_check_flips(created.uuid, seconds=3600) == flips
        assert hc.get_check_flips(created.uuid, start=4102444800) == []

        # pause and resume (the client has no resume: its session posts to resume_url)
        paused = hc.pause_check(created.uuid)
        assert paused.status == "paused", paused
        r = hc._client.post(f"{base}/api/v3/checks/{created.uuid}/resume")
        assert r.status_code == 200 and r.json()["status"] == "new", r.text
        r = hc._client.post(f"{base}/api/v3/checks/{created.uuid}/resume")
        assert r.status_code == 409, r.text

        # a declared check: listed and pausable, not deleted
        declared = next(c for c in hc.get_checks() if c.name == "declared")
        assert hc.pause_check(declared.uuid).status == "paused"
        try:
            hc.delete_check(declared.uuid)
            raise AssertionError("a declared check was deleted")
        except HCAPIAuthError:
            pass  # 403: the client's word for it
        r = hc._client.delete(declared.update_url)
        assert r.status_code == 403 and "rule file" in r.json()["error"], r.text

        # integrations and badges
        channels = hc.get_integrations()
        assert [(c.name, c.kind) for c in channels] == [("ops-hook", "webhook")], channels
        badges = hc.get_badges()
        assert {"*", "prod", "vault=v-prod"} <= set(badges), badges
        badge = httpx.get(badges["prod"].json_url).json()
        assert badge == {"status": "up", "total": 1, "grace": 0, "down": 0}, badge
        assert httpx.get(badges["*"].svg).headers["content-type"] == "image/svg+xml"

        # delete: the check, then a 404
        deleted = hc.delete_check(cron.uuid)
        assert deleted.uuid == cron.uuid
        try:
            hc.get_check(cron.uuid)
            raise AssertionError("a deleted check was found")
        except CheckNotFoundError:
            pass
        out["checks"] = len(hc.get_checks())

    # a wrong key reads nothing; the read-only key reads without uuids
    with Client(api_key="wrong-key", api_url=f"{base}/api/", api_version=3) as bad:
        try:
            bad.get_checks()
            raise AssertionError("a wrong key listed checks")
        except HCAPIAuthError:
            pass
    with Client(api_key=ro_key, api_url=f"{base}/api/", api_version=3) as ro:
        listed = ro.get_checks()
        assert listed and all(c.uuid is None and c.ping_url is None and c.unique_key for c in listed), listed
        one = next(c for c in listed if c.name == "backup-prod-db1")
        assert ro.get_check(one.unique_key).name == "backup-prod-db1"
        assert ro.get_check_flips(one.unique_key)
        try:
            ro.create_check(CheckCreate(name="sneaky"))
            raise AssertionError("a read-only key created a check")
        except HCAPIAuthError:
            pass
    print(json.dumps(out))


if __name__ == "__main__":
    main(*sys.argv[1:4])
